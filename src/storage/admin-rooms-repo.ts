import type { Sql, SqlQueryable } from "./sql.js";

/** One room as the admin room list and details show it (from its current state). */
export interface AdminRoomRow {
  roomId: string;
  version: string;
  creator: string;
  isPublic: boolean;
  createdTs: number;
  name: string | null;
  canonicalAlias: string | null;
  topic: string | null;
  avatar: string | null;
  joinRules: string | null;
  guestAccess: string | null;
  historyVisibility: string | null;
  encryption: string | null;
  roomType: string | null;
  federatable: boolean;
  joinedMembers: number;
  joinedLocalMembers: number;
  stateEvents: number;
}

export const ROOM_ORDER_COLUMNS = {
  name: "name",
  alphabetical: "name",
  size: "joined_members",
  joined_members: "joined_members",
  joined_local_members: "joined_local_members",
  canonical_alias: "canonical_alias",
  version: "version",
  creator: "creator",
  encryption: "encryption",
  federatable: "federatable",
  public: "is_public",
  join_rules: "join_rules",
  guest_access: "guest_access",
  history_visibility: "history_visibility",
  state_events: "state_events",
} as const;
export type RoomOrder = keyof typeof ROOM_ORDER_COLUMNS;

const stateField = (type: string, path: string) =>
  `(SELECT (e.pdu::jsonb)->'content'${path} FROM current_state cs JOIN events e ON e.event_id = cs.event_id
     WHERE cs.room_id = r.room_id AND cs.type = '${type}' AND cs.state_key = '')`;

// The room's fields from its current state; `$1` is ":<server_name>" (the local-user suffix).
const ROOM_SELECT = `
  SELECT r.room_id, r.room_version AS version, r.creator, r.visibility = 'public' AS is_public, r.created_ts,
    ${stateField("m.room.name", "->>'name'")} AS name,
    ${stateField("m.room.canonical_alias", "->>'alias'")} AS canonical_alias,
    ${stateField("m.room.topic", "->>'topic'")} AS topic,
    ${stateField("m.room.avatar", "->>'url'")} AS avatar,
    ${stateField("m.room.join_rules", "->>'join_rule'")} AS join_rules,
    ${stateField("m.room.guest_access", "->>'guest_access'")} AS guest_access,
    ${stateField("m.room.history_visibility", "->>'history_visibility'")} AS history_visibility,
    ${stateField("m.room.encryption", "->>'algorithm'")} AS encryption,
    ${stateField("m.room.create", "->>'type'")} AS room_type,
    coalesce(${stateField("m.room.create", "->>'m.federate'")}, 'true') <> 'false' AS federatable,
    (SELECT count(*) FROM room_memberships m WHERE m.room_id = r.room_id AND m.membership = 'join')::int8 AS joined_members,
    (SELECT count(*) FROM room_memberships m WHERE m.room_id = r.room_id AND m.membership = 'join' AND right(m.user_id, length($1)) = $1)::int8 AS joined_local_members,
    (SELECT count(*) FROM current_state cs WHERE cs.room_id = r.room_id)::int8 AS state_events
  FROM rooms r`;

function roomRow(r: Record<string, unknown>): AdminRoomRow {
  const s = (v: unknown) => (typeof v === "string" ? v : null);
  return {
    roomId: r.room_id as string,
    version: r.version as string,
    creator: r.creator as string,
    isPublic: r.is_public === true,
    createdTs: Number(r.created_ts),
    name: s(r.name),
    canonicalAlias: s(r.canonical_alias),
    topic: s(r.topic),
    avatar: s(r.avatar),
    joinRules: s(r.join_rules),
    guestAccess: s(r.guest_access),
    historyVisibility: s(r.history_visibility),
    encryption: s(r.encryption),
    roomType: s(r.room_type),
    federatable: r.federatable !== false,
    joinedMembers: Number(r.joined_members),
    joinedLocalMembers: Number(r.joined_local_members),
    stateEvents: Number(r.state_events),
  };
}

const escapeLike = (s: string) => s.replace(/[\\%_]/g, (c) => `\\${c}`);

// Tables that keep their rows when a room is purged: moderation evidence and admin records.
const KEEP_ON_PURGE = new Set(["content_reports", "blocked_rooms", "admin_room_deletions", "admin_audit_log", "server_notice_rooms"]);

