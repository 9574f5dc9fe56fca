import type { Sql } from "./sql.js";

/**
 * What application-service delivery reads to decide interest: who is joined
 * to a room, a room's aliases, receipts since a position.
 */
export class AppServiceRepo {
  constructor(private readonly sql: Sql) {}

  async joinedMembers(roomIds: readonly string[]): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>();
    if (roomIds.length === 0) return out;
    const rows = await this.sql.query<{ room_id: string; user_id: string }>(
      "SELECT room_id, user_id FROM room_memberships WHERE room_id = ANY($1::text[]) AND membership = 'join'",
      [roomIds],
    );
    for (const r of rows) {
      let list = out.get(r.room_id);
      if (!list) out.set(r.room_id, (list = []));
      list.push(r.user_id);
    }
    return out;
  }

  /** Local aliases of the rooms, and the event ids of their current m.room.canonical_alias. */
  async aliasSources(roomIds: readonly string[]): Promise<{ aliases: Map<string, string[]>; canonicalEventIds: Map<string, string> }> {
    const aliases = new Map<string, string[]>();
    const canonicalEventIds = new Map<string, string>();
    if (roomIds.length === 0) return { aliases, canonicalEventIds };
    const rows = await this.sql.query<{ room_id: string; alias: string | null; event_id: string | null }>(
      `SELECT room_id, alias, NULL AS event_id FROM room_aliases WHERE room_id = ANY($1::text[])
       UNION ALL
       SELECT room_id, NULL, event_id FROM current_state
       WHERE room_id = ANY($1::text[]) AND type = 'm.room.canonical_alias' AND state_key = ''`,
      [roomIds],
    );
    for (const r of rows) {
      if (r.alias !== null) {
        let list = aliases.get(r.room_id);
        if (!list) aliases.set(r.room_id, (list = []));
        list.push(r.alias);
      } else if (r.event_id !== null) canonicalEventIds.set(r.room_id, r.event_id);
    }
    return { aliases, canonicalEventIds };
  }

  /**
   * Those of `userIds` who share a joined room with the appservice's sender or
   * one of the users it registered.
   */
  async sharingRoomWithAppService(userIds: readonly string[], appServiceId: string, senderUserId: string): Promise<Set<string>> {
    if (userIds.length === 0) return new Set();
    const rows = await this.sql.query<{ user_id: string }>(
      `SELECT DISTINCT a.user_id FROM room_memberships a
       JOIN room_memberships b ON b.room_id = a.room_id AND b.membership = 'join'
       WHERE a.user_id = ANY($1::text[]) AND a.membership = 'join'
         AND (b.user_id = $3 OR b.user_id IN (SELECT user_id FROM users WHERE appservice_id = $2))`,
      [userIds, appServiceId, senderUserId],
    );
    return new Set(rows.map((r) => r.user_id));
  }

  /** To-device messages for the appservice's users in (since, upTo], in stream order. */
  async toDeviceAfter(
    appServiceId: string,
    senderUserId: string,
    since: number,
    upTo: number,
    limit: number,
  ): Promise<Array<{ user_id: string; device_id: string; stream_pos: number; sender: string; type: string; content: string }>> {
    return this.sql.query(
      `SELECT user_id, device_id, stream_pos, sender, type, content FROM to_device_messages
       WHERE stream_pos > $1 AND stream_pos <= $2
         AND (user_id = $4 OR user_id IN (SELECT user_id FROM users WHERE appservice_id = $3))
       ORDER BY stream_pos, user_id, device_id LIMIT $5`,
      [since, upTo, appServiceId, senderUserId, limit],
    );
  }

  /** Drops the appservice users' to-device messages up to `upTo` once they were delivered in a transaction. */
  async deleteToDeviceUpTo(appServiceId: string, senderUserId: string, upTo: number): Promise<void> {
    await this.sql.query(
      `DELETE FROM to_device_messages WHERE stream_pos <= $1
         AND (user_id = $3 OR user_id IN (SELECT user_id FROM users WHERE appservice_id = $2))`,
      [upTo, appServiceId, senderUserId],
    );
  }

  async receiptsAfter(
    since: number,
    upTo: number,
    limit: number,
  ): Promise<Array<{ room_id: string; receipt_type: string; user_id: string; thread_id: string; event_id: string; ts: number; stream_id: number }>> {
    return this.sql.query(
      `SELECT room_id, receipt_type, user_id, thread_id, event_id, ts, stream_id FROM receipts
       WHERE stream_id > $1 AND stream_id <= $2 ORDER BY stream_id LIMIT $3`,
      [since, upTo, limit],
    );
  }
}
