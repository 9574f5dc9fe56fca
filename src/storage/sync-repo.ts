import { stateMapKey, type StateMapKey } from "../core/index.js";
import { SERVED_SQL } from "./events-repo.js";
import type { Sql } from "./sql.js";

/**
 * The SQL /sync needs on top of the rooms repositories (events, room_memberships):
 * batched over all of a user's rooms so an initial sync costs a handful of
 * queries per response rather than per room. Reads only; positions are bounded
 * by the caller with the rooms writer's `persistedUpTo`.
 */
export interface MembershipAt {
  roomId: string;
  membership: string;
  eventId: string;
  streamOrdering: number;
}

export interface EventRef {
  roomId: string;
  eventId: string;
  streamOrdering: number;
}

export interface LastEventRef extends EventRef {
  stateAfter: number | null;
  depth: number;
}

export interface MemberChange {
  roomId: string;
  userId: string;
  membership: string;
}

export interface RoomMemberRef {
  roomId: string;
  userId: string;
  membership: string;
  streamOrdering: number;
}

const VALID = SERVED_SQL;

export class SyncRepo {
  constructor(private readonly sql: Sql) {}

  /**
   * The user's membership per room at stream position `pos`: the latest
   * change of their m.room.member key in the rooms' current state (the
   * membership delta stream) at or before it.
   */
  async membershipsAt(userId: string, roomIds: readonly string[], pos: number): Promise<Map<string, MembershipAt>> {
    if (roomIds.length === 0 || pos <= 0) return new Map();
    const rows = await this.sql.query<{ room_id: string; event_id: string | null; stream_ordering: number; membership: string | null }>(
      `SELECT DISTINCT ON (room_id) room_id, event_id, stream_ordering, membership FROM current_membership_delta
        WHERE room_id = ANY($1::text[]) AND user_id = $2 AND stream_ordering <= $3
        ORDER BY room_id, stream_ordering DESC`,
      [roomIds, userId, pos],
    );
    const out = new Map<string, MembershipAt>();
    for (const r of rows) {
      if (r.event_id === null) continue;
      out.set(r.room_id, { roomId: r.room_id, eventId: r.event_id, streamOrdering: Number(r.stream_ordering), membership: r.membership ?? "leave" });
    }
    return out;
  }

  /** Rooms among `roomIds` with at least one event in (since, upto]. */
  async roomsWithEvents(roomIds: readonly string[], since: number, upto: number): Promise<Set<string>> {
    if (roomIds.length === 0 || upto <= since) return new Set();
    const rows = await this.sql.query<{ room_id: string }>(
      `SELECT DISTINCT room_id FROM events
        WHERE room_id = ANY($1::text[]) AND stream_ordering > $2 AND stream_ordering <= $3 AND ${VALID}`,
      [roomIds, since, upto],
    );
    return new Set(rows.map((r) => r.room_id));
  }

  /** Per room, the latest `n` events in (since, upto], newest first. */
  async timelineTails(roomIds: readonly string[], since: number, upto: number, n: number): Promise<Map<string, EventRef[]>> {
    const out = new Map<string, EventRef[]>();
    if (roomIds.length === 0 || upto <= since || n <= 0) return out;
    const rows = await this.sql.query<{ room_id: string; event_id: string; stream_ordering: number }>(
      `SELECT room_id, event_id, stream_ordering FROM (
         SELECT room_id, event_id, stream_ordering,
                row_number() OVER (PARTITION BY room_id ORDER BY stream_ordering DESC) AS rn
           FROM events
          WHERE room_id = ANY($1::text[]) AND stream_ordering > $2 AND stream_ordering <= $3 AND ${VALID}
       ) t WHERE rn <= $4 ORDER BY room_id, stream_ordering DESC`,
      [roomIds, since, upto, n],
    );
    for (const r of rows) {
      let list = out.get(r.room_id);
      if (!list) out.set(r.room_id, (list = []));
      list.push({ roomId: r.room_id, eventId: r.event_id, streamOrdering: Number(r.stream_ordering) });
    }
    return out;
  }

