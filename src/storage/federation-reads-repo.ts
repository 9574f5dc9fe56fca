import type { Sql } from "./sql.js";

/**
 * Reads behind the server-server endpoints that other servers call: walks
 * over the event graph, auth chains, and which of a server's users are in a
 * room.
 */
export interface GraphNodeRow {
  eventId: string;
  depth: number;
  stream: number;
  prevEvents: string[];
}

/** A user's current membership in a room. */
export interface ServerMemberRow {
  userId: string;
  membership: string;
}

export class FederationReadsRepo {
  constructor(private readonly sql: Sql) {}

  /**
   * The given events of the room that may be walked (neither outliers nor
   * rejected), with their prev_events; others are left out. With `ahead`,
   * also their ancestors down to `ahead` below the shallowest of them (at
   * most `maxRows` events), so a walk needs one read per `ahead` levels
   * instead of one per event.
   */
  async walkNodes(roomId: string, eventIds: readonly string[], ahead = 0, maxRows = 1000): Promise<Map<string, GraphNodeRow>> {
    const out = new Map<string, GraphNodeRow>();
    if (eventIds.length === 0) return out;
    const rows = await this.sql.query<{ event_id: string; depth: number; stream_ordering: number; prev_event_id: string | null }>(
      `WITH RECURSIVE start AS (
         SELECT event_id, depth FROM events WHERE event_id = ANY($2::text[]) AND room_id = $1
       ), floor AS (
         SELECT coalesce(min(depth), 0) - $3::int8 AS d FROM start
       ), walk(event_id) AS (
         SELECT event_id FROM start
         UNION
         SELECT g.prev_event_id FROM walk w
           JOIN event_edges g ON g.event_id = w.event_id
           JOIN events p ON p.event_id = g.prev_event_id AND p.room_id = $1 AND p.depth >= (SELECT d FROM floor)
       ), picked AS (
         SELECT event_id FROM walk LIMIT $4
       )
       SELECT e.event_id, e.depth, e.stream_ordering, g.prev_event_id
         FROM picked k JOIN events e ON e.event_id = k.event_id
         LEFT JOIN event_edges g ON g.event_id = e.event_id
        WHERE NOT e.outlier AND e.rejected_reason IS NULL
        ORDER BY e.event_id, g.prev_event_id`,
      [roomId, eventIds, ahead, maxRows],
    );
    for (const r of rows) {
      let n = out.get(r.event_id);
      if (!n) out.set(r.event_id, (n = { eventId: r.event_id, depth: Number(r.depth), stream: Number(r.stream_ordering), prevEvents: [] }));
      if (r.prev_event_id !== null) n.prevEvents.push(r.prev_event_id);
    }
    return out;
  }

  /**
   * "Auth chain": the auth events of the given events, and theirs,
   * recursively (the given events only where one of them is an auth event of
   * another). Walks the stored auth edges, so it holds for outliers and
   * message events too; rejected events are left out.
   */
  async authChainIds(eventIds: readonly string[]): Promise<string[]> {
    if (eventIds.length === 0) return [];
    const rows = await this.sql.query<{ id: string }>(
      `WITH RECURSIVE chain(id) AS (
         SELECT auth_event_id FROM event_auth_edges WHERE event_id = ANY($1::text[])
         UNION
         SELECT a.auth_event_id FROM event_auth_edges a JOIN chain c ON a.event_id = c.id
       )
       SELECT c.id FROM chain c JOIN events e ON e.event_id = c.id WHERE e.rejected_reason IS NULL ORDER BY c.id`,
      [eventIds],
    );
    return rows.map((r) => r.id);
  }

  /** The current memberships (any kind) of `serverName`'s users in the room. */
  async serverMembers(roomId: string, serverName: string): Promise<ServerMemberRow[]> {
    // A user id's localpart has no colon, so its server name is what follows the first one
    // (the expression of the index room_memberships_server, migration 0170).
    const rows = await this.sql.query<{ user_id: string; membership: string }>(
      `SELECT user_id, membership FROM room_memberships
        WHERE room_id = $1 AND substr(user_id, strpos(user_id, ':') + 1) = $2 ORDER BY user_id`,
      [roomId, serverName],
    );
    return rows.map((r) => ({ userId: r.user_id, membership: r.membership }));
  }
}
