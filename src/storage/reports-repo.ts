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

  /** Newest first. */
  async list(from: number, limit: number): Promise<{ reports: ContentReport[]; total: number }> {
    const rows = await this.sql.query<RawReport>(
      `SELECT id, kind, reporter, room_id, event_id, target_user_id, reason, received_ts
         FROM content_reports ORDER BY received_ts DESC, id DESC LIMIT $1 OFFSET $2`,
      [limit, from],
    );
    const [count] = await this.sql.query<{ n: number }>("SELECT count(*)::int8 AS n FROM content_reports");
    return {
      reports: rows.map((r) => ({
        id: Number(r.id),
        kind: r.kind,
        reporter: r.reporter,
        roomId: r.room_id,
        eventId: r.event_id,
        targetUserId: r.target_user_id,
        reason: r.reason,
        receivedTs: Number(r.received_ts),
      })),
      total: Number(count?.n ?? 0),
    };
  }
}