  /** The first `n` events in (since, upto] over all of `roomIds`, in stream order (the legacy GET /events). */
  async eventsAfter(roomIds: readonly string[], since: number, upto: number, n: number): Promise<EventRef[]> {
    if (roomIds.length === 0 || upto <= since || n <= 0) return [];
    const rows = await this.sql.query<{ room_id: string; event_id: string; stream_ordering: number }>(
      `SELECT room_id, event_id, stream_ordering FROM events
        WHERE room_id = ANY($1::text[]) AND stream_ordering > $2 AND stream_ordering <= $3 AND ${VALID}
        ORDER BY stream_ordering LIMIT $4`,
      [roomIds, since, upto, n],
    );
    return rows.map((r) => ({ roomId: r.room_id, eventId: r.event_id, streamOrdering: Number(r.stream_ordering) }));
  }

  /** Those of `eventIds` that are part of the room's current state. */
  async currentStateAmong(roomId: string, eventIds: readonly string[]): Promise<Set<string>> {
    if (eventIds.length === 0) return new Set();
    const rows = await this.sql.query<{ event_id: string }>(
      "SELECT event_id FROM current_state WHERE room_id = $1 AND event_id = ANY($2::text[])",
      [roomId, eventIds],
    );
    return new Set(rows.map((r) => r.event_id));
  }

  /** One room's events in (since, before), newest first, at most `n`. */
  async timelinePage(roomId: string, since: number, before: number, n: number): Promise<EventRef[]> {
    const rows = await this.sql.query<{ event_id: string; stream_ordering: number }>(
      `SELECT event_id, stream_ordering FROM events
        WHERE room_id = $1 AND stream_ordering > $2 AND stream_ordering < $3 AND ${VALID}
        ORDER BY stream_ordering DESC LIMIT $4`,
      [roomId, since, before, n],
    );
    return rows.map((r) => ({ roomId, eventId: r.event_id, streamOrdering: Number(r.stream_ordering) }));
  }

  /**
   * Per room, the last live event at or before `pos`; `stateAfter` is the
   * room's state at `pos` (its current state once that event was persisted:
   * the resolution over all forward extremities, not just that event's state).
   */
  async lastEventsAt(roomIds: readonly string[], pos: number): Promise<Map<string, LastEventRef>> {
    if (roomIds.length === 0 || pos <= 0) return new Map();
    const rows = await this.sql.query<{ room_id: string; event_id: string; stream_ordering: number; state_after: number | null; depth: number }>(
      `SELECT DISTINCT ON (room_id) room_id, event_id, stream_ordering, coalesce(current_after, state_after) AS state_after, depth FROM events
        WHERE room_id = ANY($1::text[]) AND stream_ordering <= $2 AND stream_ordering > 0 AND ${VALID}
        ORDER BY room_id, stream_ordering DESC`,
      [roomIds, pos],
    );
    return new Map(
      rows.map((r) => [
        r.room_id,
        {
          roomId: r.room_id,
          eventId: r.event_id,
          streamOrdering: Number(r.stream_ordering),
          stateAfter: r.state_after === null ? null : Number(r.state_after),
          depth: Number(r.depth),
        },
      ]),
    );
  }

  /** Membership changes (any user) of the given rooms' current state in (since, upto], oldest first. */
  async memberChanges(roomIds: readonly string[], since: number, upto: number): Promise<MemberChange[]> {
    if (roomIds.length === 0 || upto <= since) return [];
    const rows = await this.sql.query<{ room_id: string; state_key: string; membership: string | null }>(
      `SELECT room_id, user_id AS state_key, membership FROM current_membership_delta
        WHERE room_id = ANY($1::text[]) AND stream_ordering > $2 AND stream_ordering <= $3
        ORDER BY stream_ordering`,
      [roomIds, since, upto],
    );
    return rows.map((r) => ({ roomId: r.room_id, userId: r.state_key, membership: r.membership ?? "leave" }));
  }

  /** Users joined to at least one room the user is joined to (the user included). */
  async usersSharingRoomWith(userId: string): Promise<string[]> {
    const rows = await this.sql.query<{ user_id: string }>(
      `SELECT DISTINCT o.user_id FROM room_memberships m
         JOIN room_memberships o ON o.room_id = m.room_id AND o.membership = 'join'
        WHERE m.user_id = $1 AND m.membership = 'join'`,
      [userId],
    );
    return rows.map((r) => r.user_id);
  }

