import { stateMapKey } from "../core/index.js";
import type { LoadedEvent, StateIds } from "../rooms/event-store.js";
import { Lru } from "../rooms/lru.js";

const MEMBER = "m.room.member";

// Rooms (per user and device) whose sent member events are remembered; past
// this the oldest are forgotten and their members are simply sent again.
const MAX_ROOMS = 20_000;
// A room's remembered members; a larger map starts afresh (redundant sends are allowed).
const MAX_MEMBERS_PER_ROOM = 2_000;
// Entries recorded across all rooms before everything starts afresh, which bounds the memory held.
const MAX_ENTRIES = 500_000;

/**
 * Which member events each device was sent in each room ("Lazy-loading room
 * members": the server MAY assume clients remember the membership events
 * they were sent, and skip those whose membership did not change).
 * Held in memory only: forgetting just means a redundant event later, which
 * the spec allows; it never hides a change, since a changed membership has a
 * new event id.
 */
export class LazyMembersSent {
  private rooms = new Lru<string, Map<string, string>>(MAX_ROOMS);
  /** Entries recorded since the last fresh start (an upper bound of those held). */
  private recorded = 0;

  private key(userId: string, deviceId: string | null, roomId: string): string {
    return `${userId}\u0000${deviceId ?? ""}\u0000${roomId}`;
  }

  /** The member events (user id -> event id) the device has for a room. */
  sent(userId: string, deviceId: string | null, roomId: string): ReadonlyMap<string, string> {
    return this.rooms.get(this.key(userId, deviceId, roomId)) ?? new Map();
  }

  /** A full state for the room was sent: what the device had before no longer counts. */
  reset(userId: string, deviceId: string | null, roomId: string): void {
    this.rooms.delete(this.key(userId, deviceId, roomId));
  }

  record(userId: string, deviceId: string | null, roomId: string, members: Iterable<[string, string]>): void {
    const key = this.key(userId, deviceId, roomId);
    let map = this.rooms.get(key);
    for (const [member, eventId] of members) {
      if (!map) {
        map = new Map();
        this.rooms.set(key, map);
      }
      if (map.size >= MAX_MEMBERS_PER_ROOM) map.clear();
      if (++this.recorded > MAX_ENTRIES) {
        this.rooms = new Lru(MAX_ROOMS);
        this.recorded = 0;
        map = new Map();
        this.rooms.set(key, map);
      }
      map.set(member, eventId);
    }
  }
}

export interface LazyMembersQuery {
  /** The timeline, oldest first. */
  timeline: readonly LoadedEvent[];
  /** The state the section reports (at the start of the timeline, or its end for `state_after`). */
  target: StateIds;
  /** Users needed besides the timeline's senders (the user on a full sync, heroes). */
  extra: Iterable<string>;
  /**
   * "full": the client gets the room's state afresh; "incremental": it has the
   * state at `since`; "after": the section is `state_after` (state at the end).
   */
  mode: "full" | "incremental" | "after";
  /** Member events the device already has; undefined when redundant ones are wanted. */
  sent: ReadonlyMap<string, string> | undefined;
}

/**
 * The member events a lazy-loading client needs to show a timeline (Filtering,
 * "Lazy-loading room members": the membership of each `sender` of the events
 * included). A sender whose membership event came earlier in the timeline needs
 * none. In an incremental sync a sender whose first timeline event is their own
 * membership change gets that event in `state` too, as deployed servers send
 * it (a leave then reads as the member's current membership).
 */
export function lazyMemberIds(q: LazyMembersQuery): string[] {
  const out = new Set<string>();
  const timelineIds = q.mode === "after" ? new Set<string>() : new Set(q.timeline.map((e) => e.row.eventId));
  const add = (userId: string, eventId: string | undefined) => {
    if (eventId === undefined || q.sent?.get(userId) === eventId) return;
    if (timelineIds.has(eventId) && q.mode !== "incremental") return;
    out.add(eventId);
  };
  const seenMembers = new Set<string>();
  const handled = new Set<string>();
  for (const e of q.timeline) {
    const sender = e.row.sender;
    if (!handled.has(sender)) {
      handled.add(sender);
      const ownChange = e.row.type === MEMBER && e.row.stateKey === sender;
      if (q.mode === "after") add(sender, q.target.get(stateMapKey(MEMBER, sender)));
      else if (!seenMembers.has(sender)) add(sender, q.mode === "incremental" && ownChange ? e.row.eventId : q.target.get(stateMapKey(MEMBER, sender)));
    }
    if (e.row.type === MEMBER && e.row.stateKey !== null) seenMembers.add(e.row.stateKey);
  }
  for (const userId of q.extra) {
    if (!handled.has(userId)) add(userId, q.target.get(stateMapKey(MEMBER, userId)));
  }
  return [...out];
}
