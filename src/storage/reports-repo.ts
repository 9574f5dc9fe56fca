import type { Sql } from "./sql.js";

export interface ContentReport {
  id: number;
  kind: "event" | "room" | "user";
  reporter: string;
  roomId: string | null;
  eventId: string | null;
  targetUserId: string | null;
  reason: string | null;
  receivedTs: number;
}

interface RawReport extends Record<string, unknown> {
  id: number;
  kind: "event" | "room" | "user";
  reporter: string;
  room_id: string | null;
  event_id: string | null;
  target_user_id: string | null;
  reason: string | null;
  received_ts: number;
}

function toReport(r: RawReport): ContentReport {
  return {
    id: Number(r.id),
    kind: r.kind,
    reporter: r.reporter,
    roomId: r.room_id,
    eventId: r.event_id,
    targetUserId: r.target_user_id,
    reason: r.reason,
    receivedTs: Number(r.received_ts),
  };
}

/** Content reports (events, rooms, users) for server admins. */
export class ReportsRepo {
  constructor(private readonly sql: Sql) {}

  async insert(r: Omit<ContentReport, "id">): Promise<number> {
    const [row] = await this.sql.query<{ id: number }>(
      `INSERT INTO content_reports (kind, reporter, room_id, event_id, target_user_id, reason, received_ts)
       VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
      [r.kind, r.reporter, r.roomId, r.eventId, r.targetUserId, r.reason, r.receivedTs],
    );
    return Number(row!.id);
  }

  /** Newest first (`dir: "f"`: oldest first), optionally of one room or by one reporter. */
  async list(
    from: number,
    limit: number,
    filter: { dir?: "b" | "f"; roomId?: string; reporter?: string } = {},
  ): Promise<{ reports: ContentReport[]; total: number }> {
    const order = filter.dir === "f" ? "ASC" : "DESC";
    const where = "($3::text IS NULL OR room_id = $3) AND ($4::text IS NULL OR reporter = $4)";
    const rows = await this.sql.query<RawReport>(
      `SELECT id, kind, reporter, room_id, event_id, target_user_id, reason, received_ts
         FROM content_reports WHERE ${where} ORDER BY received_ts ${order}, id ${order} LIMIT $1 OFFSET $2`,
      [limit, from, filter.roomId ?? null, filter.reporter ?? null],
    );
    const [count] = await this.sql.query<{ n: number }>(
      "SELECT count(*)::int8 AS n FROM content_reports WHERE ($1::text IS NULL OR room_id = $1) AND ($2::text IS NULL OR reporter = $2)",
      [filter.roomId ?? null, filter.reporter ?? null],
    );
    return { reports: rows.map(toReport), total: Number(count?.n ?? 0) };
  }

  async get(id: number): Promise<ContentReport | undefined> {
    const [row] = await this.sql.query<RawReport>(
      "SELECT id, kind, reporter, room_id, event_id, target_user_id, reason, received_ts FROM content_reports WHERE id = $1",
      [id],
    );
    return row ? toReport(row) : undefined;
  }

  async delete(id: number): Promise<boolean> {
    return (await this.sql.query("DELETE FROM content_reports WHERE id = $1 RETURNING id", [id])).length > 0;
  }
}
