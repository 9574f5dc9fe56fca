import type { Sql, SqlQueryable } from "./sql.js";

export interface AuditEntry {
  id: number;
  ts: number;
  adminUserId: string;
  action: string;
  target: Record<string, string>;
  status: number;
}

export type DeletionStatus = "scheduled" | "shutting_down" | "purging" | "complete" | "failed";

export interface RoomDeletionRow {
  deleteId: string;
  roomId: string;
  requester: string;
  status: DeletionStatus;
  params: Record<string, unknown>;
  result: Record<string, unknown>;
  error: string | null;
  createdTs: number;
  updatedTs: number;
}

export interface UserRedactionRow {
  redactId: string;
  userId: string;
  requester: string;
  status: "scheduled" | "active" | "complete" | "failed";
  failed: Record<string, string>;
  createdTs: number;
}

const num = (v: unknown): number => Number(v);

function deletionRow(r: Record<string, unknown>): RoomDeletionRow {
  return {
    deleteId: r.delete_id as string,
    roomId: r.room_id as string,
    requester: r.requester as string,
    status: r.status as DeletionStatus,
    params: r.params as Record<string, unknown>,
    result: r.result as Record<string, unknown>,
    error: (r.error as string | null) ?? null,
    createdTs: num(r.created_ts),
    updatedTs: num(r.updated_ts),
  };
}

/** Server administration state: audit log, blocked rooms, jobs, shadow bans, overrides, notice rooms. */
export class AdminRepo {
  constructor(private readonly sql: Sql) {}

  // --- audit log ---

  async audit(e: Omit<AuditEntry, "id">): Promise<void> {
    await this.sql.query("INSERT INTO admin_audit_log (ts, admin_user_id, action, target, status) VALUES ($1, $2, $3, $4::jsonb, $5)", [
      e.ts,
      e.adminUserId,
      e.action,
      JSON.stringify(e.target),
      e.status,
    ]);
  }

  /** Newest first; `adminUserId` narrows to one admin. */
  async listAudit(opts: { from: number; limit: number; adminUserId?: string }): Promise<{ entries: AuditEntry[]; total: number }> {
    const who = opts.adminUserId ?? null;
    const rows = await this.sql.query(
      `SELECT id, ts, admin_user_id, action, target, status FROM admin_audit_log
        WHERE ($1::text IS NULL OR admin_user_id = $1) ORDER BY id DESC OFFSET $2 LIMIT $3`,
      [who, opts.from, opts.limit],
    );
    const [count] = await this.sql.query<{ n: number }>("SELECT count(*)::int8 AS n FROM admin_audit_log WHERE ($1::text IS NULL OR admin_user_id = $1)", [
      who,
    ]);
    return {
      entries: rows.map((r) => ({
        id: num(r.id),
        ts: num(r.ts),
        adminUserId: r.admin_user_id as string,
        action: r.action as string,
        target: r.target as Record<string, string>,
        status: num(r.status),
      })),
      total: num(count?.n ?? 0),
    };
  }

  /** How far each outbound destination is behind `head` in the room-event stream. */
  async deliveryLag(head: number): Promise<Array<{ kind: string; destination: string; lag: number }>> {
    const rows = await this.sql.query<{ kind: string; destination: string; lag: number }>(
      "SELECT kind, destination, greatest(0, $1::int8 - stream_pos) AS lag FROM delivery_positions ORDER BY kind, destination",
      [head],
    );
    return rows.map((r) => ({ kind: r.kind, destination: r.destination, lag: Number(r.lag) }));
  }

  // --- blocked rooms ---

  async blockRoom(roomId: string, userId: string, ts: number, q: SqlQueryable = this.sql): Promise<void> {
    await q.query("INSERT INTO blocked_rooms (room_id, user_id, blocked_ts) VALUES ($1, $2, $3) ON CONFLICT (room_id) DO NOTHING", [roomId, userId, ts]);
  }

  async unblockRoom(roomId: string): Promise<void> {
    await this.sql.query("DELETE FROM blocked_rooms WHERE room_id = $1", [roomId]);
  }

  async roomBlock(roomId: string): Promise<{ userId: string } | undefined> {
    const [row] = await this.sql.query<{ user_id: string }>("SELECT user_id FROM blocked_rooms WHERE room_id = $1", [roomId]);
    return row ? { userId: row.user_id } : undefined;
  }

  // --- room deletion jobs ---

  async insertDeletion(row: Omit<RoomDeletionRow, "result" | "error" | "updatedTs">): Promise<void> {
    await this.sql.query(
      `INSERT INTO admin_room_deletions (delete_id, room_id, requester, status, params, created_ts, updated_ts)
       VALUES ($1, $2, $3, $4, $5::jsonb, $6, $6)`,
      [row.deleteId, row.roomId, row.requester, row.status, JSON.stringify(row.params), row.createdTs],
    );
  }

  async updateDeletion(deleteId: string, status: DeletionStatus, ts: number, result?: Record<string, unknown>, error?: string): Promise<void> {
    await this.sql.query(
      `UPDATE admin_room_deletions SET status = $2, updated_ts = $3, result = coalesce($4::jsonb, result), error = coalesce($5, error)
        WHERE delete_id = $1`,
      [deleteId, status, ts, result === undefined ? null : JSON.stringify(result), error ?? null],
    );
  }

