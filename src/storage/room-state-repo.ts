import { Coalescer } from "./coalesce.js";
import type { Sql, SqlQueryable } from "./sql.js";

/**
 * Room state storage: forward extremities, state groups (full snapshots or
 * deltas against a previous group), the current state and memberships.
 */
export interface StateEntry {
  type: string;
  stateKey: string;
  /** Null in a delta: the key is removed. */
  eventId: string | null;
}

export interface StateGroupRow {
  id: number;
  prevGroup: number | null;
  chainLength: number;
  entries: StateEntry[];
}

export interface MembershipRow {
  roomId: string;
  userId: string;
  membership: string;
  eventId: string;
  streamOrdering: number;
  forgotten: boolean;
}

interface RawMembership extends Record<string, unknown> {
  room_id: string;
  user_id: string;
  membership: string;
  event_id: string;
  stream_ordering: number;
  forgotten: boolean;
}

const toMembership = (r: RawMembership): MembershipRow => ({
  roomId: r.room_id,
  userId: r.user_id,
  membership: r.membership,
  eventId: r.event_id,
  streamOrdering: Number(r.stream_ordering),
  forgotten: r.forgotten,
});

export class RoomStateRepo {
  // Rooms of many users in one statement (the /sync requests one notification wakes).
  private readonly userRooms = new Coalescer<{ userId: string; memberships: readonly string[] }, MembershipRow[]>(
    (k) => `${k.memberships.join(",")}\n${k.userId}`,
    (keys) => this.roomsOfUsers(keys),
    () => [],
  );

  constructor(private readonly sql: Sql) {}

  /** One writer per room across processes: a transaction-scoped advisory lock on the room id. */
  async lockRoom(tx: SqlQueryable, roomId: string): Promise<void> {
    await tx.query("SELECT pg_advisory_xact_lock(hashtextextended($1, 5))", [roomId]);
  }

  async forwardExtremities(q: SqlQueryable, roomId: string): Promise<string[]> {
    const rows = await q.query<{ event_id: string }>(
      "SELECT event_id FROM room_forward_extremities WHERE room_id = $1 ORDER BY event_id",
      [roomId],
    );
    return rows.map((r) => r.event_id);
  }

  async replaceForwardExtremities(q: SqlQueryable, roomId: string, remove: readonly string[], add: string): Promise<void> {
    if (remove.includes(add)) {
      // Not reached by the writer (an event is never its own prev_event); one statement
      // cannot delete and re-insert the same row, so take two.
      await q.query("DELETE FROM room_forward_extremities WHERE room_id = $1 AND event_id = ANY($2::text[])", [roomId, remove]);
      await q.query("INSERT INTO room_forward_extremities (room_id, event_id) VALUES ($1, $2)", [roomId, add]);
      return;
    }
    // One round trip per event persisted.
    await q.query(
      `WITH gone AS (DELETE FROM room_forward_extremities WHERE room_id = $1 AND event_id = ANY($2::text[]))
       INSERT INTO room_forward_extremities (room_id, event_id) VALUES ($1, $3) ON CONFLICT DO NOTHING`,
      [roomId, remove, add],
    );
  }

  // --- state groups ---

  /** A new group and its entries in one round trip; returns its id. */
  async insertStateGroup(
    q: SqlQueryable,
    roomId: string,
    prevGroup: number | null,
    chainLength: number,
    entries: readonly StateEntry[],
  ): Promise<number> {
    const [row] = await q.query<{ id: number }>(
      `WITH g AS (
         INSERT INTO state_groups (id, room_id, prev_group, chain_length) VALUES (nextval('state_group_seq'), $1, $2, $3) RETURNING id
       ), e AS (
         INSERT INTO state_group_entries (group_id, type, state_key, event_id)
         SELECT g.id, t, k, ev FROM g, unnest($4::text[], $5::text[], $6::text[]) AS x(t, k, ev)
       )
       SELECT id::int8 AS id FROM g`,
      [roomId, prevGroup, chainLength, entries.map((e) => e.type), entries.map((e) => e.stateKey), entries.map((e) => e.eventId)],
    );
    return Number(row!.id);
  }

  /** A group and its delta ancestors up to the nearest full snapshot, newest first. */
  async loadStateGroupChain(groupId: number, q: SqlQueryable = this.sql): Promise<StateGroupRow[]> {
    const groups = await q.query<{ id: number; prev_group: number | null; chain_length: number }>(
      `WITH RECURSIVE chain(id, prev_group, chain_length) AS (
         SELECT id, prev_group, chain_length FROM state_groups WHERE id = $1
         UNION ALL
         SELECT g.id, g.prev_group, g.chain_length FROM state_groups g JOIN chain c ON g.id = c.prev_group
       )
       SELECT id, prev_group, chain_length FROM chain`,
      [groupId],
    );
    if (groups.length === 0) return [];
    const entries = await q.query<{ group_id: number; type: string; state_key: string; event_id: string | null }>(
      "SELECT group_id, type, state_key, event_id FROM state_group_entries WHERE group_id = ANY($1::int8[])",
      [groups.map((g) => g.id)],
    );
    const byGroup = new Map<number, StateEntry[]>();
    for (const e of entries) {
      const gid = Number(e.group_id);
      let list = byGroup.get(gid);
      if (!list) byGroup.set(gid, (list = []));
      list.push({ type: e.type, stateKey: e.state_key, eventId: e.event_id });
    }
    return groups
      .map((g) => ({
        id: Number(g.id),
        prevGroup: g.prev_group === null ? null : Number(g.prev_group),
        chainLength: Number(g.chain_length),
        entries: byGroup.get(Number(g.id)) ?? [],
      }))
      .sort((a, b) => b.chainLength - a.chainLength);
  }

