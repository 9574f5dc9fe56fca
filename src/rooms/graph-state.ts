import {
  authTypesForEvent,
  EventStateMap,
  resolveState,
  splitStateMapKey,
  stateMapKey,
  type EventSkeleton,
  type RoomEvent,
  type RoomVersion,
  type StateMapKey,
} from "../core/index.js";
import type { EventsRepo } from "../storage/events-repo.js";
import type { RoomStateRepo, StateEntry } from "../storage/room-state-repo.js";
import type { SqlQueryable } from "../storage/sql.js";
import type { EventStore, LoadedEvent, StateIds } from "./event-store.js";
import { Lru } from "./lru.js";

/** A full snapshot is written when a delta chain reaches this length (small states; see `snapshotInterval`). */
export const STATE_SNAPSHOT_INTERVAL = 100;
/** The longest delta chain, whatever the state's size: bounds the rows one group read touches. */
const MAX_SNAPSHOT_INTERVAL = 1000;

/**
 * How long a delta chain may grow before a full snapshot: a quarter of the
 * state's size, within [STATE_SNAPSHOT_INTERVAL, MAX_SNAPSHOT_INTERVAL]. A
 * snapshot of a big room's state is large (5,000 members: ~5,000 rows), so
 * writing one every 100 changes would cost kilobytes per event; reading a
 * group costs at most the snapshot plus a quarter of it in deltas.
 */
export function snapshotInterval(stateSize: number): number {
  return Math.min(MAX_SNAPSHOT_INTERVAL, Math.max(STATE_SNAPSHOT_INTERVAL, Math.floor(stateSize / 4)));
}
/** A new state is stored as a delta against a known one when it differs in at most this many keys. */
const MAX_DELTA_ENTRIES = 50;

/** A state, and its stored group when it has one (null: not stored yet, or the empty state before a create event). */
export interface StateAt {
  readonly group: number | null;
  readonly state: StateIds;
}

/**
 * State over the event graph: the state before an event with several
 * prev_events (server-server "Room State Resolution"), the current state over
 * all forward extremities, and storing states as groups (deltas against a
 * related group, with a full snapshot every so often).
 *
 * Reads go through an optional queryable: state resolution runs outside the
 * writer's transaction (no queryable) so that a long resolution never holds
 * the database.
 */
export class GraphState {
  /** Delta chain length of recently written or read groups (groups never change). */
  private readonly chains = new Lru<number, number>(4096);

  constructor(
    private readonly store: EventStore,
    private readonly events: EventsRepo,
    private readonly state: RoomStateRepo,
  ) {}

  /**
   * The resolution of several states with the room version's algorithm; a
   * single distinct state is returned as it is. Auth chains come from the
   * auth-chain index.
   */
  async resolve(rv: RoomVersion, states: readonly StateAt[], q?: SqlQueryable, pending?: RoomEvent): Promise<StateAt> {
    const distinct: StateAt[] = [];
    const seenGroups = new Set<number>();
    for (const s of states) {
      if (s.group !== null) {
        if (seenGroups.has(s.group)) continue;
        seenGroups.add(s.group);
      }
      distinct.push(s);
    }
    if (distinct.length === 1) return distinct[0]!;
    if (distinct.length === 0) return { group: null, state: new Map() };
    const rejected = new Set<string>();
    const resolved = await resolveState(
      rv,
      distinct.map((s) => s.state),
      {
        // `pending`: the event being persisted, whose state after is one of the sets but which is not stored yet.
        fetchEvents: async (ids) => {
          const loaded = await this.store.getEvents(ids, q);
          const out = new Map<string, RoomEvent>();
          for (const [id, e] of loaded) {
            if (e.row.rejectedReason !== null) rejected.add(id);
            out.set(id, e.event);
          }
          if (pending && ids.includes(pending.eventId)) out.set(pending.eventId, pending);
          return out;
        },
        authChain: async (ids) => {
          if (!pending || !ids.includes(pending.eventId)) return this.events.authChain(ids, q);
          const stored = ids.filter((id) => id !== pending.eventId);
          const chain = await this.events.authChain([...stored, ...pending.authEvents], q);
          for (const a of pending.authEvents) chain.add(a);
          return chain;
        },
        isRejected: (id) => rejected.has(id),
      },
    );
    return { group: null, state: resolved };
  }

