import {
  canonicalJsonBytes,
  checkAuth,
  checkPduFormat,
  computeEventId,
  encodeCanonicalJson,
  EventStateMap,
  getOwn,
  getRoomVersion,
  MAX_PDU_BYTES,
  roomIdFromCreateEvent,
  stateMapKey,
  toRoomEvent,
  type Pdu,
  type RoomEvent,
  type RoomVersion,
  type SigningKey,
  type StateMapKey,
} from "../core/index.js";
import { forbidden, MatrixError, notFound, tooLarge } from "../http/errors.js";
import type { EventsRepo, StoredEventRow } from "../storage/events-repo.js";
import type { OutOfBandRepo } from "../storage/out-of-band-repo.js";
import type { SqlQueryable } from "../storage/sql.js";
import type { LoadedEvent } from "./event-store.js";
import { GraphState, type StateAt } from "./graph-state.js";
import { EventPersister, type PersisterDeps, type RoomHead, type TxState, type Written } from "./event-persister.js";
import { BuildError, buildLocalPdu, choosePrevEvents, signPdu, type EventDraft } from "./local-builder.js";
import { checkOutOfBandMembership } from "./out-of-band-input.js";
import { RemoteIntake } from "./remote-intake.js";
import { RoomQueue } from "./room-queue.js";
import { resultOf, type PersistOptions, type PersistResult, type WritePlan } from "./write-plan.js";
import type { CreateRoomPlan, OutOfBandOptions, PersistedEvent, SendOptions } from "./writer-inputs.js";

export type { EventDraft } from "./local-builder.js";
export type { PersistKind, PersistOptions, PersistResult } from "./write-plan.js";
export { STATE_SNAPSHOT_INTERVAL } from "./graph-state.js";
export type { CreateRoomPlan, OutOfBandOptions, PersistedEvent, PrecheckContext, PrecheckResult, SendOptions } from "./writer-inputs.js";
export type { RoomHead } from "./event-persister.js";

/** What the storing half needs (but the graph, which the writer makes), and what the checks and planning need. */
export interface WriterDeps extends Omit<PersisterDeps, "graph"> {
  serverName: string;
  signingKey: SigningKey;
  /** Random opaque string (used for v1/v2 event ids). */
  randomString: (length: number) => string;
  /** Memberships in rooms this server is not in (`persistOutOfBand`). */
  outOfBand?: OutOfBandRepo;
}

interface PendingSend {
  draft: EventDraft;
  opts: SendOptions;
  resolve: (r: PersistedEvent) => void;
  reject: (err: unknown) => void;
}

/** Sends written in one transaction at most: the first one's answer waits for all of them. */
const MAX_SENDS_PER_TRANSACTION = 32;

/** Outliers written per transaction by `persistOutliers`. */
const OUTLIERS_PER_TRANSACTION = 500;

/** How many times a remote event's preparation is redone when the room moved meanwhile. */
const MAX_PREPARE_ATTEMPTS = 5;

/**
 * The only writer of room events, with one input for every event whatever
 * its origin:
 * - `send` / `createRoom`: the local builder turns a client's draft into a
 *   signed PDU on the room's forward extremities; refusals are Matrix errors.
 * - `persist`: a PDU from elsewhere (federation, or tests holding another
 *   server's key), checked as the server-server API's "Checks performed on
 *   receipt of a PDU" says; the result says what happened.
 * Both end in `write`, one transaction per event, one room at a time. State
 * resolution for remote events runs before that transaction.
 */
export class RoomWriter {
  private readonly queue = new RoomQueue();
  /** Per room, the sends waiting for the writer that the next transaction takes together. */
  private readonly openBatches = new Map<string, PendingSend[]>();
  private readonly graph: GraphState;
  private readonly intake: RemoteIntake;
  private readonly persister: EventPersister;

  constructor(private readonly d: WriterDeps) {
    this.graph = new GraphState(d.store, d.events, d.state);
    this.persister = new EventPersister({ ...d, graph: this.graph });
    this.intake = new RemoteIntake({ store: d.store, events: d.events, graph: this.graph });
  }