// Rows pointing at an event that purging history must not drop: read receipts
// (the user's read position) and state bookkeeping (state events are kept anyway).
const KEEP_ON_HISTORY_PURGE = new Set(["receipts", "room_memberships", "current_state"]);

/** Admin reads over rooms and events, and purging a room's data. */
export class AdminRoomsRepo {
  constructor(
    private readonly sql: Sql,
    private readonly serverName: string,
  ) {}

  async listRooms(opts: { from: number; limit: number; order: RoomOrder; dir: "f" | "b"; search?: string }): Promise<{ rooms: AdminRoomRow[]; total: number }> {
    const col = ROOM_ORDER_COLUMNS[opts.order];
    // Size-like orders default to the biggest first, as Synapse does; `dir=b` reverses.
    const bigFirst = col === "joined_members" || col === "joined_local_members" || col === "state_events";
    const asc = bigFirst ? opts.dir === "b" : opts.dir === "f";
    const pattern = opts.search === undefined ? null : `%${escapeLike(opts.search)}%`;
    const where = "($2::text IS NULL OR x.name ILIKE $2 OR x.canonical_alias ILIKE $2 OR x.room_id = $3)";
    const rows = await this.sql.query(
      `WITH x AS (${ROOM_SELECT}) SELECT * FROM x WHERE ${where}
        ORDER BY x.${col} ${asc ? "ASC" : "DESC"} NULLS LAST, x.room_id ASC OFFSET $4 LIMIT $5`,
      [`:${this.serverName}`, pattern, opts.search ?? null, opts.from, opts.limit],
    );
    const [count] = await this.sql.query<{ n: number }>(`WITH x AS (${ROOM_SELECT}) SELECT count(*)::int8 AS n FROM x WHERE ${where}`, [
      `:${this.serverName}`,
      pattern,
      opts.search ?? null,
    ]);
    return { rooms: rows.map(roomRow), total: Number(count?.n ?? 0) };
  }

  async room(roomId: string): Promise<AdminRoomRow | undefined> {
    const [row] = await this.sql.query(`WITH x AS (${ROOM_SELECT}) SELECT * FROM x WHERE x.room_id = $2`, [`:${this.serverName}`, roomId]);
    return row ? roomRow(row) : undefined;
  }

  /** Joined local devices of a room (for room details). */
  async joinedLocalDevices(roomId: string): Promise<number> {
    const [row] = await this.sql.query<{ n: number }>(
      `SELECT count(*)::int8 AS n FROM devices d JOIN room_memberships m ON m.user_id = d.user_id
        WHERE m.room_id = $1 AND m.membership = 'join'`,
      [roomId],
    );
    return Number(row?.n ?? 0);
  }

  async joinedMembers(roomId: string): Promise<string[]> {
    const rows = await this.sql.query<{ user_id: string }>("SELECT user_id FROM room_memberships WHERE room_id = $1 AND membership = 'join' ORDER BY user_id", [
      roomId,
    ]);
    return rows.map((r) => r.user_id);
  }

  /** Local users with a membership that keeps them in the room (joined, invited, knocking). */
  async localMembersInRoom(roomId: string): Promise<Array<{ userId: string; membership: string }>> {
    const rows = await this.sql.query<{ user_id: string; membership: string }>(
      `SELECT user_id, membership FROM room_memberships
        WHERE room_id = $1 AND membership IN ('join', 'invite', 'knock') AND right(user_id, length($2)) = $2 ORDER BY user_id`,
      [roomId, `:${this.serverName}`],
    );
    return rows.map((r) => ({ userId: r.user_id, membership: r.membership }));
  }

  async isForgottenByAll(roomId: string): Promise<boolean> {
    const [row] = await this.sql.query<{ n: number; f: number }>(
      "SELECT count(*)::int8 AS n, count(*) FILTER (WHERE forgotten)::int8 AS f FROM room_memberships WHERE room_id = $1 AND right(user_id, length($2)) = $2",
      [roomId, `:${this.serverName}`],
    );
    return Number(row?.n ?? 0) > 0 && Number(row?.n) === Number(row?.f);
  }

