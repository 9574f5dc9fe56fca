import { stateMapKey } from "../core/index.js";
import type { LoadedEvent, StateIds } from "../rooms/event-store.js";
import { eventPasses, type RoomEventFilter } from "./filter.js";

/** What a room's `state` (or `state_after`) section should hold. */
export interface StateQuery {
  /** The state to report: at the start of the timeline (`state`) or its end (`state_after`). */
  target: StateIds;
  /** The state the client already has (its `since`), or undefined for the full state. */
  since: StateIds | undefined;
  /** Events already in the timeline, left out of `state` (never of `state_after`). */
  exclude: ReadonlySet<string>;
  /** With lazy-loaded members: the member events the client needs (see lazy-members.ts). */
  lazyMembers: readonly string[] | undefined;
}

const MEMBER = "m.room.member";
const MEMBER_PREFIX = stateMapKey(MEMBER, "");

/**
 * The event ids of a state section: the full target state, or what differs
 * from the `since` state. With `lazy_load_members` (Filtering, "Lazy-loading
 * room members") a full state carries only the member events the client needs
 * to show the timeline; an incremental one carries those plus every membership
 * that changed since `since` (joins and leaves in a gap).
 */
export function stateSectionIds(q: StateQuery): string[] {
  const ids: string[] = [];
  // The same state object on both sides (a gap of messages only, the common
  // incremental sync) has no difference: a big room's state is not walked.
  if (q.since === undefined || q.since !== q.target) {
    for (const [key, eventId] of q.target) {
      if (q.exclude.has(eventId)) continue;
      if (q.since !== undefined && q.since.get(key) === eventId) continue;
      if (q.lazyMembers && q.since === undefined && key.startsWith(MEMBER_PREFIX)) continue;
      ids.push(eventId);
    }
  }
  if (q.lazyMembers) {
    const have = new Set(ids);
    for (const id of q.lazyMembers) if (!have.has(id)) ids.push(id);
  }
  return ids;
}

/** The state filter's types/senders and limit, oldest first as clients apply them. */
export function filterStateEvents(events: LoadedEvent[], filter: RoomEventFilter | undefined): LoadedEvent[] {
  const out = events.filter((e) => eventPasses(filter, e.row.type, e.row.sender));
  out.sort((a, b) => a.row.streamOrdering - b.row.streamOrdering);
  const limit = filter?.limit;
  return limit !== undefined && !filter?.lazy_load_members && out.length > limit ? out.slice(out.length - limit) : out;
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