  /**
   * Sends one event into an existing room. Sends that queue up behind the
   * room's writer are written together, in one transaction, in the order they
   * arrived; each still gets its own answer (a refused one does not hold the
   * others back), and none is answered before the commit.
   */
  send(roomId: string, draft: EventDraft, opts: SendOptions = {}): Promise<PersistedEvent> {
    return new Promise((resolve, reject) => {
      let batch = this.openBatches.get(roomId);
      if (!batch) {
        const fresh: PendingSend[] = [];
        batch = fresh;
        this.openBatches.set(roomId, fresh);
        void this.queue.run(roomId, () => {
          // Later sends start the next batch, queued behind this one.
          if (this.openBatches.get(roomId) === fresh) this.openBatches.delete(roomId);
          return this.sendBatch(roomId, fresh);
        });
      }
      batch.push({ draft, opts, resolve, reject });
      if (batch.length >= MAX_SENDS_PER_TRANSACTION) this.openBatches.delete(roomId);
    });
  }

  private async sendBatch(roomId: string, batch: PendingSend[]): Promise<void> {
    let outcomes: Array<{ ok: PersistedEvent } | { err: unknown }>;
    try {
      outcomes = await this.persister.inTransaction(roomId, (tx, txs) => this.writeSends(tx, txs, roomId, batch));
    } catch (err) {
      if (batch.length === 1) return batch[0]!.reject(err);
      // Something failed beyond one send's own refusal: write each alone, so only the failing one fails.
      for (const item of batch) await this.sendBatch(roomId, [item]);
      return;
    }
    outcomes.forEach((o, i) => ("ok" in o ? batch[i]!.resolve(o.ok) : batch[i]!.reject(o.err)));
  }

  /**
   * The sends of one transaction, in order, each on the head the one before
   * left. A Matrix error refuses that send only (it is raised before anything
   * of it is written); any other error aborts the transaction.
   */
  private async writeSends(
    tx: SqlQueryable,
    txs: TxState,
    roomId: string,
    batch: readonly PendingSend[],
  ): Promise<Array<{ ok: PersistedEvent } | { err: unknown }>> {
    await this.d.state.lockRoom(tx, roomId);
    const rv = await this.d.store.roomVersion(roomId, tx);
    if (!rv) return batch.map(() => ({ err: notFound("Unknown room") }));
    // One round trip for the forward extremities, the current state group (after the lock), the known
    // transaction ids and a stream position per send, allocated in order with every other writer's.
    let first!: Awaited<ReturnType<EventsRepo["batchHead"]>>;
    txs.spares = await this.d.positions.allocateMany(async () => {
      first = await this.d.events.batchHead(
        tx,
        roomId,
        batch.map((b) => b.opts.txn),
        batch.length,
      );
      return first.positions;
    });
    let head: RoomHead = { extremities: first.extremities, currentGroup: first.currentGroup };
    const sent = new Map<string, string>();
    const outcomes: Array<{ ok: PersistedEvent } | { err: unknown }> = [];
    for (const [i, { draft, opts }] of batch.entries()) {
      // "Transaction identifiers": a retry answers with the first event, also when both are in this batch.
      const key = opts.txn ? JSON.stringify([opts.txn.userId, opts.txn.deviceId, opts.txn.kind, opts.txn.txnId]) : undefined;
      const known = first.known.get(i) ?? (key === undefined ? undefined : sent.get(key));
      if (known !== undefined) {
        outcomes.push({ ok: { eventId: known, roomId, streamOrdering: 0, existing: true } });
        continue;
      }
      try {
        const r = await this.persistLocal(tx, txs, roomId, rv, draft, opts, head);
        if ("existing" in r) {
          outcomes.push({ ok: r });
          continue;
        }
        head = r.head;
        if (key !== undefined) sent.set(key, r.eventId);
        outcomes.push({ ok: { eventId: r.eventId, roomId, streamOrdering: r.streamOrdering, existing: false } });
      } catch (err) {
        // (A refusal that hid a failed statement cannot commit the others: COMMIT then raises the rollback.)
        if (!(err instanceof MatrixError)) throw err;
        outcomes.push({ err });
      }
    }
    return outcomes;
  }

