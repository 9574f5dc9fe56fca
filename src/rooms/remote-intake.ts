import {
  canonicalJsonBytes,
  checkAuth,
  checkAuthAgainstAuthEvents,
  checkPduFormat,
  checkReceivedPdu,
  computeEventId,
  createEventIdFromRoomId,
  getOwn,
  getRoomVersion,
  MAX_PDU_BYTES,
  stateMapKey,
  toRoomEvent,
  type Pdu,
  type RoomEvent,
  type RoomVersion,
  type StateMapKey,
} from "../core/index.js";
import type { EventsRepo, StoredEventRow } from "../storage/events-repo.js";
import type { EventStore, LoadedEvent } from "./event-store.js";
import { GraphState, type StateAt } from "./graph-state.js";
import type { RoomHead } from "./event-writer.js";
import type { PersistOptions, PersistResult, WritePlan } from "./write-plan.js";

export interface IntakeDeps {
  store: EventStore;
  events: EventsRepo;
  graph: GraphState;
}

export type Prepared = { result: PersistResult } | { plan: WritePlan; head?: RoomHead };

/**
 * The server-server API's "Checks performed on receipt of a PDU", run before
 * the writer's transaction (all reads, no writes; state resolution included):
 *   1. a valid event (format, size), else dropped;
 *   2. valid signatures, else dropped;
 *   3. valid content hash, else redacted before further processing;
 *   4. passes the authorization rules against its auth_events, else rejected;
 *   5. passes them against the state before the event, else rejected;
 *   6. passes them against the room's current state, else soft-failed.
 * Steps 1-3 need keys (`PersistOptions.keys`); without them the caller
 * vouches for the signatures and only the format is checked.
 */
export class RemoteIntake {
  constructor(private readonly d: IntakeDeps) {}

