import type { EventStore, LoadedEvent } from "../rooms/event-store.js";
import { withoutIgnored } from "../rooms/ignored-users.js";
import { formatTopoToken, gapBefore } from "../rooms/tokens.js";
import type { HistoryVisibility } from "../rooms/visibility.js";
import type { EventRef, SyncRepo } from "../storage/sync-repo.js";
import { eventPasses, roomPasses, type RoomEventFilter } from "./filter.js";

/** One room's timeline window: events in (since, upto] as the user may see them. */
export interface TimelineRange {
  roomId: string;
  since: number;
  upto: number;
  /**
   * Stream position of the user's latest membership event when they are
   * joined at `upto`: events after it are visible without a state lookup
   * (they were joined throughout). Undefined: check every event.
   */
  joinedSince?: number;
}

export interface TimelineResult {
  events: LoadedEvent[];
  limited: boolean;
  /** Set when `events` is not empty: the history token just before the first event. */
  prevBatch?: string;
  /** True when `events` is every event of the range (none filtered out or cut off). */
  complete: boolean;
  /** True when the range held any event at all (shown or not). */
  anyEvents: boolean;
}

// A timeline whose filter or visibility hides most events stops scanning here
// and reports `limited`, so one odd room cannot make a /sync unbounded.
const MAX_SCAN = 2000;

export interface TimelineDeps {
  repo: SyncRepo;
  /** Where the first page of each window is read (a cache shared by woken syncs); default `repo`. */
  tails?: Pick<SyncRepo, "timelineTails">;
  store: EventStore;
  visibility: HistoryVisibility;
  /** Senders whose non-state events the user ignores ("Ignoring Users"). */
  ignored: ReadonlySet<string>;
}

/**
 * Loads the timelines of many rooms: the newest `limit` events of each range
 * that pass the filter and history visibility ("History visibility" in the
 * client-server API, applied by the same code as /messages), plus whether
 * more were left out (`limited`).
 */
export async function loadTimelines(
  deps: TimelineDeps,
  userId: string,
  ranges: readonly TimelineRange[],
  limit: number,
  filter: RoomEventFilter | undefined,
): Promise<Map<string, TimelineResult>> {
  const out = new Map<string, TimelineResult>();
  // Rooms sharing a window are fetched with one query.
  const groups = new Map<string, TimelineRange[]>();
  for (const r of ranges) {
    if (!roomPasses(filter, r.roomId)) {
      out.set(r.roomId, { events: [], limited: false, complete: false, anyEvents: false });
      continue;
    }
    const key = `${r.since}:${r.upto}`;
    const list = groups.get(key) ?? [];
    list.push(r);
    groups.set(key, list);
  }
  for (const list of groups.values()) {
    const { since, upto } = list[0]!;
    const tails = await (deps.tails ?? deps.repo).timelineTails(
      list.map((r) => r.roomId),
      since,
      upto,
      limit + 1,
    );
    const allIds = [...tails.values()].flat().map((e) => e.eventId);
    const loaded = await deps.store.getEvents(allIds);
    // The state groups visibility will read, in one batch (the store's own cache is small).
    const groupIds = new Set<number>();
    for (const r of list) {
      for (const ref of tails.get(r.roomId) ?? []) {
        const e = loaded.get(ref.eventId);
        if (e && e.row.stateBefore !== null && (r.joinedSince === undefined || e.row.streamOrdering <= r.joinedSince)) groupIds.add(e.row.stateBefore);
      }
    }
    const groups = await deps.repo.loadStateGroups([...groupIds]);
    for (const r of list) {
      for (const ref of tails.get(r.roomId) ?? []) {
        const g = loaded.get(ref.eventId)?.row.stateBefore;
        if (g !== undefined && g !== null && groups.has(g)) deps.store.rememberStateGroup(g, groups.get(g)!);
      }
      out.set(r.roomId, await oneRoom(deps, userId, r, tails.get(r.roomId) ?? [], loaded, limit, filter));
    }
  }
  return out;
}

async function oneRoom(
  deps: TimelineDeps,
  userId: string,
  range: TimelineRange,
  firstBatch: EventRef[],
  loaded: Map<string, LoadedEvent>,
  limit: number,
  filter: RoomEventFilter | undefined,
): Promise<TimelineResult> {
  // Newest first while collecting.
  const kept: LoadedEvent[] = [];
  let batch = firstBatch;
  let scanned = 0;
  let exhausted = firstBatch.length < limit + 1;
  let capped = false;
  let filteredOut = false;
  for (;;) {
    const events = batch.map((ref) => loaded.get(ref.eventId)).filter((e): e is LoadedEvent => e !== undefined);
    const passing = withoutIgnored(events, deps.ignored).filter((e) => eventPasses(filter, e.row.type, e.row.sender));
    const shown = await visible(deps, userId, range, passing);
    if (shown.length !== batch.length) filteredOut = true;
    kept.push(...shown);
    scanned += batch.length;
    if (kept.length > limit || exhausted) break;
    if (scanned >= MAX_SCAN) {
      capped = true;
      break;
    }
    const oldest = batch[batch.length - 1];
    if (!oldest) break;
    const size = Math.min(Math.max(2 * (limit + 1), 50), MAX_SCAN);
    batch = await deps.repo.timelinePage(range.roomId, range.since, oldest.streamOrdering, size);
    exhausted = batch.length < size;
    const more = await deps.store.getEvents(batch.map((b) => b.eventId));
    for (const [id, e] of more) loaded.set(id, e);
  }
  const limited = kept.length > limit || capped;
  const events = kept.slice(0, limit).reverse();
  const first = events[0];
  return {
    events,
    limited,
    complete: !limited && !filteredOut,
    anyEvents: firstBatch.length > 0,
    prevBatch: first ? formatTopoToken(gapBefore({ depth: first.row.depth, stream: first.row.streamOrdering })) : undefined,
  };
}

/** History visibility, skipping the state lookups for events after the user's (still current) join. */
async function visible(deps: TimelineDeps, userId: string, range: TimelineRange, events: LoadedEvent[]): Promise<LoadedEvent[]> {
  const joinedSince = range.joinedSince;
  if (joinedSince === undefined) return withCurrentState(deps, range.roomId, events, await deps.visibility.filter(userId, range.roomId, events));
  const check = events.filter((e) => e.row.streamOrdering <= joinedSince);
  if (check.length === 0) return events;
  const ok = new Set(await deps.visibility.filter(userId, range.roomId, check));
  return withCurrentState(deps, range.roomId, events, events.filter((e) => e.row.streamOrdering > joinedSince || ok.has(e)));
}

/**
 * State events that are the room's current state stay in a joined user's
 * timeline even where history visibility hides them (as deployed servers do):
 * a client that rejoins must see the memberships it now lives with.
 */
async function withCurrentState(deps: TimelineDeps, roomId: string, events: LoadedEvent[], shown: LoadedEvent[]): Promise<LoadedEvent[]> {
  if (shown.length === events.length) return shown;
  const kept = new Set(shown);
  const hiddenState = events.filter((e) => e.row.stateKey !== null && !kept.has(e));
  if (hiddenState.length === 0) return shown;
  const current = await deps.repo.currentStateAmong(roomId, hiddenState.map((e) => e.row.eventId));
  if (current.size === 0) return shown;
  return events.filter((e) => kept.has(e) || current.has(e.row.eventId));
}
