import type { StreamEventRef } from "./delivery-repo.js";
import { SERVED_SQL } from "./events-repo.js";
import type { SqlQueryable } from "./sql.js";

/**
 * What the federation sender reads and keeps: durable EDUs per destination
 * (migration 0180), which servers' users were joined in a room at a stream
 * position (from `room_memberships` and the membership delta stream), and a
 * room's newest local events for catch-up.
 */

export interface StoredEdu {
  id: number;
  eduType: string;
  content: Record<string, unknown>;
  createdTs: number;
}

export interface MembershipChange {
  streamOrdering: number;
  userId: string;
  membership: string | null;
}

/** The server of a user id column: what follows its first colon. */
const SERVER_OF = (column: string) => `substr(${column}, strpos(${column}, ':') + 1)`;

export class FederationSenderRepo {
  constructor(private readonly sql: SqlQueryable) {}

  async insertEdus(destinations: readonly string[], eduType: string, content: Record<string, unknown>, now: number): Promise<void> {
    if (destinations.length === 0) return;
    await this.sql.query(
      `INSERT INTO federation_outbound_edus (destination, edu_type, content, created_ts)
       SELECT d, $2, $3::jsonb, $4 FROM unnest($1::text[]) AS d`,
      [destinations, eduType, JSON.stringify(content), now],
    );
  }

  /** The oldest durable EDUs still owed to `destination`. */
  async edusFor(destination: string, limit: number): Promise<StoredEdu[]> {
    const rows = await this.sql.query<{ id: number; edu_type: string; content: Record<string, unknown>; created_ts: number }>(
      "SELECT id, edu_type, content, created_ts FROM federation_outbound_edus WHERE destination = $1 ORDER BY id LIMIT $2",
      [destination, limit],
    );
    return rows.map((r) => ({ id: Number(r.id), eduType: r.edu_type, content: r.content, createdTs: Number(r.created_ts) }));
  }

  /** Stored EDUs of the given types queued before `before`, for every destination (stale typing, receipts, presence). */
  async dropStaleEdus(types: readonly string[], before: number): Promise<void> {
    await this.sql.query("DELETE FROM federation_outbound_edus WHERE edu_type = ANY($1::text[]) AND created_ts < $2", [types, before]);
  }

  async deleteEdus(destination: string, ids: readonly number[]): Promise<void> {
    if (ids.length === 0) return;
    await this.sql.query("DELETE FROM federation_outbound_edus WHERE destination = $1 AND id = ANY($2::int8[])", [destination, ids]);
  }

  async hasEdus(destination: string): Promise<boolean> {
    const rows = await this.sql.query("SELECT 1 FROM federation_outbound_edus WHERE destination = $1 LIMIT 1", [destination]);
    return rows.length > 0;
  }

  /** Destinations of `kind` with a delivery position. */
  async destinations(kind: string): Promise<string[]> {
    const rows = await this.sql.query<{ destination: string }>("SELECT destination FROM delivery_positions WHERE kind = $1", [kind]);
    return rows.map((r) => r.destination);
  }

  async destinationsWithEdus(): Promise<string[]> {
    const rows = await this.sql.query<{ destination: string }>("SELECT DISTINCT destination FROM federation_outbound_edus");
    return rows.map((r) => r.destination);
  }

  /**
   * Every other server with a joined user in some room now, with the lowest
   * stream position of those joins (where its sending starts when it has no
   * position yet).
   */
  async joinedServers(self: string): Promise<Map<string, number>> {
    const rows = await this.sql.query<{ server: string; pos: number }>(
      `SELECT ${SERVER_OF("user_id")} AS server, min(stream_ordering) AS pos
       FROM room_memberships WHERE membership = 'join' GROUP BY 1`,
    );
    const out = new Map<string, number>();
    for (const r of rows) if (r.server !== self) out.set(r.server, Math.max(0, Number(r.pos)));
    return out;
  }

  /** Servers with any membership row in the room (joined or not): only they can be sent its events. */
  async serversInRoom(roomId: string): Promise<Set<string>> {
    const rows = await this.sql.query<{ server: string }>(`SELECT DISTINCT ${SERVER_OF("user_id")} AS server FROM room_memberships WHERE room_id = $1`, [
      roomId,
    ]);
    return new Set(rows.map((r) => r.server));
  }

  /** Joined users of `server` in the room's current state. */
  async joinedUsersOf(roomId: string, server: string): Promise<string[]> {
    const rows = await this.sql.query<{ user_id: string }>(
      // The expression of the index room_memberships_server.
      `SELECT user_id FROM room_memberships WHERE room_id = $1 AND ${SERVER_OF("user_id")} = $2 AND membership = 'join'`,
      [roomId, server],
    );
    return rows.map((r) => r.user_id);
  }

  /** Changes to the current membership of `server`'s users in the room at positions >= `from`, oldest first. */
  async changesFrom(roomId: string, server: string, from: number): Promise<MembershipChange[]> {
    const rows = await this.sql.query<{ stream_ordering: number; user_id: string; membership: string | null }>(
      `SELECT stream_ordering, user_id, membership FROM current_membership_delta
       WHERE room_id = $1 AND stream_ordering >= $2 AND ${SERVER_OF("user_id")} = $3 ORDER BY stream_ordering`,
      [roomId, from, server],
    );
    return rows.map((r) => ({ streamOrdering: Number(r.stream_ordering), userId: r.user_id, membership: r.membership }));
  }

  /** The current membership of each user right before position `before` (users without one are absent). */
  async membershipsBefore(roomId: string, userIds: readonly string[], before: number): Promise<Map<string, string | null>> {
    if (userIds.length === 0) return new Map();
    const rows = await this.sql.query<{ user_id: string; membership: string | null }>(
      `SELECT DISTINCT ON (user_id) user_id, membership FROM current_membership_delta
       WHERE room_id = $1 AND user_id = ANY($2::text[]) AND stream_ordering < $3
       ORDER BY user_id, stream_ordering DESC`,
      [roomId, userIds, before],
    );
    return new Map(rows.map((r) => [r.user_id, r.membership]));
  }

  /** The newest live events sent by users of `self` in the room with positions in [from, upTo], newest first. */
  async newestLocalEvents(roomId: string, self: string, from: number, upTo: number, limit: number): Promise<StreamEventRef[]> {
    const rows = await this.sql.query<{ stream_ordering: number; event_id: string; room_id: string; type: string; state_key: string | null; sender: string }>(
      `SELECT stream_ordering, event_id, room_id, type, state_key, sender FROM events
       WHERE room_id = $1 AND stream_ordering >= GREATEST($2::int8, 1) AND stream_ordering <= $3
         AND ${SERVER_OF("sender")} = $4 AND ${SERVED_SQL}
       ORDER BY stream_ordering DESC LIMIT $5`,
      [roomId, from, upTo, self, limit],
    );
    return rows.map((r) => ({
      streamOrdering: Number(r.stream_ordering),
      eventId: r.event_id,
      roomId: r.room_id,
      type: r.type,
      stateKey: r.state_key,
      sender: r.sender,
    }));
  }
}