  /** Event ids of a room in topological order from a (depth, stream) position; `b` goes back in time. */
  async pageEventIds(
    roomId: string,
    dir: "f" | "b",
    from: { depth: number; stream: number } | undefined,
    limit: number,
  ): Promise<Array<{ eventId: string; depth: number; stream: number }>> {
    const params: unknown[] = [roomId, limit];
    let cond = "";
    if (from) {
      params.push(from.depth, from.stream);
      cond = dir === "b" ? "AND (depth, stream_ordering) < ($3, $4)" : "AND (depth, stream_ordering) > ($3, $4)";
    }
    const order = dir === "b" ? "DESC" : "ASC";
    const rows = await this.sql.query<{ event_id: string; depth: number; stream_ordering: number }>(
      `SELECT event_id, depth, stream_ordering FROM events
        WHERE room_id = $1 AND NOT outlier AND NOT soft_failed AND rejected_reason IS NULL ${cond}
        ORDER BY depth ${order}, stream_ordering ${order} LIMIT $2`,
      params,
    );
    return rows.map((r) => ({ eventId: r.event_id, depth: Number(r.depth), stream: Number(r.stream_ordering) }));
  }

  async eventPosition(eventId: string): Promise<{ roomId: string; depth: number; stream: number } | undefined> {
    const [r] = await this.sql.query<{ room_id: string; depth: number; stream_ordering: number }>(
      "SELECT room_id, depth, stream_ordering FROM events WHERE event_id = $1",
      [eventId],
    );
    return r ? { roomId: r.room_id, depth: Number(r.depth), stream: Number(r.stream_ordering) } : undefined;
  }

  async forwardExtremities(roomId: string): Promise<Array<{ eventId: string; stateGroup: number | null; depth: number; receivedTs: number; stream: number }>> {
    const rows = await this.sql.query(
      `SELECT f.event_id, e.state_after, e.depth, e.origin_server_ts, e.stream_ordering FROM room_forward_extremities f
         JOIN events e ON e.event_id = f.event_id WHERE f.room_id = $1 ORDER BY e.depth DESC, e.stream_ordering DESC`,
      [roomId],
    );
    return rows.map((r) => ({
      eventId: r.event_id as string,
      stateGroup: r.state_after == null ? null : Number(r.state_after),
      depth: Number(r.depth),
      receivedTs: Number(r.origin_server_ts),
      stream: Number(r.stream_ordering),
    }));
  }

  /** Removes every forward extremity but the given ones; returns how many went. */
  async deleteForwardExtremitiesExcept(roomId: string, keep: readonly string[]): Promise<number> {
    const rows = await this.sql.query("DELETE FROM room_forward_extremities WHERE room_id = $1 AND NOT (event_id = ANY($2::text[])) RETURNING event_id", [
      roomId,
      keep,
    ]);
    return rows.length;
  }

  /** Ids of events a user sent (newest first), optionally only in some rooms. */
  async eventIdsBySender(
    userId: string,
    opts: { roomIds?: readonly string[]; limit: number; types?: readonly string[]; skipRedacted?: boolean },
  ): Promise<Array<{ eventId: string; roomId: string; type: string; stateKey: string | null }>> {
    const rows = await this.sql.query<{ event_id: string; room_id: string; type: string; state_key: string | null }>(
      `SELECT event_id, room_id, type, state_key FROM events
        WHERE sender = $1 AND NOT outlier AND rejected_reason IS NULL
          AND ($2::text[] IS NULL OR room_id = ANY($2::text[]))
          AND ($3::text[] IS NULL OR type = ANY($3::text[]))
          AND (NOT $4 OR redacted_by IS NULL)
        ORDER BY stream_ordering DESC LIMIT $5`,
      [userId, opts.roomIds ?? null, opts.types ?? null, opts.skipRedacted ?? false, opts.limit],
    );
    return rows.map((r) => ({ eventId: r.event_id, roomId: r.room_id, type: r.type, stateKey: r.state_key }));
  }

