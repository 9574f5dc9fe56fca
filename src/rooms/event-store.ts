import {
  getRoomVersion,
  redact,
  splitStateMapKey,
  stateMapKey,
  toRoomEvent,
  type JsonObject,
  type Pdu,
  type RoomEvent,
  type RoomVersion,
  type StateMapKey,
} from "../core/index.js";
import type { EventsRepo, StoredEventRow } from "../storage/events-repo.js";
import type { RoomStateRepo } from "../storage/room-state-repo.js";
import type { RoomsRepo } from "../storage/rooms-repo.js";
import type { SqlQueryable } from "../storage/sql.js";
import { Lru } from "./lru.js";

/** A stored event with its parsed PDU and the typed view the auth rules read. */
export interface LoadedEvent {
  readonly row: StoredEventRow;
  readonly rv: RoomVersion;
  /** The PDU as stored (never modified). */
  readonly pdu: Pdu;
  /** Typed view; built from the redacted PDU once a redaction was applied. */
  readonly event: RoomEvent;
}

export type StateIds = ReadonlyMap<StateMapKey, string>;

/** State entries the group cache holds at most, over all its groups. */
export const STATE_CACHE_ENTRIES = 500_000;

/**
 * Read side of rooms: events by id and state groups, with caches. Events and
 * state groups never change once written, except that an event can become
 * redacted (`invalidate`).
 */
export class EventStore {
  private readonly events = new Lru<string, LoadedEvent>(20_000);
  // Bounded by entries too: a group of a 50,000-member room is 50,000 entries
  // (~40 bytes each sharing strings with the groups it was derived from, ~280
  // loaded on its own), so 64 of them would hold hundreds of MB.
  private readonly groups = new Lru<number, StateIds>(64, { weigh: (s) => s.size, maxWeight: STATE_CACHE_ENTRIES });
  private readonly versions = new Map<string, RoomVersion>();
  /** Events a writer's transaction read or wrote, cached only once it commits. */
  private readonly pending = new WeakMap<SqlQueryable, Map<string, LoadedEvent>>();

  constructor(
    private readonly eventsRepo: EventsRepo,
    private readonly stateRepo: RoomStateRepo,
    private readonly roomsRepo: RoomsRepo,
  ) {}

  async roomVersion(roomId: string, q?: SqlQueryable): Promise<RoomVersion | undefined> {
    const cached = this.versions.get(roomId);
    if (cached) return cached;
    const room = await this.roomsRepo.get(roomId, q);
    const rv = room ? getRoomVersion(room.roomVersion) : undefined;
    if (rv) this.versions.set(roomId, rv);
    return rv;
  }

  rememberRoomVersion(roomId: string, rv: RoomVersion): void {
    this.versions.set(roomId, rv);
  }

  load(row: StoredEventRow, rv: RoomVersion): LoadedEvent {
    const pdu = JSON.parse(row.pduJson) as Pdu;
    const view = row.redactedBy ? (redact(pdu, rv) as Pdu) : pdu;
    return { row, rv, pdu, event: toRoomEvent(view, row.eventId, rv) };
  }

  async getEvents(ids: readonly string[], q?: SqlQueryable): Promise<Map<string, LoadedEvent>> {
    const out = new Map<string, LoadedEvent>();
    const missing: string[] = [];
    // Inside a writer's transaction, what it already read or wrote (the event before, in a batch of sends).
    const own = q === undefined ? undefined : this.pending.get(q);
    for (const id of ids) {
      const c = this.events.get(id) ?? own?.get(id);
      if (c) out.set(id, c);
      else missing.push(id);
    }
    if (missing.length) {
      const rows = await this.eventsRepo.getMany(missing, q);
      for (const row of rows) {
        const rv = await this.roomVersion(row.roomId, q);
        if (!rv) continue;
        const loaded = this.load(row, rv);
        // Rows read inside a writer's transaction may still roll back; they are cached
        // when the writer reports the commit (`commitTransaction`).
        if (q === undefined) this.events.set(row.eventId, loaded);
        else own?.set(row.eventId, loaded);
        out.set(row.eventId, loaded);
      }
    }
    return out;
  }

