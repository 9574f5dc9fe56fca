import type { JsonObject } from "../core/index.js";
import { SERVED_SQL } from "./events-repo.js";
import type { Sql } from "./sql.js";

export interface SlidingPositionRow {
  id: number;
  userId: string;
  deviceId: string;
  connId: string;
  token: string;
  state: JsonObject;
}

export interface RoomActivity {
  roomId: string;
  /** Stream position of the room's last live event at or before the bound. */
  streamOrdering: number;
  /** The room's state group at that position (current state once that event was persisted). */
  stateAfter: number | null;
  depth: number;
}

/**
 * Simplified sliding sync (MSC4186): the connections' positions, and the
 * per-room reads a room list needs (last activity, bump stamps), one indexed
 * lookup per room through `events_room_stream`.
 */
export class SlidingSyncRepo {
  constructor(private readonly sql: Sql) {}

  async insertPosition(userId: string, deviceId: string, connId: string, token: string, state: JsonObject, now: number): Promise<number> {
    const rows = await this.sql.query<{ id: number }>(
      "INSERT INTO sliding_sync_positions (user_id, device_id, conn_id, token, state, created_ts) VALUES ($1, $2, $3, $4, $5::jsonb, $6) RETURNING id",
      [userId, deviceId, connId, token, JSON.stringify(state), now],
    );
    return Number(rows[0]!.id);
  }

  async position(id: number): Promise<SlidingPositionRow | undefined> {
    const rows = await this.sql.query<{ id: number; user_id: string; device_id: string; conn_id: string; token: string; state: JsonObject | string }>(
      "SELECT id, user_id, device_id, conn_id, token, state FROM sliding_sync_positions WHERE id = $1",
      [id],
    );
    const r = rows[0];
    if (!r) return undefined;
    const state = typeof r.state === "string" ? (JSON.parse(r.state) as JsonObject) : r.state;
    return { id: Number(r.id), userId: r.user_id, deviceId: r.device_id, connId: r.conn_id, token: r.token, state };
  }

  /** Drops a connection's positions older than `keepFrom` (all of them when undefined). */
  async prune(userId: string, deviceId: string, connId: string, keepFrom?: number): Promise<void> {
    await this.sql.query("DELETE FROM sliding_sync_positions WHERE user_id = $1 AND device_id = $2 AND conn_id = $3 AND id < $4", [
      userId,
      deviceId,
      connId,
      keepFrom ?? Number.MAX_SAFE_INTEGER,
    ]);
  }

  /** Connections of a device beyond the newest `keep`, oldest first, are dropped. */
  async pruneConnections(userId: string, deviceId: string, keep: number): Promise<void> {
    await this.sql.query(
      `DELETE FROM sliding_sync_positions WHERE user_id = $1 AND device_id = $2 AND conn_id IN (
         SELECT conn_id FROM sliding_sync_positions WHERE user_id = $1 AND device_id = $2
          GROUP BY conn_id ORDER BY max(id) DESC OFFSET $3)`,
      [userId, deviceId, keep],
    );
  }

  /** A deleted device's connections end with it. */
  async deleteForDevices(userId: string, deviceIds: readonly string[]): Promise<void> {
    if (deviceIds.length === 0) return;
    await this.sql.query("DELETE FROM sliding_sync_positions WHERE user_id = $1 AND device_id = ANY($2::text[])", [userId, deviceIds]);
  }

  /** Per room, its last live event at or before `upto`. */
  async lastActivity(roomIds: readonly string[], upto: number): Promise<Map<string, RoomActivity>> {
    const out = new Map<string, RoomActivity>();
    if (roomIds.length === 0 || upto <= 0) return out;
    const rows = await this.sql.query<{ room_id: string; stream_ordering: number; state_after: number | null; depth: number }>(
      `SELECT r.room_id, e.stream_ordering, e.state_after, e.depth FROM unnest($1::text[]) AS r(room_id)
         CROSS JOIN LATERAL (
           SELECT stream_ordering, coalesce(current_after, state_after) AS state_after, depth FROM events
            WHERE room_id = r.room_id AND stream_ordering > 0 AND stream_ordering <= $2 AND ${SERVED_SQL}
            ORDER BY stream_ordering DESC LIMIT 1) e`,
      [roomIds, upto],
    );
    for (const r of rows) {
      out.set(r.room_id, {
        roomId: r.room_id,
        streamOrdering: Number(r.stream_ordering),
        stateAfter: r.state_after === null ? null : Number(r.state_after),
        depth: Number(r.depth),
      });
    }
    return out;
  }

  /** Per room, the stream position of its last event of one of `types` at or before `upto`. */
  async lastOfTypes(roomIds: readonly string[], types: readonly string[], upto: number): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    if (roomIds.length === 0 || upto <= 0) return out;
    const rows = await this.sql.query<{ room_id: string; stream_ordering: number }>(
      `SELECT r.room_id, e.stream_ordering FROM unnest($1::text[]) AS r(room_id)
         CROSS JOIN LATERAL (
           SELECT stream_ordering FROM events
            WHERE room_id = r.room_id AND stream_ordering > 0 AND stream_ordering <= $3 AND type = ANY($2::text[]) AND ${SERVED_SQL}
            ORDER BY stream_ordering DESC LIMIT 1) e`,
      [roomIds, types, upto],
    );
    for (const r of rows) out.set(r.room_id, Number(r.stream_ordering));
    return out;
  }
  /** Room tags of a user (`m.tag` room account data), per room. */
  async roomTags(userId: string): Promise<Map<string, string[]>> {
    const rows = await this.sql.query<{ room_id: string; content: Record<string, unknown> | string }>(
      "SELECT room_id, content FROM account_data WHERE user_id = $1 AND type = 'm.tag' AND room_id <> ''",
      [userId],
    );
    const out = new Map<string, string[]>();
    for (const r of rows) {
      const content = typeof r.content === "string" ? (JSON.parse(r.content) as Record<string, unknown>) : r.content;
      const tags = content.tags;
      if (tags && typeof tags === "object" && !Array.isArray(tags)) out.set(r.room_id, Object.keys(tags));
    }
    return out;
  }
}