  /** Creates a room: m.room.create and the given follow-up events, in one transaction. */
  async createRoom(plan: CreateRoomPlan): Promise<{ roomId: string; eventIds: string[] }> {
    const { rv } = plan;
    const unsigned: Pdu = {
      type: "m.room.create",
      state_key: "",
      sender: plan.creator,
      content: plan.createContent,
      origin_server_ts: this.d.now(),
      depth: 1,
      prev_events: [],
      auth_events: [],
    };
    if (rv.eventIdFormat === "v1") unsigned.event_id = `$${this.d.randomString(18)}:${this.d.serverName}`;
    // v12: the room id is the create event's reference hash, which covers `hashes`: sign first.
    if (!rv.roomIdIsCreateEventHash) unsigned.room_id = plan.roomId!;
    const createPdu = this.signLocal(unsigned, rv);
    const roomId = rv.roomIdIsCreateEventHash ? roomIdFromCreateEvent(createPdu, rv) : plan.roomId!;
    return this.queue.run(roomId, () =>
      this.persister.inTransaction(roomId, async (tx, txs) => {
        await this.d.state.lockRoom(tx, roomId);
        await this.d.rooms.insert(tx, { roomId, roomVersion: rv.id, creator: plan.creator, visibility: plan.visibility, createdTs: this.d.now() });
        this.d.store.rememberRoomVersion(roomId, rv);
        await plan.beforeEvents?.(tx, roomId);
        const eventId = computeEventId(createPdu, rv);
        const event = toRoomEvent(createPdu, eventId, rv);
        const empty: StateAt = { group: null, state: new Map() };
        const check = checkAuth(event, new EventStateMap(), rv);
        if (!check.allowed) throw forbidden(check.reason);
        let w = await this.persister.write(tx, txs, this.livePlan(roomId, rv, createPdu, eventId, event, empty, [], empty, "after"));
        const ids = [eventId];
        for (const draft of plan.drafts(roomId)) {
          const r = await this.persistLocal(tx, txs, roomId, rv, draft, {}, w.head);
          if ("existing" in r) throw new Error("room creation events are never deduplicated");
          w = r;
          ids.push(r.eventId);
        }
        return { roomId, eventIds: ids };
      }),
    );
  }

  /**
   * The room input for PDUs built elsewhere. Never throws for bad input: the
   * result says whether the event was accepted, stored as an outlier or
   * backfilled history, kept waiting for its prev_events, soft-failed,
   * rejected, or dropped. Events that waited for this one are processed
   * before the promise settles.
   */
  persist(roomId: string, pdu: Pdu, opts: PersistOptions): Promise<PersistResult> {
    return this.queue.run(roomId, async () => {
      const work: Array<{ pdu: Pdu; opts: PersistOptions }> = [{ pdu, opts }];
      let first: PersistResult | undefined;
      while (work.length > 0) {
        const item = work.shift()!;
        const { result, ready } = await this.persistRemote(roomId, item.pdu, item.opts);
        first ??= result;
        for (const r of ready) {
          const row = await this.d.events.get(r.eventId);
          if (row?.outlier) work.push({ pdu: JSON.parse(row.pduJson) as Pdu, opts: { kind: r.kind === "backfill" ? "backfill" : "new" } });
        }
      }
      return first!;
    });
  }

