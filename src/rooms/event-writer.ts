import {
  authTypesForEvent,
  canonicalJsonBytes,
  checkAuth,
  checkPduFormat,
  computeEventId,
  encodeCanonicalJson,
  EventStateMap,
  getOwn,
  hashAndSign,
  isJsonObject,
  MAX_DEPTH,
  MAX_PDU_BYTES,
  resolveState,
  roomIdFromCreateEvent,
  splitStateMapKey,
  stateMapKey,
  toRoomEvent,
  type JsonObject,
  type JsonValue,
  type Pdu,
  type RoomEvent,
  type RoomVersion,
  type SigningKey,
  type StateMapKey,
} from "../core/index.js";
import { forbidden, MatrixError, notFound, tooLarge } from "../http/errors.js";
import type { EventRowFields, EventsRepo, StoredEventRow, TxnKey } from "../storage/events-repo.js";
import type { RoomStateRepo, StateEntry } from "../storage/room-state-repo.js";
import type { RoomsRepo } from "../storage/rooms-repo.js";
import type { Sql, SqlQueryable } from "../storage/sql.js";
import type { EventStore, LoadedEvent, StateIds } from "./event-store.js";
import type { EventPersisted } from "./event-bus.js";
import type { EventIndexer } from "./event-indexer.js";
import { RoomQueue } from "./room-queue.js";
import type { StreamPositions } from "./stream-positions.js";

/** What a local client asks to add to a room. */
export interface EventDraft {
  type: string;
  stateKey?: string;
  sender: string;
  content: JsonObject;
  /** Target of an m.room.redaction (placed top-level or in content per room version). */
  redacts?: string;
}

/** The state before the new event, for checks beyond the auth rules. */
export interface PrecheckContext {
  readonly roomId: string;
  readonly rv: RoomVersion;
  readonly state: StateIds;
  /** The writer's transaction: every read inside a precheck must use it (PGlite has one connection). */
  readonly tx: SqlQueryable;
  get(type: string, stateKey: string): Promise<LoadedEvent | undefined>;
}

/** An existing event id to answer with, or a replacement content (e.g. restricted joins). */
export type PrecheckResult = string | { content: JsonObject } | void;

export interface SendOptions {
  /** Client transaction id: a retry returns the first event's id. */
  txn?: Omit<TxnKey, "roomId">;
  /**
   * Runs inside the room's serial section against the state before the event.
   * Throw a MatrixError to refuse; return an event id to answer with that
   * existing event instead of writing a new one (e.g. unchanged state).
   */
  precheck?: (ctx: PrecheckContext) => Promise<PrecheckResult> | PrecheckResult;
}

export interface PersistedEvent {
  eventId: string;
  roomId: string;
  streamOrdering: number;
  /** True when no new event was written (transaction id retry or deduplicated state). */
  existing: boolean;
}

export interface CreateRoomPlan {
  rv: RoomVersion;
  creator: string;
  /** Content of m.room.create (room_version and, before v11, creator already set). */
  createContent: JsonObject;
  /** Room id for v1-v11; v12 derives it from the create event. */
  roomId?: string;
  visibility: "public" | "private";
  /** Runs in the creation transaction once the room id is known (e.g. alias creation). */
  beforeEvents?: (tx: SqlQueryable, roomId: string) => Promise<void>;
  /** The events after m.room.create, in order. */
  drafts: (roomId: string) => EventDraft[];
}

export interface WriterDeps {
  sql: Sql;
  events: EventsRepo;
  state: RoomStateRepo;
  rooms: RoomsRepo;
  store: EventStore;
  positions: StreamPositions;
  serverName: string;
  signingKey: SigningKey;
  now: () => number;
  /** Random opaque string (used for v1/v2 event ids). */
  randomString: (length: number) => string;
  /** Secondary indexes (relations, search) written in the same transaction. */
  indexer?: EventIndexer;
}

/** A full snapshot is written when a delta chain reaches this length. */
export const STATE_SNAPSHOT_INTERVAL = 100;