  /**
   * Deletes everything stored about a room: its events and everything keyed by
   * them, its state, memberships, aliases, receipts, account data... Tables are
   * found by their `room_id` / `event_id` columns, so tables added later are
   * purged too; moderation evidence (reports) and admin records stay.
   * Returns the ids of the deleted events.
   */
  async purgeRoom(roomId: string): Promise<string[]> {
    return this.sql.transaction(async (tx) => {
      const cols = await tx.query<{ table_name: string; column_name: string }>(
        `SELECT c.table_name, c.column_name FROM information_schema.columns c
           JOIN information_schema.tables t ON t.table_name = c.table_name AND t.table_schema = c.table_schema
          WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'
            AND c.column_name IN ('room_id', 'event_id', 'group_id')`,
      );
      const byTable = new Map<string, Set<string>>();
      for (const c of cols) {
        if (KEEP_ON_PURGE.has(c.table_name) || c.table_name === "events" || c.table_name === "rooms") continue;
        let s = byTable.get(c.table_name);
        if (!s) byTable.set(c.table_name, (s = new Set()));
        s.add(c.column_name);
      }
      const ident = (n: string) => `"${n.replace(/"/g, '""')}"`;
      // Keyed by event or state group only (edges, redactions, state group entries...).
      for (const [table, c] of byTable) {
        if (c.has("room_id")) continue;
        if (c.has("event_id")) await tx.query(`DELETE FROM ${ident(table)} WHERE event_id IN (SELECT event_id FROM events WHERE room_id = $1)`, [roomId]);
        else if (c.has("group_id")) await tx.query(`DELETE FROM ${ident(table)} WHERE group_id IN (SELECT id FROM state_groups WHERE room_id = $1)`, [roomId]);
      }
      for (const [table, c] of byTable) {
        if (c.has("room_id")) await tx.query(`DELETE FROM ${ident(table)} WHERE room_id = $1`, [roomId]);
      }
      const gone = await tx.query<{ event_id: string }>("DELETE FROM events WHERE room_id = $1 RETURNING event_id", [roomId]);
      await tx.query("DELETE FROM rooms WHERE room_id = $1", [roomId]);
      return gone.map((r) => r.event_id);
    });
  }

  /**
   * Deletes a room's message (non-state) events sent before `beforeTs` (or at
   * topological positions before `before`), never its forward extremities;
   * local users' events only when `includeLocal`. State events stay, so the
   * room's state and auth chains stay whole. Returns the deleted ids.
   */
  async purgeHistory(roomId: string, opts: { beforeTs?: number; before?: { depth: number; stream: number }; includeLocal: boolean }): Promise<string[]> {
    return this.sql.transaction(async (tx) => {
      const ids = await tx.query<{ event_id: string }>(
        `SELECT e.event_id FROM events e
          WHERE e.room_id = $1 AND e.state_key IS NULL
            AND ($2::int8 IS NULL OR e.origin_server_ts < $2)
            AND ($3::int8 IS NULL OR (e.depth, e.stream_ordering) < ($3, $4))
            AND ($5 OR right(e.sender, length($6)) <> $6)
            AND NOT EXISTS (SELECT 1 FROM room_forward_extremities f WHERE f.room_id = e.room_id AND f.event_id = e.event_id)`,
        [roomId, opts.beforeTs ?? null, opts.before?.depth ?? null, opts.before?.stream ?? 0, opts.includeLocal, `:${this.serverName}`],
      );
      const gone = ids.map((r) => r.event_id);
      if (gone.length === 0) return gone;
      const cols = await tx.query<{ table_name: string }>(
        `SELECT c.table_name FROM information_schema.columns c
           JOIN information_schema.tables t ON t.table_name = c.table_name AND t.table_schema = c.table_schema
          WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE' AND c.column_name = 'event_id'`,
      );
      const ident = (n: string) => `"${n.replace(/"/g, '""')}"`;
      for (const { table_name } of cols) {
        if (KEEP_ON_PURGE.has(table_name) || KEEP_ON_HISTORY_PURGE.has(table_name) || table_name === "events") continue;
        await tx.query(`DELETE FROM ${ident(table_name)} WHERE event_id = ANY($1::text[])`, [gone]);
      }
      await tx.query("DELETE FROM events WHERE event_id = ANY($1::text[])", [gone]);
      return gone;
    });
  }

  /** Rooms with their `m.room.retention` max_lifetime (null when the room has none). */
  async roomRetention(): Promise<Array<{ roomId: string; maxLifetime: number | null }>> {
    const rows = await this.sql.query<{ room_id: string; max_lifetime: string | null }>(
      `SELECT r.room_id, ${stateField("m.room.retention", "->>'max_lifetime'")} AS max_lifetime FROM rooms r`,
    );
    return rows.map((r) => {
      const n = r.max_lifetime === null ? NaN : Number(r.max_lifetime);
      return { roomId: r.room_id, maxLifetime: Number.isSafeInteger(n) && n > 0 ? n : null };
    });
  }

  async roomExists(roomId: string, q: SqlQueryable = this.sql): Promise<boolean> {
    return (await q.query("SELECT 1 FROM rooms WHERE room_id = $1", [roomId])).length > 0;
  }
}