  /**
   * A membership of a local user in a room this server is not in: a remote
   * invite, a rejection or retraction sent through another server, a knock
   * (server-server "Inviting to a room", "Leaving Rooms (Rejecting
   * Invites)"). The event has no place in our graph, so it is stored as an
   * outlier; the user's membership and the membership delta stream take a
   * live position, so /sync shows it, with the stripped state given.
   * Refusals are Matrix errors (400 M_INVALID_PARAM) and store nothing.
   */
  persistOutOfBand(roomId: string, input: Pdu, opts: OutOfBandOptions): Promise<PersistedEvent> {
    const rv = opts.roomVersion;
    const { pdu, eventId, event, membership, userId } = checkOutOfBandMembership(roomId, input, rv, opts.keys);
    const repo = this.d.outOfBand;
    if (!repo) throw new Error("out-of-band memberships are not wired");
    return this.queue.run(roomId, () =>
      this.persister
        .inTransaction(roomId, async (tx, txs) => {
          await this.d.state.lockRoom(tx, roomId);
          if (!(await this.d.store.roomVersion(roomId, tx))) {
            await this.d.rooms.insert(tx, { roomId, roomVersion: rv.id, creator: event.sender, visibility: "private", createdTs: this.d.now() });
          }
          const existing = await this.d.events.get(eventId, tx);
          if (existing) {
            const m = await this.d.state.membership(roomId, userId, tx);
            if (m?.eventId === eventId) return { eventId, roomId, streamOrdering: m.streamOrdering, existing: true };
          } else {
            const fields: StoredEventRow = {
              streamOrdering: await this.d.events.nextNonLiveOrdering(tx),
              eventId,
              roomId,
              type: event.type,
              stateKey: userId,
              sender: event.sender,
              depth: event.depth,
              originServerTs: event.originServerTs,
              pduJson: encodeCanonicalJson(pdu),
              replacesState: null,
              stateBefore: null,
              stateAfter: null,
              currentAfter: null,
              outlier: true,
              rejectedReason: null,
              softFailed: false,
              redactedBy: null,
            };
            await this.d.events.insert(tx, { ...fields, prevEvents: event.prevEvents, authEvents: event.authEvents, replacesOutlier: false });
            this.d.store.noteWritten(tx, this.d.store.load(fields, rv));
          }
          if (opts.strippedState) await repo.putStrippedState(tx, eventId, roomId, opts.strippedState);
          const streamOrdering = await this.d.positions.allocate(() => this.d.events.nextStreamOrdering(tx));
          txs.positions.push(streamOrdering);
          await repo.recordMembership(tx, { roomId, userId, membership, eventId, streamOrdering });
          txs.notifications.push({ roomId, eventId, streamOrdering, type: event.type, stateKey: userId, sender: event.sender, membership });
          return { eventId, roomId, streamOrdering, existing: false };
        })
        .then((r) => {
          this.d.store.rememberRoomVersion(roomId, rv);
          return r;
        }),
    );
  }

  /**
   * Outliers given together, e.g. the auth chain and state of a send_join
   * answer, ordered so that each comes after the auth events it cites among
   * them: receipt checks 1-4 for each (as `persist` with kind `outlier`),
   * then the accepted and rejected ones written in a few transactions rather
   * than one each. Results are in the order given.
   */
  persistOutliers(roomId: string, pdus: readonly Pdu[], opts: Omit<PersistOptions, "kind" | "stateBefore">): Promise<PersistResult[]> {
    return this.queue.run(roomId, async () => {
      const results: PersistResult[] = [];
      const plans: WritePlan[] = [];
      const pending = new Map<string, LoadedEvent>();
      // Which of the events are stored already: one read for the batch.
      const rv = (await this.d.store.roomVersion(roomId)) ?? (opts.roomVersion !== undefined ? getRoomVersion(opts.roomVersion) : undefined);
      const ids = rv ? pdus.map((p) => eventIdOrUndefined(p, rv)).filter((id): id is string => id !== undefined) : [];
      const stored = rv ? new Map((await this.d.events.getMany(ids)).map((r) => [r.eventId, r])) : undefined;
      // A room with no events yet, and no redactions among them: nothing stored can cite these (no early redaction to apply).
      const fresh = stored?.size === 0 && (await this.d.events.countInRoom(roomId)) === 0 && !pdus.some((p) => getOwn(p, "type") === "m.room.redaction");
      for (const pdu of pdus) {
        const prepared = await this.intake.prepare(roomId, pdu, { ...opts, kind: "outlier" }, pending, stored);
        if (!("plan" in prepared)) {
          results.push(prepared.result);
          continue;
        }
        const plan = { ...prepared.plan, fresh };
        plans.push(plan);
        const row: StoredEventRow = {
          streamOrdering: 0,
          eventId: plan.eventId,
          roomId,
          type: plan.event.type,
          stateKey: plan.event.stateKey ?? null,
          sender: plan.event.sender,
          depth: plan.event.depth,
          originServerTs: plan.event.originServerTs,
          pduJson: "",
          replacesState: null,
          stateBefore: null,
          stateAfter: null,
          currentAfter: null,
          outlier: true,
          rejectedReason: plan.rejectedReason,
          softFailed: false,
          redactedBy: null,
        };
        pending.set(plan.eventId, { row, rv: plan.rv, pdu: plan.pdu, event: plan.event });
        results.push(resultOf(plan, 0));
      }
      for (let i = 0; i < plans.length; i += OUTLIERS_PER_TRANSACTION) {
        const chunk = plans.slice(i, i + OUTLIERS_PER_TRANSACTION);
        await this.persister.inTransaction(roomId, async (tx, txs) => {
          await this.d.state.lockRoom(tx, roomId);
          if (!(await this.d.store.roomVersion(roomId, tx))) {
            const first = chunk[0]!;
            await this.d.rooms.insert(tx, { roomId, roomVersion: first.rv.id, creator: first.event.sender, visibility: "private", createdTs: this.d.now() });
          }
          // Stored meanwhile by another writer (another process): keep the stored ones.
          const stored = new Set(
            (
              await this.d.events.getMany(
                chunk.map((p) => p.eventId),
                tx,
              )
            ).map((r) => r.eventId),
          );
          for (const plan of chunk) if (!stored.has(plan.eventId)) await this.persister.write(tx, txs, plan);
        });
        this.d.store.rememberRoomVersion(roomId, chunk[0]!.rv);
      }
      return results;
    });
  }