  /**
   * Only the given keys of a group: walks its delta chain to the snapshot and
   * takes, per key, the newest entry. A group of a big room holds every member;
   * reading one user's membership need not load all of them. A key the state
   * lacks (or a delta removed) is absent from the answer.
   */
  async stateGroupKeys(groupId: number, keys: ReadonlyArray<{ type: string; stateKey: string }>, q: SqlQueryable = this.sql): Promise<StateEntry[]> {
    if (keys.length === 0) return [];
    const rows = await q.query<{ type: string; state_key: string; event_id: string | null }>(
      `WITH RECURSIVE chain(id, prev_group, chain_length) AS (
         SELECT id, prev_group, chain_length FROM state_groups WHERE id = $1
         UNION ALL
         SELECT g.id, g.prev_group, g.chain_length FROM state_groups g JOIN chain c ON g.id = c.prev_group
       )
       SELECT DISTINCT ON (e.type, e.state_key) e.type, e.state_key, e.event_id
         FROM unnest($2::text[], $3::text[]) AS k(type, state_key)
         JOIN state_group_entries e ON e.type = k.type AND e.state_key = k.state_key
         JOIN chain c ON c.id = e.group_id
        ORDER BY e.type, e.state_key, c.chain_length DESC`,
      [groupId, keys.map((k) => k.type), keys.map((k) => k.stateKey)],
    );
    return rows.filter((r) => r.event_id !== null).map((r) => ({ type: r.type, stateKey: r.state_key, eventId: r.event_id }));
  }

  async stateGroupChainLength(groupId: number, q: SqlQueryable = this.sql): Promise<number> {
    const [row] = await q.query<{ chain_length: number }>("SELECT chain_length FROM state_groups WHERE id = $1", [groupId]);
    return Number(row?.chain_length ?? 0);
  }

  // --- current state ---

  async setCurrentState(q: SqlQueryable, roomId: string, type: string, stateKey: string, eventId: string | null): Promise<void> {
    if (eventId === null) {
      await q.query("DELETE FROM current_state WHERE room_id = $1 AND type = $2 AND state_key = $3", [roomId, type, stateKey]);
      return;
    }
    await q.query(
      `INSERT INTO current_state (room_id, type, state_key, event_id) VALUES ($1, $2, $3, $4)
       ON CONFLICT (room_id, type, state_key) DO UPDATE SET event_id = EXCLUDED.event_id`,
      [roomId, type, stateKey, eventId],
    );
  }

  /**
   * Changes of a room's current state caused by persisting the event at
   * `streamOrdering`, in one round trip: the current_state rows, the
   * memberships of changed m.room.member keys, and the current-state delta
   * stream. Keys are unique within `changes`.
   */
  async applyCurrentStateChanges(
    q: SqlQueryable,
    roomId: string,
    streamOrdering: number,
    changes: ReadonlyArray<StateEntry & { membership?: string }>,
  ): Promise<void> {
    if (changes.length === 0) return;
    await q.query(
      `WITH ch AS (
         SELECT * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[]) AS c(type, state_key, event_id, membership)
       ), gone AS (
         DELETE FROM current_state cs USING ch
          WHERE ch.event_id IS NULL AND cs.room_id = $1 AND cs.type = ch.type AND cs.state_key = ch.state_key
       ), cur AS (
         INSERT INTO current_state (room_id, type, state_key, event_id)
         SELECT $1, type, state_key, event_id FROM ch WHERE event_id IS NOT NULL
         ON CONFLICT (room_id, type, state_key) DO UPDATE SET event_id = EXCLUDED.event_id
       ), mem AS (
         -- A new membership event un-forgets the room (e.g. a fresh invite after /forget).
         INSERT INTO room_memberships (room_id, user_id, membership, event_id, stream_ordering, forgotten)
         SELECT $1, state_key, membership, event_id, $6, false FROM ch
          WHERE type = 'm.room.member' AND event_id IS NOT NULL AND membership IS NOT NULL
         ON CONFLICT (room_id, user_id) DO UPDATE SET membership = EXCLUDED.membership, event_id = EXCLUDED.event_id,
           stream_ordering = EXCLUDED.stream_ordering, forgotten = false
       )
       INSERT INTO current_membership_delta (stream_ordering, room_id, user_id, event_id, membership)
       SELECT $6, $1, state_key, event_id, membership FROM ch WHERE type = 'm.room.member' ON CONFLICT DO NOTHING`,
      [
        roomId,
        changes.map((c) => c.type),
        changes.map((c) => c.stateKey),
        changes.map((c) => c.eventId),
        changes.map((c) => c.membership ?? null),
        streamOrdering,
      ],
    );
  }