  async getDeletion(deleteId: string): Promise<RoomDeletionRow | undefined> {
    const [row] = await this.sql.query("SELECT * FROM admin_room_deletions WHERE delete_id = $1", [deleteId]);
    return row ? deletionRow(row) : undefined;
  }

  async deletionsOfRoom(roomId: string): Promise<RoomDeletionRow[]> {
    const rows = await this.sql.query("SELECT * FROM admin_room_deletions WHERE room_id = $1 ORDER BY created_ts, delete_id", [roomId]);
    return rows.map(deletionRow);
  }

  /** Jobs a restart interrupted. */
  async unfinishedDeletions(): Promise<RoomDeletionRow[]> {
    const rows = await this.sql.query("SELECT * FROM admin_room_deletions WHERE status NOT IN ('complete', 'failed') ORDER BY created_ts");
    return rows.map(deletionRow);
  }

  // --- shadow bans and rate-limit overrides ---

  async setShadowBanned(userId: string, banned: boolean): Promise<void> {
    await this.sql.query("UPDATE users SET shadow_banned = $2 WHERE user_id = $1", [userId, banned]);
  }

  async isShadowBanned(userId: string): Promise<boolean> {
    const [row] = await this.sql.query<{ shadow_banned: boolean }>("SELECT shadow_banned FROM users WHERE user_id = $1", [userId]);
    return row?.shadow_banned === true;
  }

  async shadowBannedUsers(): Promise<Set<string>> {
    const rows = await this.sql.query<{ user_id: string }>("SELECT user_id FROM users WHERE shadow_banned");
    return new Set(rows.map((r) => r.user_id));
  }

  async getRatelimit(userId: string): Promise<{ messagesPerSecond: number; burstCount: number } | undefined> {
    const [row] = await this.sql.query("SELECT messages_per_second, burst_count FROM ratelimit_overrides WHERE user_id = $1", [userId]);
    return row ? { messagesPerSecond: num(row.messages_per_second), burstCount: num(row.burst_count) } : undefined;
  }

  async allRatelimits(): Promise<Map<string, { messagesPerSecond: number; burstCount: number }>> {
    const rows = await this.sql.query("SELECT user_id, messages_per_second, burst_count FROM ratelimit_overrides");
    return new Map(rows.map((r) => [r.user_id as string, { messagesPerSecond: num(r.messages_per_second), burstCount: num(r.burst_count) }]));
  }

  async setRatelimit(userId: string, messagesPerSecond: number, burstCount: number): Promise<void> {
    await this.sql.query(
      `INSERT INTO ratelimit_overrides (user_id, messages_per_second, burst_count) VALUES ($1, $2, $3)
       ON CONFLICT (user_id) DO UPDATE SET messages_per_second = $2, burst_count = $3`,
      [userId, messagesPerSecond, burstCount],
    );
  }

  async deleteRatelimit(userId: string): Promise<void> {
    await this.sql.query("DELETE FROM ratelimit_overrides WHERE user_id = $1", [userId]);
  }

  // --- user redaction jobs ---

  async insertRedaction(row: Omit<UserRedactionRow, "failed">): Promise<void> {
    await this.sql.query("INSERT INTO admin_user_redactions (redact_id, user_id, requester, status, created_ts) VALUES ($1, $2, $3, $4, $5)", [
      row.redactId,
      row.userId,
      row.requester,
      row.status,
      row.createdTs,
    ]);
  }

  async updateRedaction(redactId: string, status: UserRedactionRow["status"], failed: Record<string, string>): Promise<void> {
    await this.sql.query("UPDATE admin_user_redactions SET status = $2, failed = $3::jsonb WHERE redact_id = $1", [redactId, status, JSON.stringify(failed)]);
  }

  async getRedaction(redactId: string): Promise<UserRedactionRow | undefined> {
    const [r] = await this.sql.query("SELECT * FROM admin_user_redactions WHERE redact_id = $1", [redactId]);
    if (!r) return undefined;
    return {
      redactId: r.redact_id as string,
      userId: r.user_id as string,
      requester: r.requester as string,
      status: r.status as UserRedactionRow["status"],
      failed: r.failed as Record<string, string>,
      createdTs: num(r.created_ts),
    };
  }

  // --- server notices ---

  async noticeRoom(userId: string): Promise<string | undefined> {
    const [row] = await this.sql.query<{ room_id: string }>("SELECT room_id FROM server_notice_rooms WHERE user_id = $1", [userId]);
    return row?.room_id;
  }

  async setNoticeRoom(userId: string, roomId: string): Promise<void> {
    await this.sql.query("INSERT INTO server_notice_rooms (user_id, room_id) VALUES ($1, $2) ON CONFLICT (user_id) DO UPDATE SET room_id = $2", [
      userId,
      roomId,
    ]);
  }

  async forgetNoticeRoom(roomId: string): Promise<void> {
    await this.sql.query("DELETE FROM server_notice_rooms WHERE room_id = $1", [roomId]);
  }
}