  async getEvent(id: string, q?: SqlQueryable): Promise<LoadedEvent | undefined> {
    return (await this.getEvents([id], q)).get(id);
  }

  /** A writer's transaction starts: collect what it reads and writes (see `commitTransaction`). */
  beginTransaction(tx: SqlQueryable): void {
    this.pending.set(tx, new Map());
  }

  /** An event the writer's transaction inserted (cached if the transaction commits). */
  noteWritten(tx: SqlQueryable, event: LoadedEvent): void {
    this.pending.get(tx)?.set(event.row.eventId, event);
  }

  /** The writer's transaction changed a stored event (applied a redaction to it): read it again. */
  forgetPending(tx: SqlQueryable, eventId: string): void {
    this.pending.get(tx)?.delete(eventId);
  }

  /**
   * The writer's transaction for `roomId` committed: cache the events of that room it
   * read or wrote, so the next event's prev_events and auth events need no reads. Only
   * that room's events: its one writer (which just ran) is the only one that changes
   * them (redaction, invalidated by the writer after this call).
   */
  commitTransaction(tx: SqlQueryable, roomId: string): void {
    for (const e of this.pending.get(tx)?.values() ?? []) if (e.row.roomId === roomId) this.events.set(e.row.eventId, e);
    this.pending.delete(tx);
  }

  /** Forget a cached event (it was redacted). */
  invalidate(eventId: string): void {
    this.events.delete(eventId);
  }

  /** The state (key -> event id) of a state group; `null` is the empty state before a create event. */
  async stateGroup(groupId: number | null, q?: SqlQueryable): Promise<StateIds> {
    if (groupId === null) return new Map();
    const cached = this.groups.get(groupId);
    if (cached) return cached;
    const chain = await this.stateRepo.loadStateGroupChain(groupId, q);
    if (chain.length === 0) throw new Error(`state group ${groupId} not found`);
    // Chain is newest first: apply the snapshot, then deltas from oldest to newest.
    const state = new Map<StateMapKey, string>();
    for (let i = chain.length - 1; i >= 0; i--) {
      for (const e of chain[i]!.entries) {
        const k = stateMapKey(e.type, e.stateKey);
        if (e.eventId === null) state.delete(k);
        else state.set(k, e.eventId);
      }
    }
    this.groups.set(groupId, state);
    return state;
  }

  /**
   * Some keys of a group's state: picked from the cached group when it is
   * cached, else read by key, leaving the group unloaded (a big room's group
   * holds every member; a membership or visibility check needs one or two).
   */
  async stateGroupKeys(groupId: number | null, keys: readonly StateMapKey[], q?: SqlQueryable): Promise<StateIds> {
    const out = new Map<StateMapKey, string>();
    if (groupId === null || keys.length === 0) return out;
    const cached = this.groups.get(groupId);
    if (cached) {
      for (const k of keys) {
        const id = cached.get(k);
        if (id !== undefined) out.set(k, id);
      }
      return out;
    }
    for (const r of await this.stateRepo.stateGroupKeys(groupId, keys.map(splitStateMapKey), q)) out.set(stateMapKey(r.type, r.stateKey), r.eventId!);
    return out;
  }

  rememberStateGroup(groupId: number, state: StateIds): void {
    this.groups.set(groupId, state);
  }

  /** Loads the events of a state for the given keys (for auth checks and client responses). */
  async stateEvents(state: StateIds, keys?: readonly StateMapKey[], q?: SqlQueryable): Promise<Map<StateMapKey, LoadedEvent>> {
    const wanted = keys ? keys.filter((k) => state.has(k)) : [...state.keys()];
    const ids = wanted.map((k) => state.get(k)!);
    const loaded = await this.getEvents(ids, q);
    const out = new Map<StateMapKey, LoadedEvent>();
    for (const k of wanted) {
      const e = loaded.get(state.get(k)!);
      if (e) out.set(k, e);
    }
    return out;
  }
}

/** Content of a state event in a state, or undefined. */
export function contentOf(events: ReadonlyMap<StateMapKey, LoadedEvent>, type: string, stateKey: string): JsonObject | undefined {
  return events.get(stateMapKey(type, stateKey))?.event.content;
}
