import { encodeCanonicalJson, getOwn, stateMapKey, type RoomEvent, type RoomVersion } from "../core/index.js";
import type { EventsRepo, StoredEventRow } from "../storage/events-repo.js";
import type { RoomStateRepo, StateEntry } from "../storage/room-state-repo.js";
import type { RoomsRepo } from "../storage/rooms-repo.js";
import type { Sql, SqlQueryable } from "../storage/sql.js";
import type { EventPersisted } from "./event-bus.js";
import type { EventIndexer } from "./event-indexer.js";
import type { EventStore, StateIds } from "./event-store.js";
import { diffStates, GraphState, type StateAt } from "./graph-state.js";
import { mayApplyRedaction } from "./redaction-rules.js";
import type { PositionTracker } from "./stream-positions.js";
import type { WritePlan } from "./write-plan.js";

/** The room's forward extremities and current state group, as the writer reads them. */
export interface RoomHead {
  extremities: string[];
  currentGroup: number | null;
}

export interface TxState {
  positions: number[];
  /** Live positions allocated ahead (with the writer's first read), ascending: the next live events take them, the rest are abandoned. */
  spares: number[];
  notifications: EventPersisted[];
  redacted: string[];
  /** Events that waited for a prev_event this transaction persisted, ready to be processed. */
  ready: Array<{ eventId: string; kind: string }>;
}

export interface Written {
  eventId: string;
  streamOrdering: number;
  head: RoomHead;
}

export interface PersisterDeps {
  sql: Sql;
  events: EventsRepo;
  state: RoomStateRepo;
  rooms: RoomsRepo;
  store: EventStore;
  positions: PositionTracker;
  graph: GraphState;
  now: () => number;
  /** Secondary indexes (relations, search, push) written in the same transaction. */
  indexer?: EventIndexer | undefined;
}

/**
 * The storing half of the room writer: a planned event becomes its row and
 * edges, state groups, current state, memberships, redactions and index rows,
 * inside a writer transaction. The checks and the planning are the writer's.
 */
export class EventPersister {
  constructor(private readonly d: PersisterDeps) {}

  /**
   * One writer transaction: positions, notifications and cached events are
   * settled after the commit (or abandoned on a rollback).
   */
  async inTransaction<T>(roomId: string, fn: (tx: SqlQueryable, txs: TxState) => Promise<T>): Promise<T> {
    const txs: TxState = { positions: [], spares: [], notifications: [], redacted: [], ready: [] };
    let result: T;
    let handle: SqlQueryable | undefined;
    try {
      result = await this.d.sql.transaction(async (tx) => {
        handle = tx;
        this.d.store.beginTransaction(tx);
        const r = await fn(tx, txs);
        // Scale-out: other processes learn of these positions with the commit itself.
        // Unused spares go with them (no notification), so nobody waits on those gaps.
        if (this.d.positions.sealing && txs.positions.length + txs.spares.length > 0) {
          const all = [...txs.positions, ...txs.spares];
          await this.d.positions.sealing(tx, all, txs.notifications, [...txs.redacted, ...txs.notifications.map((n) => n.eventId)]);
        }
        return r;
      });
    } catch (err) {
      for (const p of txs.spares) this.d.positions.abandon(p);
      for (const p of txs.positions) this.d.positions.abandon(p);
      for (const id of txs.redacted) this.d.store.invalidate(id);
      throw err;
    }
    // Cache first, then drop the events this transaction redacted.
    if (handle) this.d.store.commitTransaction(handle, roomId);
    for (const id of txs.redacted) this.d.store.invalidate(id);
    for (const p of txs.spares) this.d.positions.abandon(p);
    txs.notifications.forEach((n, i) => this.d.positions.commit(txs.positions[i]!, n));
    return result;
  }

