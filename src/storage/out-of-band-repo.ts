import type { JsonObject } from "../core/index.js";
import type { SqlQueryable } from "./sql.js";

/**
 * Memberships of local users in rooms this server is not in (remote invites,
 * rejected invites, knocks): the membership row, its entry in the membership
 * delta stream, and the stripped state sent with it (migration 0175).
 */
export class OutOfBandRepo {
  constructor(private readonly sql: SqlQueryable) {}

  /** The user's membership in `roomId` changes to the event at live position `streamOrdering`. */
  async recordMembership(q: SqlQueryable, m: { roomId: string; userId: string; membership: string; eventId: string; streamOrdering: number }): Promise<void> {
    await q.query(
      `WITH mem AS (
         INSERT INTO room_memberships (room_id, user_id, membership, event_id, stream_ordering, forgotten)
         VALUES ($1, $2, $3, $4, $5, false)
         ON CONFLICT (room_id, user_id) DO UPDATE SET membership = EXCLUDED.membership, event_id = EXCLUDED.event_id,
           stream_ordering = EXCLUDED.stream_ordering, forgotten = false
       )
       INSERT INTO current_membership_delta (stream_ordering, room_id, user_id, event_id, membership)
       VALUES ($5, $1, $2, $4, $3) ON CONFLICT DO NOTHING`,
      [m.roomId, m.userId, m.membership, m.eventId, m.streamOrdering],
    );
  }

  async putStrippedState(q: SqlQueryable, eventId: string, roomId: string, events: readonly JsonObject[]): Promise<void> {
    await q.query(
      `INSERT INTO room_stripped_state (event_id, room_id, events) VALUES ($1, $2, $3::jsonb)
       ON CONFLICT (event_id) DO UPDATE SET events = EXCLUDED.events`,
      [eventId, roomId, JSON.stringify(events)],
    );
  }

  async strippedState(eventId: string): Promise<JsonObject[] | undefined> {
    const rows = await this.sql.query<{ events: JsonObject[] }>("SELECT events FROM room_stripped_state WHERE event_id = $1", [eventId]);
    return rows[0]?.events;
  }
}