  /** The state after the event `event` given the state before it (rejected events change nothing). */
  static after(before: StateIds, event: RoomEvent, eventId: string): Map<StateMapKey, string> {
    const next = new Map(before);
    if (event.stateKey !== undefined) next.set(stateMapKey(event.type, event.stateKey), eventId);
    return next;
  }

  /** The stored states of events (their state after), keyed by event id. */
  async statesAfter(events: readonly LoadedEvent[], q?: SqlQueryable): Promise<StateAt[]> {
    const out: StateAt[] = [];
    for (const e of events) out.push({ group: e.row.stateAfter, state: await this.store.stateGroup(e.row.stateAfter, q) });
    return out;
  }

  /**
   * The state the auth rules read for `event`: the create event, join rules,
   * and the keys the "Auth events selection" names, loaded from `state`.
   */
  async authStateFor(event: EventSkeleton, rv: RoomVersion, state: StateIds, q?: SqlQueryable): Promise<EventStateMap> {
    return (await this.authEventsFor(event, rv, state, q)).auth;
  }

  /** As `authStateFor`, with the loaded events by key. */
  async authEventsFor(
    event: EventSkeleton,
    rv: RoomVersion,
    state: StateIds,
    q?: SqlQueryable,
  ): Promise<{ events: Map<StateMapKey, LoadedEvent>; auth: EventStateMap }> {
    const keys = new Set<StateMapKey>([stateMapKey("m.room.create", ""), stateMapKey("m.room.join_rules", ""), stateMapKey("m.room.power_levels", "")]);
    for (const p of authTypesForEvent(event, rv)) keys.add(stateMapKey(p.type, p.stateKey));
    const events = await this.store.stateEvents(state, [...keys], q);
    return { events, auth: new EventStateMap([...events.values()].map((e) => e.event)) };
  }

  /**
   * Stores `state` as a group: a delta of `changes` against `base` when the
   * chain is short, otherwise a full snapshot. `changes` are the keys that
   * differ from `base` (computed when omitted).
   */
  async save(tx: SqlQueryable, roomId: string, state: StateIds, base: StateAt | null, changes?: StateEntry[]): Promise<number> {
    let delta = changes;
    if (base && base.group !== null && delta === undefined) {
      delta = diffStates(base.state, state);
    }
    if (base && base.group !== null && delta !== undefined && delta.length <= MAX_DELTA_ENTRIES) {
      const chain = this.chains.get(base.group) ?? (await this.state.stateGroupChainLength(base.group, tx));
      if (chain + 1 < snapshotInterval(state.size)) {
        const id = await this.state.insertStateGroup(tx, roomId, base.group, chain + 1, delta);
        this.store.rememberStateGroup(id, state);
        this.chains.set(id, chain + 1);
        return id;
      }
    }
    const full = [...state].map(([k, id]) => ({ ...splitStateMapKey(k), eventId: id }));
    const id = await this.state.insertStateGroup(tx, roomId, null, 0, full);
    this.store.rememberStateGroup(id, state);
    this.chains.set(id, 0);
    return id;
  }
}

/** The entries that turn `from` into `to` (null event id: the key is removed). */
export function diffStates(from: StateIds, to: StateIds): StateEntry[] {
  const out: StateEntry[] = [];
  for (const [k, id] of to) if (from.get(k) !== id) out.push({ ...splitStateMapKey(k), eventId: id });
  for (const k of from.keys()) if (!to.has(k)) out.push({ ...splitStateMapKey(k), eventId: null });
  return out;
}