interface TxState {
  positions: number[];
  notifications: EventPersisted[];
  redacted: string[];
}

/**
 * The only writer of room events: builds local events (prev_events = forward
 * extremities, auth_events by the spec's selection, depth, hashes,
 * signatures), checks them against the auth rules, and persists them with
 * their state, one at a time per room.
 */
export class RoomWriter {
  private readonly queue = new RoomQueue();

  constructor(private readonly d: WriterDeps) {}

  /** Sends one event into an existing room. */
  send(roomId: string, draft: EventDraft, opts: SendOptions = {}): Promise<PersistedEvent> {
    return this.queue.run(roomId, () =>
      this.inTransaction(roomId, async (tx, txs) => {
        await this.d.state.lockRoom(tx, roomId);
        const rv = await this.d.store.roomVersion(roomId, tx);
        if (!rv) throw notFound("Unknown room");
        // One round trip for the transaction id and the forward extremities (after the lock).
        const head = await this.d.events.writerHead(tx, roomId, opts.txn);
        if (head.txnEventId !== undefined) return { eventId: head.txnEventId, roomId, streamOrdering: 0, existing: true };
        return this.persistOne(tx, txs, roomId, rv, draft, opts, head.extremities);
      }),
    );
  }

  /** Creates a room: m.room.create and the given follow-up events, in one transaction. */
  async createRoom(plan: CreateRoomPlan): Promise<{ roomId: string; eventIds: string[] }> {
    const { rv } = plan;
    // v12: the room id is the create event's reference hash, so the event is built first.
    const unsigned = this.buildCreatePdu(plan);
    if (!rv.roomIdIsCreateEventHash) unsigned.room_id = plan.roomId!;
    // The reference hash covers `hashes`, so the id is taken from the signed event.
    const createPdu = this.sign(unsigned, rv);
    const roomId = rv.roomIdIsCreateEventHash ? roomIdFromCreateEvent(createPdu, rv) : plan.roomId!;
    return this.queue.run(roomId, () =>
      this.inTransaction(roomId, async (tx, txs) => {
        await this.d.state.lockRoom(tx, roomId);
        await this.d.rooms.insert(tx, {
          roomId,
          roomVersion: rv.id,
          creator: plan.creator,
          visibility: plan.visibility,
          createdTs: this.d.now(),
        });
        this.d.store.rememberRoomVersion(roomId, rv);
        await plan.beforeEvents?.(tx, roomId);
        const ids: string[] = [];
        ids.push((await this.persistBuilt(tx, txs, roomId, rv, createPdu, [], new Map(), null)).eventId);
        for (const draft of plan.drafts(roomId)) {
          ids.push((await this.persistOne(tx, txs, roomId, rv, draft, {})).eventId);
        }
        return { roomId, eventIds: ids };
      }),
    );
  }

  private buildCreatePdu(plan: CreateRoomPlan): Pdu {
    const pdu: Pdu = {
      type: "m.room.create",
      state_key: "",
      sender: plan.creator,
      content: plan.createContent,
      origin_server_ts: this.d.now(),
      depth: 1,
      prev_events: [],
      auth_events: [],
    };
    if (plan.rv.eventIdFormat === "v1") pdu.event_id = this.newV1EventId();
    return pdu;
  }

  private newV1EventId(): string {
    return `$${this.d.randomString(18)}:${this.d.serverName}`;
  }

  private sign(pdu: Pdu, rv: RoomVersion): Pdu {
    try {
      return hashAndSign(pdu, this.d.serverName, this.d.signingKey, rv);
    } catch (err) {
      // e.g. floats or unsafe integers in content, which canonical JSON refuses.
      throw new MatrixError(400, "M_BAD_JSON", `Content is not valid canonical JSON: ${(err as Error).message}`);
    }
  }