  /** Stores one event as planned: its row and edges, state groups, current state, memberships, redactions. */
  async write(tx: SqlQueryable, txs: TxState, plan: WritePlan): Promise<Written> {
    const { roomId, rv, event, eventId } = plan;
    let streamOrdering: number;
    if (plan.live) {
      streamOrdering = txs.spares.shift() ?? (await this.d.positions.allocate(() => this.d.events.nextStreamOrdering(tx)));
      txs.positions.push(streamOrdering);
    } else {
      streamOrdering = await this.d.events.nextNonLiveOrdering(tx);
    }

    // State before and after the event, and the room's current state once it is persisted.
    let beforeGroup: number | null = null;
    let afterGroup: number | null = null;
    let afterState: StateIds | undefined;
    let currentAfter: number | null = null;
    let currentState: StateIds | undefined;
    let replacesState: string | null = null;
    if (plan.before) {
      beforeGroup = plan.before.group;
      if (beforeGroup === null && plan.before.state.size > 0) {
        beforeGroup = await this.d.graph.save(tx, roomId, plan.before.state, plan.beforeBase);
      }
      const beforeAt: StateAt = { group: beforeGroup, state: plan.before.state };
      if (event.stateKey !== undefined && plan.rejectedReason === null) {
        const k = stateMapKey(event.type, event.stateKey);
        replacesState = plan.before.state.get(k) ?? null;
        afterState = GraphState.after(plan.before.state, event, eventId);
        afterGroup = await this.d.graph.save(tx, roomId, afterState, beforeAt, [{ type: event.type, stateKey: event.stateKey, eventId }]);
      } else {
        // "Rejection": the state after a rejected event is the state before it.
        afterState = plan.before.state;
        afterGroup = beforeGroup;
      }
      if (plan.live && plan.current) {
        if (plan.current === "after") {
          currentAfter = afterGroup;
          currentState = afterState;
        } else {
          currentState = plan.current.state;
          currentAfter = plan.current.group ?? (await this.d.graph.save(tx, roomId, plan.current.state, { group: afterGroup, state: afterState }));
        }
      }
    }

    const fields: StoredEventRow = {
      streamOrdering,
      eventId,
      roomId,
      type: event.type,
      stateKey: event.stateKey ?? null,
      sender: event.sender,
      depth: event.depth,
      originServerTs: event.originServerTs,
      pduJson: encodeCanonicalJson(plan.pdu),
      replacesState,
      stateBefore: beforeGroup,
      stateAfter: afterGroup,
      currentAfter,
      outlier: plan.outlier,
      rejectedReason: plan.rejectedReason,
      softFailed: plan.softFailed,
      redactedBy: null,
    };
    const inserted = this.d.events.insert(tx, {
      ...fields,
      prevEvents: event.prevEvents,
      authEvents: event.authEvents,
      replaceExtremities: plan.live ? (plan.replaces ?? []) : undefined,
      txn: plan.live && plan.txn ? { key: { ...plan.txn, roomId }, createdTs: this.d.now() } : undefined,
      missingPrevs: plan.missingPrevs ? { ids: plan.missingPrevs, kind: plan.kind } : undefined,
      replacesOutlier: plan.replacesOutlier,
    });
    // Not awaited yet: what follows (current state, redactions, the indexes' statements) goes out behind it,
    // pipelined on the same connection, where it runs after it. Its own error comes first when it fails.
    inserted.catch(() => undefined);
    let membership: string | undefined;
    try {
      // Current state rows and memberships follow the resolved current state.
      const before = plan.currentBefore;
      const currentStateChanged = Boolean(plan.live && currentState && before && currentAfter !== before.group);
      if (plan.live && currentState && before && currentAfter !== before.group) {
        const changes: StateEntry[] =
          plan.current === "after" && before.group === beforeGroup && beforeGroup !== null
            ? event.stateKey !== undefined
              ? [{ type: event.type, stateKey: event.stateKey, eventId }]
              : []
            : diffStates(before.state, currentState);
        const withMembership: Array<StateEntry & { membership?: string }> = [];
        for (const c of changes) withMembership.push({ ...c, membership: await this.membershipOf(tx, c, eventId, event) });
        await this.d.state.applyCurrentStateChanges(tx, roomId, streamOrdering, withMembership);
        await this.d.rooms.setCurrentStateGroup(tx, roomId, currentAfter);
      }
      if (event.type === "m.room.member" && event.stateKey !== undefined) {
        const m = getOwn(event.content, "membership");
        membership = typeof m === "string" ? m : undefined;
      }

      const applied = plan.rejectedReason === null && !plan.softFailed;
      if (applied) await this.applyRedactions(tx, txs, plan, beforeGroup);
      if (applied && !plan.outlier) {
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
          currentStateChanged,
        });
      }
      // Events that waited for this one as a prev_event can now be placed in the graph.
      if (plan.before && !plan.fresh) txs.ready.push(...(await this.d.events.resolveMissingPrev(tx, eventId)));
    } catch (err) {
      await inserted;
      throw err;
    }
    await inserted;

    // Not when a redaction that arrived first now applies to it: the stored row says so, read it again.
    if (!txs.redacted.includes(eventId)) this.d.store.noteWritten(tx, this.d.store.load(fields, rv));
    if (plan.live) {
      txs.notifications.push({ roomId, eventId, streamOrdering, type: event.type, stateKey: event.stateKey, sender: event.sender, membership });
    }
    // The head after a live event that cites every forward extremity (room creation chains on it).
    const head: RoomHead = plan.live ? { extremities: [eventId], currentGroup: currentAfter } : { extremities: [], currentGroup: null };
    return { eventId, streamOrdering, head };
  }

  private async membershipOf(tx: SqlQueryable, c: StateEntry, eventId: string, event: RoomEvent): Promise<string | undefined> {
    if (c.type !== "m.room.member" || c.eventId === null) return undefined;
    const content = c.eventId === eventId ? event.content : (await this.d.store.getEvent(c.eventId, tx))?.event.content;
    const m = content ? getOwn(content, "membership") : undefined;
    return typeof m === "string" ? m : undefined;
  }

  /**
   * Redactions: a redaction is recorded whatever its target's state; it is
   * applied to a target that is (or arrives later) in the same room, when the
   * room version's rules let its sender redact that event.
   */
  private async applyRedactions(tx: SqlQueryable, txs: TxState, plan: WritePlan, beforeGroup: number | null): Promise<void> {
    const { event, eventId, roomId, rv } = plan;
    if (event.type === "m.room.redaction" && event.redacts !== undefined) {
      await this.d.events.insertRedaction(tx, eventId, event.redacts);
      const target = await this.d.store.getEvent(event.redacts, tx);
      if (target && target.row.roomId === roomId && (await this.mayRedact(tx, event, beforeGroup, target.event, rv))) {
        await this.d.events.markRedacted(tx, event.redacts, eventId);
        this.d.store.forgetPending(tx, event.redacts);
        await this.d.indexer?.onRedacted(tx, event.redacts);
        txs.redacted.push(event.redacts);
      }
      return;
    }
    // A redaction that arrived before its target.
    if (plan.fresh) return;
    for (const rid of await this.d.events.redactionsOf(eventId, tx)) {
      const r = await this.d.store.getEvent(rid, tx);
      if (!r || r.row.roomId !== roomId || r.row.rejectedReason !== null || r.row.softFailed || r.row.outlier) continue;
      if (!(await this.mayRedact(tx, r.event, r.row.stateBefore, event, rv))) continue;
      await this.d.events.markRedacted(tx, eventId, rid);
      this.d.store.forgetPending(tx, eventId);
      txs.redacted.push(eventId);
      return;
    }
  }

  private async mayRedact(tx: SqlQueryable, redaction: RoomEvent, stateGroup: number | null, target: RoomEvent, rv: RoomVersion): Promise<boolean> {
    const state = await this.d.store.stateGroup(stateGroup, tx);
    return mayApplyRedaction(redaction, target, rv, await this.d.graph.authStateFor(redaction, rv, state, tx));
  }
}