  /** Joined and invited counts per room (current membership). */
  async memberCounts(roomIds: readonly string[]): Promise<Map<string, { joined: number; invited: number }>> {
    const out = new Map<string, { joined: number; invited: number }>();
    if (roomIds.length === 0) return out;
    const rows = await this.sql.query<{ room_id: string; membership: string; n: number }>(
      `SELECT room_id, membership, count(*)::int8 AS n FROM room_memberships
        WHERE room_id = ANY($1::text[]) AND membership IN ('join', 'invite') GROUP BY room_id, membership`,
      [roomIds],
    );
    for (const r of rows) {
      const c = out.get(r.room_id) ?? { joined: 0, invited: 0 };
      if (r.membership === "join") c.joined = Number(r.n);
      else c.invited = Number(r.n);
      out.set(r.room_id, c);
    }
    return out;
  }

  /**
   * Hero candidates per room ("m.heroes"): the first `n` members other than
   * the user, ordered by stream ordering; joined and invited members first,
   * then (for rooms with none) those who left or were banned.
   */
  async heroCandidates(roomIds: readonly string[], userId: string, n: number): Promise<RoomMemberRef[]> {
    if (roomIds.length === 0) return [];
    const rows = await this.sql.query<{ room_id: string; user_id: string; membership: string; stream_ordering: number }>(
      `SELECT room_id, user_id, membership, stream_ordering FROM (
         SELECT room_id, user_id, membership, stream_ordering,
                row_number() OVER (PARTITION BY room_id, membership IN ('join', 'invite') ORDER BY stream_ordering) AS rn
           FROM room_memberships WHERE room_id = ANY($1::text[]) AND user_id <> $2
       ) t WHERE rn <= $3 ORDER BY stream_ordering`,
      [roomIds, userId, n],
    );
    return rows.map((r) => ({ roomId: r.room_id, userId: r.user_id, membership: r.membership, streamOrdering: Number(r.stream_ordering) }));
  }

  /** Currently joined members of the given rooms. */
  async joinedMembers(roomIds: readonly string[]): Promise<string[]> {
    if (roomIds.length === 0) return [];
    const rows = await this.sql.query<{ user_id: string }>(
      "SELECT DISTINCT user_id FROM room_memberships WHERE room_id = ANY($1::text[]) AND membership = 'join'",
      [roomIds],
    );
    return rows.map((r) => r.user_id);
  }

  /**
   * Many state groups at once (snapshot plus deltas, as the rooms' state
   * storage keeps them): two queries however many groups, where reading them
   * one by one costs two each.
   */
  async loadStateGroups(groupIds: readonly number[]): Promise<Map<number, Map<StateMapKey, string>>> {
    const out = new Map<number, Map<StateMapKey, string>>();
    if (groupIds.length === 0) return out;
    const chains = await this.sql.query<{ root: number; id: number; chain_length: number }>(
      `WITH RECURSIVE chain(root, id, prev_group, chain_length) AS (
         SELECT id, id, prev_group, chain_length FROM state_groups WHERE id = ANY($1::int8[])
         UNION ALL
         SELECT c.root, g.id, g.prev_group, g.chain_length FROM state_groups g JOIN chain c ON g.id = c.prev_group
       )
       SELECT root, id, chain_length FROM chain`,
      [groupIds],
    );
    const members = new Map<number, Array<{ id: number; len: number }>>();
    for (const c of chains) {
      const list = members.get(Number(c.root)) ?? [];
      list.push({ id: Number(c.id), len: Number(c.chain_length) });
      members.set(Number(c.root), list);
    }
    const ids = [...new Set(chains.map((c) => Number(c.id)))];
    const entries = await this.sql.query<{ group_id: number; type: string; state_key: string; event_id: string | null }>(
      "SELECT group_id, type, state_key, event_id FROM state_group_entries WHERE group_id = ANY($1::int8[])",
      [ids],
    );
    const byGroup = new Map<number, typeof entries>();
    for (const e of entries) {
      const list = byGroup.get(Number(e.group_id)) ?? [];
      list.push(e);
      byGroup.set(Number(e.group_id), list);
    }
    for (const [root, chain] of members) {
      // Oldest (the snapshot) first, then each delta; a null event id removes the key.
      chain.sort((a, b) => a.len - b.len);
      const state = new Map<StateMapKey, string>();
      for (const g of chain) {
        for (const e of byGroup.get(g.id) ?? []) {
          const k = stateMapKey(e.type, e.state_key);
          if (e.event_id === null) state.delete(k);
          else state.set(k, e.event_id);
        }
      }
      out.set(root, state);
    }
    return out;
  }
}