  private async inTransaction<T>(roomId: string, fn: (tx: SqlQueryable, txs: TxState) => Promise<T>): Promise<T> {
    const txs: TxState = { positions: [], notifications: [], redacted: [] };
    let result: T;
    let handle: SqlQueryable | undefined;
    try {
      result = await this.d.sql.transaction((tx) => {
        handle = tx;
        this.d.store.beginTransaction(tx);
        return fn(tx, txs);
      });
    } catch (err) {
      for (const p of txs.positions) this.d.positions.abandon(p);
      for (const id of txs.redacted) this.d.store.invalidate(id);
      throw err;
    }
    // Cache first, then drop the events this transaction redacted.
    if (handle) this.d.store.commitTransaction(handle, roomId);
    for (const id of txs.redacted) this.d.store.invalidate(id);
    txs.notifications.forEach((n, i) => this.d.positions.commit(txs.positions[i]!, n));
    return result;
  }

  /** State before a new event whose prev_events are `prevs` (resolved when they disagree). */
  private async stateBefore(
    tx: SqlQueryable,
    rv: RoomVersion,
    prevs: LoadedEvent[],
  ): Promise<{ group: number | null; state: StateIds; resolved: boolean }> {
    const groups = [...new Set(prevs.map((p) => p.row.stateAfter))];
    if (groups.length <= 1) {
      const group = groups[0] ?? null;
      return { group, state: await this.d.store.stateGroup(group, tx), resolved: false };
    }
    const sets = await Promise.all(groups.map((g) => this.d.store.stateGroup(g, tx)));
    const resolved = await resolveState(rv, sets, {
      fetchEvents: async (ids) => {
        const loaded = await this.d.store.getEvents(ids, tx);
        return new Map([...loaded].map(([id, e]) => [id, e.event]));
      },
      isRejected: () => false,
    });
    return { group: null, state: resolved, resolved: true };
  }

  private async persistOne(
    tx: SqlQueryable,
    txs: TxState,
    roomId: string,
    rv: RoomVersion,
    draft: EventDraft,
    opts: SendOptions,
    knownExtremities?: string[],
  ): Promise<PersistedEvent> {
    const extremities = knownExtremities ?? (await this.d.state.forwardExtremities(tx, roomId));
    if (extremities.length === 0) throw notFound("Unknown room");
    const prevs = [...(await this.d.store.getEvents(extremities, tx)).values()];
    const before = await this.stateBefore(tx, rv, prevs);

    const loadCache = new Map<StateMapKey, LoadedEvent | undefined>();
    const get = async (type: string, stateKey: string): Promise<LoadedEvent | undefined> => {
      const k = stateMapKey(type, stateKey);
      if (loadCache.has(k)) return loadCache.get(k);
      const id = before.state.get(k);
      const e = id === undefined ? undefined : await this.d.store.getEvent(id, tx);
      loadCache.set(k, e);
      return e;
    };

    if (opts.precheck) {
      const outcome = await opts.precheck({ roomId, rv, state: before.state, tx, get });
      if (typeof outcome === "string") return { eventId: outcome, roomId, streamOrdering: 0, existing: true };
      if (outcome) draft = { ...draft, content: outcome.content };
    }

    // Auth events per "Auth events selection", from the state before the event.
    const skeleton = { type: draft.type, sender: draft.sender, stateKey: draft.stateKey, content: draft.content };
    const authPairs = authTypesForEvent(skeleton, rv);
    const authEvents: LoadedEvent[] = [];
    for (const p of authPairs) {
      const e = await get(p.type, p.stateKey);
      if (e) authEvents.push(e);
    }
    const depth = Math.min(MAX_DEPTH, Math.max(0, ...prevs.map((p) => p.event.depth)) + 1);
    const ref = (e: LoadedEvent): JsonValue =>
      rv.eventIdFormat === "v1" ? [e.row.eventId, isJsonObject(e.pdu.hashes) ? e.pdu.hashes : {}] : e.row.eventId;

    const content = draft.redacts !== undefined && rv.redactsInContent ? { ...draft.content, redacts: draft.redacts } : draft.content;
    const pdu: Pdu = {
      room_id: roomId,
      type: draft.type,
      sender: draft.sender,
      content,
      origin_server_ts: this.d.now(),
      depth,
      prev_events: prevs.slice(0, 20).map(ref),
      auth_events: authEvents.map(ref),
    };
    if (draft.stateKey !== undefined) pdu.state_key = draft.stateKey;
    if (draft.redacts !== undefined && !rv.redactsInContent) pdu.redacts = draft.redacts;
    if (rv.eventIdFormat === "v1") pdu.event_id = this.newV1EventId();

    // The state the auth rules read: create, power levels, join rules and the memberships involved.
    const authState = new EventStateMap();
    const createEv = await get("m.room.create", "");
    if (createEv) authState.add(createEv.event);
    const jr = await get("m.room.join_rules", "");
    if (jr) authState.add(jr.event);
    for (const e of authEvents) authState.add(e.event);
    const signed = this.sign(pdu, rv);
    return this.persistBuilt(tx, txs, roomId, rv, signed, prevs, before.state, before.group, authState, createEv?.event, before.resolved, opts);
  }

