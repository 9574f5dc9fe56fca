/**
 * What the rest of the server hands to the federation sender. PDUs are not
 * handed over: the sender reads them back from the room event stream from a
 * durable position per destination. EDUs are queued here by the areas that
 * make them (typing, receipts, presence, to-device, device lists).
 */
import type { JsonObject } from "../core/index.js";
import type { SqlQueryable } from "../storage/sql.js";

/** An EDU as it travels in a transaction ("Transactions", server-server API). */
export interface Edu {
  edu_type: string;
  content: JsonObject;
}

export interface FederationOutbound {
  /**
   * Queues `edu` for each destination (never this server). `durable` EDUs
   * (to-device, device list and signing key updates) are persisted before
   * this resolves and survive a restart; others (typing, presence, receipts)
   * may be dropped when a destination is down.
   */
  sendEdu(destinations: readonly string[], edu: Edu, opts?: { durable?: boolean }): Promise<void>;
  /** New room events were persisted: destinations catch up from their positions. */
  wake(): void;
}

/** The server name of a user, room alias or event id sigil-prefixed identifier (`@user:server`). */
export function serverOf(id: string): string {
  return id.slice(id.indexOf(":") + 1);
}

/**
 * Servers with a joined member in the room now, from `room_memberships`
 * (the current state), `self` excluded.
 */
export async function joinedServers(sql: SqlQueryable, roomId: string, self: string): Promise<string[]> {
  // The distinct servers only, through the (room, server) index: a big room's
  // members are not sent over for every receipt or typing notice in it. The
  // expression is `serverOf` in SQL (what follows the first colon).
  const rows = await sql.query<{ server: string }>(
    `SELECT DISTINCT substr(user_id, strpos(user_id, ':') + 1) AS server FROM room_memberships
      WHERE room_id = $1 AND membership = 'join' AND substr(user_id, strpos(user_id, ':') + 1) <> $2`,
    [roomId, self],
  );
  return rows.map((r) => r.server).sort();
}
