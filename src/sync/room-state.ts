import { stateMapKey, type StateMapKey } from "../core/index.js";
import type { EventStore, LoadedEvent, StateIds } from "../rooms/event-store.js";
import { eventPasses, roomPasses, type RoomEventFilter } from "./filter.js";

/** What a room's `state` (or `state_after`) section should hold. */
export interface StateQuery {
  roomId: string;
  /** The state group to report: the start of the timeline (`state`) or its end (`state_after`). */
  target: number | null;
  /** The state the client already has (its `since`), or undefined for the full state. */
  since: number | null | undefined;
  /** Events already in the timeline, left out of `state` (never of `state_after`). */
  exclude: ReadonlySet<string>;
  /** Users whose member events the client needs when members are lazy-loaded. */
  neededMembers: ReadonlySet<string>;
}

const MEMBER = "m.room.member";
const MEMBER_PREFIX = stateMapKey(MEMBER, "");

/**
 * Builds a state section: the full state of the target group, or what
 * differs from the `since` group. With `lazy_load_members` (Filtering,
 * "Lazy-loading room members") only the member events the client needs to
 * show the timeline's senders (and heroes, and the user) are sent; they are
 * sent even when the client may have them already, which the spec allows
 * (`include_redundant_members` then makes no difference).
 */
export async function stateSection(store: EventStore, q: StateQuery, filter: RoomEventFilter | undefined): Promise<LoadedEvent[]> {
  if (!roomPasses(filter, q.roomId)) return [];
  const target = await store.stateGroup(q.target);
  const base: StateIds | undefined = q.since === undefined ? undefined : await store.stateGroup(q.since);
  const lazy = filter?.lazy_load_members === true;
  const keys: StateMapKey[] = [];
  for (const [key, eventId] of target) {
    if (q.exclude.has(eventId)) continue;
    const changed = base === undefined || base.get(key) !== eventId;
    if (!changed) continue;
    if (lazy && key.startsWith(MEMBER_PREFIX)) continue;
    keys.push(key);
  }
  if (lazy) {
    for (const userId of q.neededMembers) {
      const key = stateMapKey(MEMBER, userId);
      const id = target.get(key);
      if (id !== undefined && !q.exclude.has(id)) keys.push(key);
    }
  }
  const loaded = await store.stateEvents(target, keys);
  const out = [...loaded.values()].filter((e) => eventPasses(filter, e.row.type, e.row.sender));
  // Oldest first, as clients apply them in order.
  out.sort((a, b) => a.row.streamOrdering - b.row.streamOrdering);
  const limit = filter?.limit;
  return limit !== undefined && limit >= 0 && out.length > limit && !lazy ? out.slice(out.length - limit) : out;
}

/** Whether the state has a room name or canonical alias (else clients need m.heroes). */
export function hasNameOrAlias(state: StateIds): boolean {
  return state.has(stateMapKey("m.room.name", "")) || state.has(stateMapKey("m.room.canonical_alias", ""));
}

/** Stripped state for invites and knocks ("Stripped state"): what a client shows before joining. */
export const STRIPPED_STATE_TYPES = [
  "m.room.create",
  "m.room.name",
  "m.room.avatar",
  "m.room.topic",
  "m.room.join_rules",
  "m.room.canonical_alias",
  "m.room.encryption",
];