  private async persistBuilt(
    tx: SqlQueryable,
    txs: TxState,
    roomId: string,
    rv: RoomVersion,
    pdu: Pdu,
    prevs: LoadedEvent[],
    stateBefore: StateIds,
    groupBefore: number | null,
    authState: EventStateMap = new EventStateMap(),
    createEvent?: RoomEvent,
    resolved = false,
    opts: SendOptions = {},
  ): Promise<PersistedEvent> {
    const eventId = computeEventId(pdu, rv);
    const event = toRoomEvent(pdu, eventId, rv);

    // Client-server "Size limits": the whole event, signatures included.
    const bytes = canonicalJsonBytes(pdu).byteLength;
    if (bytes > MAX_PDU_BYTES) throw tooLarge(`Event is ${bytes} bytes, over the ${MAX_PDU_BYTES} byte limit`);
    const format = checkPduFormat(pdu, rv);
    if (!format.ok) throw new MatrixError(400, "M_BAD_JSON", `Invalid event: ${format.reason}`);
    const auth = checkAuth(event, authState, rv, createEvent ? { createEvent } : {});
    if (!auth.allowed) throw forbidden(auth.reason);

    const streamOrdering = await this.d.positions.allocate(() => this.d.events.nextStreamOrdering(tx));
    txs.positions.push(streamOrdering);

    // State after the event, as a delta against the state before it.
    let groupAfter = groupBefore;
    let stateAfter: StateIds = stateBefore;
    let replacesState: string | null = null;
    const changes: StateEntry[] = [];
    if (resolved) {
      // The resolved state is new: store it as a full snapshot.
      for (const [k, id] of stateBefore) changes.push({ ...splitStateMapKey(k), eventId: id });
    }
    if (event.stateKey !== undefined) {
      const k = stateMapKey(event.type, event.stateKey);
      replacesState = stateBefore.get(k) ?? null;
      const next = new Map(stateBefore);
      next.set(k, eventId);
      stateAfter = next;
      changes.push({ type: event.type, stateKey: event.stateKey, eventId });
    }
    if (changes.length > 0) {
      const chain = groupBefore === null || resolved ? 0 : await this.d.state.stateGroupChainLength(groupBefore, tx);
      if (groupBefore === null || resolved || chain + 1 >= STATE_SNAPSHOT_INTERVAL) {
        const full = [...stateAfter].map(([k, id]) => ({ ...splitStateMapKey(k), eventId: id }));
        groupAfter = await this.d.state.insertStateGroup(tx, roomId, null, 0, full);
      } else {
        groupAfter = await this.d.state.insertStateGroup(tx, roomId, groupBefore, chain + 1, changes.slice(-1));
      }
      this.d.store.rememberStateGroup(groupAfter, stateAfter);
    }

    const pduJson = encodeCanonicalJson(pdu);
    const replaced = prevs.map((p) => p.row.eventId);
    // The extremity update and the transaction id ride on the event's insert statement.
    const folded = !replaced.includes(eventId);
    const fields: EventRowFields = {
      streamOrdering,
      eventId,
      roomId,
      type: event.type,
      stateKey: event.stateKey ?? null,
      sender: event.sender,
      depth: event.depth,
      originServerTs: event.originServerTs,
      pduJson,
      replacesState,
      stateBefore: groupBefore,
      stateAfter: groupAfter,
    };
    await this.d.events.insert(tx, {
      ...fields,
      prevEvents: event.prevEvents,
      authEvents: event.authEvents,
      replaceExtremities: folded ? replaced : undefined,
      txn: folded && opts.txn ? { key: { ...opts.txn, roomId }, createdTs: this.d.now() } : undefined,
    });
    if (!folded) await this.d.state.replaceForwardExtremities(tx, roomId, replaced, eventId);
    await this.d.indexer?.onPersist(tx, {
      eventId,
      roomId,
      type: event.type,
      stateKey: event.stateKey,
      sender: event.sender,
      depth: event.depth,
      streamOrdering,
      originServerTs: event.originServerTs,
      content: event.content,
    });

    // Current state and memberships follow the new (single) forward extremity.
    let membership: string | undefined;
    if (resolved) {
      const current = new Map((await this.d.state.currentState(roomId, tx)).map((e) => [stateMapKey(e.type, e.stateKey), e.eventId!]));
      for (const [k, id] of stateAfter) if (current.get(k) !== id) await this.writeCurrent(tx, roomId, k, id, streamOrdering);
      for (const k of current.keys()) if (!stateAfter.has(k)) await this.d.state.setCurrentState(tx, roomId, splitStateMapKey(k).type, splitStateMapKey(k).stateKey, null);
    } else if (event.stateKey !== undefined) {
      await this.d.state.setCurrentState(tx, roomId, event.type, event.stateKey, eventId);
    }
    if (event.type === "m.room.member" && event.stateKey !== undefined) {
      const m = getOwn(event.content, "membership");
      membership = typeof m === "string" ? m : undefined;
      if (membership) {
        await this.d.state.setMembership(tx, { roomId, userId: event.stateKey, membership, eventId, streamOrdering });
      }
    }

    if (event.type === "m.room.redaction" && event.redacts !== undefined) {
      await this.d.events.insertRedaction(tx, eventId, event.redacts);
      const target = await this.d.events.get(event.redacts, tx);
      if (target && target.roomId === roomId) {
        await this.d.events.markRedacted(tx, event.redacts, eventId);
        await this.d.indexer?.onRedacted(tx, event.redacts);
        txs.redacted.push(event.redacts);
      }
    }
    if (!folded && opts.txn) await this.d.events.insertTxn(tx, { ...opts.txn, roomId }, eventId, this.d.now());

    // Cached once the transaction commits: the next event in the room reads it as prev_event.
    const written: StoredEventRow = { ...fields, outlier: false, rejectedReason: null, redactedBy: null };
    this.d.store.noteWritten(tx, this.d.store.load(written, rv));

    txs.notifications.push({
      roomId,
      eventId,
      streamOrdering,
      type: event.type,
      stateKey: event.stateKey,
      sender: event.sender,
      membership,
    });
    return { eventId, roomId, streamOrdering, existing: false };
  }

  private async writeCurrent(tx: SqlQueryable, roomId: string, k: StateMapKey, eventId: string, streamOrdering: number): Promise<void> {
    const { type, stateKey } = splitStateMapKey(k);
    await this.d.state.setCurrentState(tx, roomId, type, stateKey, eventId);
    if (type === "m.room.member") {
      const e = await this.d.store.getEvent(eventId, tx);
      const m = e ? getOwn(e.event.content, "membership") : undefined;
      if (typeof m === "string") await this.d.state.setMembership(tx, { roomId, userId: stateKey, membership: m, eventId, streamOrdering });
    }
  }
}