  private async persistRemote(roomId: string, pdu: Pdu, opts: PersistOptions): Promise<{ result: PersistResult; ready: TxState["ready"] }> {
    for (let attempt = 1; ; attempt++) {
      const prepared = await this.intake.prepare(roomId, pdu, opts);
      if (!("plan" in prepared)) return { result: prepared.result, ready: [] };
      const { plan, head } = prepared;
      try {
        const ready: TxState["ready"] = [];
        const streamOrdering = await this.persister.inTransaction(roomId, async (tx, txs) => {
          await this.d.state.lockRoom(tx, roomId);
          if (!(await this.d.store.roomVersion(roomId, tx))) {
            await this.d.rooms.insert(tx, { roomId, roomVersion: plan.rv.id, creator: plan.event.sender, visibility: "private", createdTs: this.d.now() });
          }
          if (head) {
            const now = await this.d.events.writerHead(tx, roomId, undefined);
            if (now.currentGroup !== head.currentGroup || !sameSet(now.extremities, head.extremities)) throw new RoomMoved();
          }
          const w = await this.persister.write(tx, txs, plan);
          ready.push(...txs.ready);
          return w.streamOrdering;
        });
        this.d.store.rememberRoomVersion(roomId, plan.rv);
        return { result: resultOf(plan, streamOrdering), ready };
      } catch (err) {
        // Another process wrote to the room between preparation and the lock: prepare again.
        if (err instanceof RoomMoved && attempt < MAX_PREPARE_ATTEMPTS) continue;
        throw err;
      }
    }
  }

  /** The live-event plan for a local or accepted event. */
  private livePlan(
    roomId: string,
    rv: RoomVersion,
    pdu: Pdu,
    eventId: string,
    event: RoomEvent,
    before: StateAt,
    replaces: readonly string[],
    currentBefore: StateAt,
    current: "after" | StateAt,
    txn?: SendOptions["txn"],
  ): WritePlan {
    return {
      roomId,
      rv,
      pdu,
      eventId,
      event,
      kind: "new",
      live: true,
      outlier: false,
      rejectedReason: null,
      softFailed: false,
      before,
      beforeBase: null,
      current,
      currentBefore,
      replaces,
      replacesOutlier: false,
      fresh: true,
      txn,
    };
  }