  /**
   * `pending`: events of the same batch prepared before this one and not
   * stored yet (outliers written together in one transaction); they count
   * as stored for the duplicate and auth event checks. `stored`: the rows of
   * the batch's events read beforehand (an id not in it is not stored).
   */
  async prepare(
    roomId: string,
    input: Pdu,
    opts: PersistOptions,
    pending?: ReadonlyMap<string, LoadedEvent>,
    stored?: ReadonlyMap<string, StoredEventRow>,
  ): Promise<Prepared> {
    const known = await this.d.store.roomVersion(roomId);
    const rv = known ?? this.versionForNewRoom(input, opts);
    if (!rv) return { result: { status: "invalid", reason: "unknown room" } };

    // 1-3.
    if (canonicalJsonBytes(input).byteLength > MAX_PDU_BYTES) return { result: { status: "invalid", reason: `event is over ${MAX_PDU_BYTES} bytes` } };
    let pdu = input;
    let eventId: string;
    try {
      if (opts.keys) {
        const r = checkReceivedPdu(input, rv, opts.keys);
        if (!r.ok) return { result: { status: "invalid", reason: `check ${r.step}: ${r.reason}` } };
        pdu = r.pdu;
        eventId = r.eventId;
      } else {
        const format = checkPduFormat(input, rv);
        if (!format.ok) return { result: { status: "invalid", reason: format.reason } };
        eventId = computeEventId(input, rv);
      }
    } catch (err) {
      return { result: { status: "invalid", reason: (err as Error).message } };
    }
    const event = toRoomEvent(pdu, eventId, rv);
    if (event.roomId !== roomId) return { result: { status: "invalid", eventId, reason: "event is for another room" } };
    if (!known && event.type !== "m.room.create" && opts.stateBefore === undefined && opts.kind !== "outlier") {
      return { result: { status: "invalid", eventId, reason: "unknown room" } };
    }

    if (pending?.has(eventId)) return { result: { status: "duplicate", eventId } };
    const existing = stored ? stored.get(eventId) : await this.d.events.get(eventId);
    let replacesOutlier = false;
    if (existing) {
      // An outlier (an auth event, or an event that waited for its prev_events) gets its place in the graph now.
      if (!(existing.outlier && existing.rejectedReason === null && opts.kind !== "outlier")) {
        return { result: { status: "duplicate", eventId } };
      }
      replacesOutlier = true;
    }

    // 4. Against the event's own auth_events.
    const authLoaded = await this.d.store.getEvents(pending ? event.authEvents.filter((id) => !pending.has(id)) : event.authEvents);
    for (const id of event.authEvents) {
      const p = pending?.get(id);
      if (p) authLoaded.set(id, p);
    }
    const missingAuth = event.authEvents.filter((id) => !authLoaded.has(id));
    let createEvent: RoomEvent | undefined;
    if (rv.roomIdIsCreateEventHash && event.type !== "m.room.create") {
      const createId = createEventIdFromRoomId(roomId);
      createEvent = pending?.get(createId)?.event ?? (await this.d.store.getEvent(createId))?.event;
      if (!createEvent) missingAuth.push(createId);
    } else {
      createEvent = [...authLoaded.values()].find((e) => e.row.type === "m.room.create")?.event;
    }
    if (missingAuth.length > 0) return { result: { status: "missing_auth_events", eventId, missing: missingAuth } };
    const authEvents = event.authEvents.map((id) => authLoaded.get(id)!);
    const r4 = checkAuthAgainstAuthEvents(event, authEvents.map((e) => e.event), rv, {
      ...(createEvent ? { createEvent } : {}),
      isRejected: (id) => authLoaded.get(id)?.row.rejectedReason != null,
    });
    let rejectedReason: string | null = r4.allowed ? null : `auth events: ${r4.reason}`;

    const base = { roomId, rv, pdu, eventId, event, kind: opts.kind, replacesOutlier, beforeBase: null, fresh: false } as const;
    if (opts.kind === "outlier") {
      return { plan: { ...base, live: false, outlier: true, rejectedReason, softFailed: false, before: null } };
    }

    // The state before the event: given, or from its prev_events (resolved when they disagree).
    let before: StateAt | null = null;
    let beforeBase: StateAt | null = null;
    const prevLoaded = await this.d.store.getEvents(event.prevEvents);
    const missingPrevs = event.prevEvents.filter((id) => {
      const p = prevLoaded.get(id);
      return p === undefined || p.row.outlier;
    });
    if (opts.stateBefore !== undefined) {
      const loaded = await this.d.store.getEvents(opts.stateBefore);
      const missing = opts.stateBefore.filter((id) => !loaded.has(id));
      if (missing.length > 0) return { result: { status: "missing_auth_events", eventId, missing } };
      const state = new Map<StateMapKey, string>();
      for (const e of loaded.values()) {
        if (e.row.stateKey === null || e.row.roomId !== roomId) return { result: { status: "invalid", eventId, reason: "state before holds a non-state event" } };
        state.set(stateMapKey(e.row.type, e.row.stateKey), e.row.eventId);
      }
      before = { group: null, state };
    } else if (missingPrevs.length === 0) {
      const prevs = event.prevEvents.map((id) => prevLoaded.get(id)!);
      const states = await this.d.graph.statesAfter(prevs);
      before = await this.d.graph.resolve(rv, states);
      if (before.group === null) beforeBase = states[0] ?? null;
    }
    const givenPrevStates = opts.prevStates;
    if (before === null && opts.stateBefore === undefined && givenPrevStates !== undefined && missingPrevs.length > 0 && missingPrevs.every((id) => Object.hasOwn(givenPrevStates, id))) {
      // "Room State Resolution": the state before an event is the resolution of the states after its
      // prev_events; for those the room lacks, the states after them as given (from /state_ids).
      const known = event.prevEvents.filter((id) => !missingPrevs.includes(id)).map((id) => prevLoaded.get(id)!);
      const states = await this.d.graph.statesAfter(known);
      for (const id of missingPrevs) {
        const given = await this.givenState(roomId, givenPrevStates[id]!);
        if ("missing" in given) return { result: { status: "missing_auth_events", eventId, missing: given.missing } };
        if ("invalid" in given) return { result: { status: "invalid", eventId, reason: `state after ${id} ${given.invalid}` } };
        states.push({ group: null, state: given.state });
      }
      before = await this.d.graph.resolve(rv, states);
      if (before.group === null) beforeBase = states.find((s) => s.group !== null) ?? null;
    }
    if (before === null) {
      // Unknown prev_events: kept as an outlier until they are persisted ("Backfilling and retrieving missing events").
      return {
        plan: { ...base, live: false, outlier: true, rejectedReason, softFailed: false, before: null, missingPrevs: rejectedReason ? undefined : missingPrevs },
      };
    }

    // 5. Against the state before the event.
    if (rejectedReason === null) {
      const auth = await this.d.graph.authStateFor(event, rv, before.state);
      const r5 = checkAuth(event, auth, rv, createEvent ? { createEvent } : {});
      if (!r5.allowed) rejectedReason = `state before the event: ${r5.reason}`;
    }
    // Unknown prev_events of an event placed by its given state: the room's backward extremities.
    const withState = { ...base, outlier: false, before, beforeBase, missingPrevs: missingPrevs.length > 0 ? missingPrevs : undefined };
    if (rejectedReason !== null || opts.kind === "backfill") {
      return { plan: { ...withState, live: false, rejectedReason, softFailed: false } };
    }

    // 6. Against the current state.
    const head = await this.d.events.writerHead(undefined, roomId, undefined);
    const currentAt: StateAt = { group: head.currentGroup, state: await this.d.store.stateGroup(head.currentGroup) };
    // A room with no current state yet (being joined) takes this event's state: nothing to soft-fail against.
    const joining = head.extremities.length === 0 && head.currentGroup === null;
    if (event.type !== "m.room.create" && !joining && (before.group === null || before.group !== currentAt.group)) {
      const auth = await this.d.graph.authStateFor(event, rv, currentAt.state);
      const r6 = checkAuth(event, auth, rv, createEvent ? { createEvent } : {});
      if (!r6.allowed) {
        return { plan: { ...withState, live: false, rejectedReason: null, softFailed: true } };
      }
    }

    // The new forward extremities and the current state: their resolution.
    const prevSet = new Set(event.prevEvents);
    const replaces = head.extremities.filter((x) => prevSet.has(x));
    const others = head.extremities.filter((x) => !prevSet.has(x));
    let current: "after" | StateAt = "after";
    if (others.length > 0) {
      const otherEvents: LoadedEvent[] = [...(await this.d.store.getEvents(others)).values()];
      const after = GraphState.after(before.state, event, eventId);
      current = await this.d.graph.resolve(rv, [{ group: null, state: after }, ...(await this.d.graph.statesAfter(otherEvents))], undefined, event);
    }
    return {
      plan: { ...withState, live: true, rejectedReason: null, softFailed: false, current, currentBefore: currentAt, replaces },
      head: { extremities: head.extremities, currentGroup: head.currentGroup },
    };
  }

