import type { Sql } from "./sql.js";

export interface UnreadEventRow {
  room_id: string;
  event_id: string;
  stream_ordering: number;
  pdu: string;
}

export interface RoomPushStateRow {
  type: string;
  event_id: string;
  pdu: string;
}

/**
 * Reads for unread notification counts ("Receiving notifications"): the
 * events after a user's latest read receipt, and the room state push rule
 * conditions look at. Read-only over the rooms and receipts tables.
 */
export class NotificationCountsRepo {
  constructor(private readonly sql: Sql) {}

  /**
   * Per room, the events after the user's most advanced `m.read`/`m.read.private`
   * receipt (any thread), newest first, at most `limit` per room, in one
   * query. Rejected, redacted and outlier events never notify.
   */
  async eventsAfterReceipt(roomIds: readonly string[], userId: string, upto: number, limit: number): Promise<UnreadEventRow[]> {
    if (roomIds.length === 0) return [];
    return this.sql.query<UnreadEventRow & Record<string, unknown>>(
      `SELECT x.room_id, e.event_id, e.stream_ordering, e.pdu FROM unnest($1::text[]) AS x(room_id)
        CROSS JOIN LATERAL (
          SELECT ev.event_id, ev.stream_ordering, ev.pdu FROM events ev
           WHERE ev.room_id = x.room_id AND ev.stream_ordering <= $3 AND NOT ev.outlier
             AND ev.rejected_reason IS NULL AND NOT ev.soft_failed AND ev.redacted_by IS NULL
             AND ev.stream_ordering > coalesce((
               SELECT max(re.stream_ordering) FROM receipts r JOIN events re ON re.event_id = r.event_id
                WHERE r.room_id = x.room_id AND r.user_id = $2 AND r.receipt_type IN ('m.read', 'm.read.private')), 0)
           ORDER BY ev.stream_ordering DESC LIMIT $4) e
        ORDER BY x.room_id, e.stream_ordering DESC`,
      [roomIds, userId, upto, limit],
    );
  }

  /**
   * GET /notifications: the latest events of others in the rooms the user is
   * joined to, before stream position `before`, newest first, each with
   * whether the user's read receipt in that room covers it.
   */
  async recentEventsOfOthers(userId: string, before: number, limit: number): Promise<Array<UnreadEventRow & { read: boolean }>> {
    const rows = await this.sql.query<UnreadEventRow & { read: boolean } & Record<string, unknown>>(
      `SELECT ev.room_id, ev.event_id, ev.stream_ordering, ev.pdu,
              ev.stream_ordering <= coalesce((
                SELECT max(re.stream_ordering) FROM receipts r JOIN events re ON re.event_id = r.event_id
                 WHERE r.room_id = ev.room_id AND r.user_id = $1 AND r.receipt_type IN ('m.read', 'm.read.private')), 0) AS read
         FROM events ev JOIN room_memberships m ON m.room_id = ev.room_id AND m.user_id = $1 AND m.membership = 'join'
        WHERE ev.stream_ordering < $2 AND ev.sender <> $1 AND NOT ev.outlier AND ev.rejected_reason IS NULL AND ev.redacted_by IS NULL
        ORDER BY ev.stream_ordering DESC LIMIT $3`,
      [userId, before, limit],
    );
    return rows.map((r) => ({ ...r, stream_ordering: Number(r.stream_ordering), read: r.read === true }));
  }

  /** Current m.room.create, m.room.power_levels and the user's own m.room.member. */
  async pushState(roomId: string, userId: string): Promise<RoomPushStateRow[]> {
    return this.sql.query<RoomPushStateRow & Record<string, unknown>>(
      `SELECT cs.type, cs.event_id, e.pdu FROM current_state cs JOIN events e ON e.event_id = cs.event_id
        WHERE cs.room_id = $1 AND ((cs.type IN ('m.room.create', 'm.room.power_levels') AND cs.state_key = '')
          OR (cs.type = 'm.room.member' AND cs.state_key = $2))`,
      [roomId, userId],
    );
  }

  async joinedCount(roomId: string): Promise<number> {
    const rows = await this.sql.query<{ n: number }>("SELECT count(*)::int8 AS n FROM room_memberships WHERE room_id = $1 AND membership = 'join'", [roomId]);
    return Number(rows[0]?.n ?? 0);
  }
}