  async currentState(roomId: string, q: SqlQueryable = this.sql): Promise<StateEntry[]> {
    const rows = await q.query<{ type: string; state_key: string; event_id: string }>(
      "SELECT type, state_key, event_id FROM current_state WHERE room_id = $1",
      [roomId],
    );
    return rows.map((r) => ({ type: r.type, stateKey: r.state_key, eventId: r.event_id }));
  }

  async currentStateEventIds(roomIds: readonly string[], types: readonly string[]): Promise<Array<{ roomId: string; type: string; stateKey: string; eventId: string }>> {
    if (roomIds.length === 0) return [];
    const rows = await this.sql.query<{ room_id: string; type: string; state_key: string; event_id: string }>(
      "SELECT room_id, type, state_key, event_id FROM current_state WHERE room_id = ANY($1::text[]) AND type = ANY($2::text[])",
      [roomIds, types],
    );
    return rows.map((r) => ({ roomId: r.room_id, type: r.type, stateKey: r.state_key, eventId: r.event_id }));
  }

  // --- memberships ---

  async setMembership(q: SqlQueryable, m: Omit<MembershipRow, "forgotten">): Promise<void> {
    // A new membership event un-forgets the room (e.g. a fresh invite after /forget).
    await q.query(
      `INSERT INTO room_memberships (room_id, user_id, membership, event_id, stream_ordering, forgotten)
       VALUES ($1, $2, $3, $4, $5, false)
       ON CONFLICT (room_id, user_id) DO UPDATE SET membership = EXCLUDED.membership, event_id = EXCLUDED.event_id,
         stream_ordering = EXCLUDED.stream_ordering, forgotten = false`,
      [m.roomId, m.userId, m.membership, m.eventId, m.streamOrdering],
    );
  }

  async membership(roomId: string, userId: string, q: SqlQueryable = this.sql): Promise<MembershipRow | undefined> {
    const rows = await q.query<RawMembership>(
      "SELECT room_id, user_id, membership, event_id, stream_ordering, forgotten FROM room_memberships WHERE room_id = $1 AND user_id = $2",
      [roomId, userId],
    );
    return rows[0] ? toMembership(rows[0]) : undefined;
  }

  /** The user's rooms with one of `memberships`, oldest membership first. The rows are shared: do not modify them. */
  roomsOfUser(userId: string, memberships: readonly string[]): Promise<MembershipRow[]> {
    return this.userRooms.load({ userId, memberships });
  }

  private async roomsOfUsers(keys: ReadonlyArray<{ userId: string; memberships: readonly string[] }>): Promise<Map<string, MembershipRow[]>> {
    const groups = new Map<string, { memberships: readonly string[]; users: string[] }>();
    for (const k of keys) {
      const g = groups.get(k.memberships.join(",")) ?? { memberships: k.memberships, users: [] };
      g.users.push(k.userId);
      groups.set(k.memberships.join(","), g);
    }
    const out = new Map<string, MembershipRow[]>();
    for (const [m, g] of groups) {
      const rows = await this.sql.query<RawMembership>(
        `SELECT room_id, user_id, membership, event_id, stream_ordering, forgotten FROM room_memberships
          WHERE user_id = ANY($1::text[]) AND membership = ANY($2::text[]) ORDER BY stream_ordering`,
        [g.users, g.memberships],
      );
      for (const r of rows) {
        const id = `${m}\n${r.user_id}`;
        const list = out.get(id) ?? [];
        list.push(toMembership(r));
        out.set(id, list);
      }
    }
    return out;
  }

  async membersOfRoom(roomId: string, memberships?: readonly string[], q: SqlQueryable = this.sql): Promise<MembershipRow[]> {
    const rows = memberships
      ? await q.query<RawMembership>(
          `SELECT room_id, user_id, membership, event_id, stream_ordering, forgotten FROM room_memberships
            WHERE room_id = $1 AND membership = ANY($2::text[]) ORDER BY user_id`,
          [roomId, memberships],
        )
      : await q.query<RawMembership>(
          `SELECT room_id, user_id, membership, event_id, stream_ordering, forgotten FROM room_memberships
            WHERE room_id = $1 ORDER BY user_id`,
          [roomId],
        );
    return rows.map(toMembership);
  }

  async joinedCounts(roomIds: readonly string[]): Promise<Map<string, number>> {
    if (roomIds.length === 0) return new Map();
    const rows = await this.sql.query<{ room_id: string; n: number }>(
      `SELECT room_id, count(*)::int8 AS n FROM room_memberships
        WHERE room_id = ANY($1::text[]) AND membership = 'join' GROUP BY room_id`,
      [roomIds],
    );
    return new Map(rows.map((r) => [r.room_id, Number(r.n)]));
  }

  async forget(roomId: string, userId: string): Promise<void> {
    await this.sql.query("UPDATE room_memberships SET forgotten = true WHERE room_id = $1 AND user_id = $2", [roomId, userId]);
  }
}