  /** A state after a prev_event, given as stored event ids: every one a state event of this room, one per key. */
  private async givenState(roomId: string, ids: readonly string[]): Promise<{ state: Map<StateMapKey, string> } | { missing: string[] } | { invalid: string }> {
    const loaded = await this.d.store.getEvents(ids);
    const missing = ids.filter((id) => !loaded.has(id));
    if (missing.length > 0) return { missing };
    const state = new Map<StateMapKey, string>();
    for (const e of loaded.values()) {
      if (e.row.stateKey === null || e.row.roomId !== roomId) return { invalid: "holds a non-state event or an event of another room" };
      const k = stateMapKey(e.row.type, e.row.stateKey);
      if (state.has(k)) return { invalid: "holds two events for one state key" };
      state.set(k, e.row.eventId);
    }
    return { state };
  }

  private versionForNewRoom(pdu: Pdu, opts: PersistOptions): RoomVersion | undefined {
    if (opts.roomVersion !== undefined) return getRoomVersion(opts.roomVersion);
    if (getOwn(pdu, "type") !== "m.room.create") return undefined;
    const content = getOwn(pdu, "content");
    const v = content && typeof content === "object" && !Array.isArray(content) ? getOwn(content, "room_version") : undefined;
    // "If the room_version key is absent, the room is version 1."
    return getRoomVersion(typeof v === "string" ? v : "1");
  }
}