  private signLocal(pdu: Pdu, rv: RoomVersion): Pdu {
    try {
      return signPdu(pdu, this.d.serverName, this.d.signingKey, rv);
    } catch (err) {
      throw new MatrixError(400, "M_BAD_JSON", (err as Error).message);
    }
  }

  /** Builds a local event on the room's head, checks it, and writes it. */
  private async persistLocal(
    tx: SqlQueryable,
    txs: TxState,
    roomId: string,
    rv: RoomVersion,
    draft: EventDraft,
    opts: SendOptions,
    head: RoomHead,
  ): Promise<Written | PersistedEvent> {
    if (head.extremities.length === 0) throw notFound("Unknown room");
    const extremities = [...(await this.d.store.getEvents(head.extremities, tx)).values()];
    const prevs = choosePrevEvents(extremities);
    const currentAt: StateAt = { group: head.currentGroup, state: await this.d.store.stateGroup(head.currentGroup, tx) };
    // The current state is the resolution over all forward extremities: citing them all, the event's state before is it.
    const others = extremities.filter((e) => !prevs.includes(e));
    const before = others.length === 0 ? currentAt : await this.graph.resolve(rv, await this.graph.statesAfter(prevs, tx), tx);

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
    const skeleton = { type: draft.type, sender: draft.sender, stateKey: draft.stateKey, content: draft.content };
    const { events: loaded, auth: authKeys } = await this.graph.authEventsFor(skeleton, rv, before.state, tx);
    let pdu: Pdu;
    try {
      pdu = buildLocalPdu({
        roomId,
        rv,
        draft,
        prevs,
        stateEvent: (type, stateKey) => loaded.get(stateMapKey(type, stateKey)),
        now: this.d.now(),
        serverName: this.d.serverName,
        signingKey: this.d.signingKey,
        eventIdLocalpart: this.d.randomString(18),
      });
    } catch (err) {
      if (err instanceof BuildError) throw new MatrixError(400, "M_BAD_JSON", err.message);
      throw err;
    }
    const eventId = computeEventId(pdu, rv);
    const event = toRoomEvent(pdu, eventId, rv);
    // Client-server "Size limits": the whole event, signatures included.
    const bytes = canonicalJsonBytes(pdu).byteLength;
    if (bytes > MAX_PDU_BYTES) throw tooLarge(`Event is ${bytes} bytes, over the ${MAX_PDU_BYTES} byte limit`);
    const format = checkPduFormat(pdu, rv);
    if (!format.ok) throw new MatrixError(400, "M_BAD_JSON", `Invalid event: ${format.reason}`);
    const createEvent = loaded.get(stateMapKey("m.room.create", ""))?.event;
    const auth = checkAuth(event, authKeys, rv, createEvent ? { createEvent } : {});
    if (!auth.allowed) throw forbidden(auth.reason);
    let current: "after" | StateAt = "after";
    if (others.length > 0) {
      // Local events are refused, never soft-failed: check the current state too.
      const now = checkAuth(event, await this.graph.authStateFor(event, rv, currentAt.state, tx), rv, createEvent ? { createEvent } : {});
      if (!now.allowed) throw forbidden(now.reason);
      const after = GraphState.after(before.state, event, eventId);
      current = await this.graph.resolve(rv, [{ group: null, state: after }, ...(await this.graph.statesAfter(others, tx))], tx, event);
    }
    const plan = this.livePlan(
      roomId,
      rv,
      pdu,
      eventId,
      event,
      before,
      prevs.map((p) => p.row.eventId),
      currentAt,
      current,
      opts.txn,
    );
    if (before !== currentAt) plan.beforeBase = { group: prevs[0]!.row.stateAfter, state: await this.d.store.stateGroup(prevs[0]!.row.stateAfter, tx) };
    return this.persister.write(tx, txs, plan);
  }
}

class RoomMoved extends Error {}

function eventIdOrUndefined(pdu: Pdu, rv: RoomVersion): string | undefined {
  try {
    return computeEventId(pdu, rv);
  } catch {
    return undefined;
  }
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  const s = new Set(a);
  return b.every((x) => s.has(x));
}
