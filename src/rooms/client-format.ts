import { getOwn, isJsonObject, redact, stateMapKey, type JsonObject } from "../core/index.js";
import type { EventsRepo } from "../storage/events-repo.js";
import type { EventStore, LoadedEvent } from "./event-store.js";
import { Lru } from "./lru.js";

// Recent events' shared client-format parts (the events being fanned out right now).
const SHARED_PARTS = 2048;

/** Adds bundled aggregations (`unsigned["m.relations"]`) to served events; see relations.ts. */
export interface AggregationBundler {
  bundle(list: readonly LoadedEvent[], viewer: Viewer, depth: number): Promise<Map<string, JsonObject>>;
}

export interface FormatOptions {
  /** > 0 while formatting events inside a bundle (bundles nest once at most). */
  depth?: number;
  /**
   * Which events get bundled aggregations (default: all). /sync bundles only
   * limited timelines ("Aggregations of child events": clients aggregate what
   * they see in full themselves, so a bundle there would count children twice).
   */
  aggregateFor?: (e: LoadedEvent) => boolean;
}

/** Who the events are formatted for (`unsigned.transaction_id` is only for the sending device). */
export interface Viewer {
  userId: string;
  deviceId: string | null;
}

/**
 * Client-server "Room Event Format": PDU-only fields (hashes, signatures,
 * prev_events, auth_events, depth, origin...) are dropped; `unsigned` gets
 * `age`, `transaction_id` (sender's own device), `redacted_because`, and for
 * state events `prev_content` / `replaces_state` / `prev_sender`.
 */
/** Which senders were erased (accounts area). */
export interface ErasedUsers {
  erasedAmong(userIds: readonly string[]): Promise<ReadonlySet<string>>;
}

export class EventFormatter {
  private bundler: AggregationBundler | undefined;
  private erasure: ErasedUsers | undefined;
  private readonly shared = new Lru<string, SharedEventPart>(SHARED_PARTS);

  constructor(
    private readonly store: EventStore,
    private readonly events: EventsRepo,
    private readonly now: () => number,
  ) {}

  /** Set once at wiring time (the bundler formats related events through this formatter). */
  setBundler(bundler: AggregationBundler): void {
    this.bundler = bundler;
  }

  /** Set once at wiring time. */
  setErasure(erasure: ErasedUsers): void {
    this.erasure = erasure;
  }

  /**
   * "Account deactivation" with `erase`: the user's events are no longer shown
   * to users who were not joined when they were sent (they see them redacted);
   * those who were in the room keep what they saw, as deployed servers do.
   */
  private async prunedForViewer(list: readonly LoadedEvent[], viewer: Viewer | undefined): Promise<Set<string>> {
    const out = new Set<string>();
    if (!this.erasure || !viewer) return out;
    const senders = [...new Set(list.map((e) => e.row.sender).filter((s) => s !== viewer.userId))];
    if (senders.length === 0) return out;
    const erased = await this.erasure.erasedAmong(senders);
    if (erased.size === 0) return out;
    const joinedAt = new Map<number | null, boolean>();
    const memberKey = stateMapKey("m.room.member", viewer.userId);
    for (const e of list) {
      if (!erased.has(e.row.sender)) continue;
      let joined = joinedAt.get(e.row.stateBefore);
      if (joined === undefined) {
        const member = (await this.store.stateEvents(await this.store.stateGroupKeys(e.row.stateBefore, [memberKey]), [memberKey])).get(memberKey);
        joined = member !== undefined && getOwn(member.event.content, "membership") === "join";
        joinedAt.set(e.row.stateBefore, joined);
      }
      if (!joined) out.add(e.row.eventId);
    }
    return out;
  }

  /**
   * Client-format events for `viewer`, with bundled aggregations on non-state
   * events (every endpoint that serves timeline events goes through here).
   */
  async format(list: readonly LoadedEvent[], viewer: Viewer | undefined, opts: FormatOptions = {}): Promise<JsonObject[]> {
    if (list.length === 0) return [];
    const parents = opts.aggregateFor ? list.filter(opts.aggregateFor) : list;
    const bundles = this.bundler && viewer && parents.length ? await this.bundler.bundle(parents, viewer, opts.depth ?? 0) : new Map<string, JsonObject>();
    const txnIds =
      viewer?.deviceId != null
        ? await this.events.txnIdsFor(
            list.filter((e) => e.row.sender === viewer.userId).map((e) => e.row.eventId),
            viewer.userId,
            viewer.deviceId,
          )
        : new Map<string, string>();
    const related = new Set<string>();
    for (const e of list) {
      if (e.row.redactedBy) related.add(e.row.redactedBy);
      if (e.row.replacesState) related.add(e.row.replacesState);
    }
    const relatedEvents = await this.store.getEvents([...related]);
    const pruned = await this.prunedForViewer(list, viewer);
    const now = this.now();
    return list.map((e) => {
      const because = e.row.redactedBy ? relatedEvents.get(e.row.redactedBy) : undefined;
      const prev = e.row.replacesState ? relatedEvents.get(e.row.replacesState) : undefined;
      const prune = pruned.has(e.row.eventId);
      const out = viewerEvent(this.sharedPart(e, prev, prune), e, {
        now,
        transactionId: txnIds.get(e.row.eventId),
        redactedBecause: because ? formatClientEvent(because, { now }) : undefined,
      });
      const relations = bundles.get(e.row.eventId);
      if (relations) (out.unsigned as JsonObject)["m.relations"] = relations;
      return out;
    });
  }

  /**
   * The viewer-independent part of an event's client format, shared by every
   * request that serves the event while it stays as it is (a fan-out to the
   * members of a room formats and serialises it once).
   */
  private sharedPart(e: LoadedEvent, prev: LoadedEvent | undefined, prune: boolean): SharedEventPart {
    const hit = this.shared.get(e.row.eventId);
    if (hit && sharedPartFits(hit, e, prev, prune)) return hit;
    const part = sharedEventPart(e, prev, prune);
    this.shared.set(e.row.eventId, part);
    return part;
  }

  async formatOne(e: LoadedEvent, viewer: Viewer | undefined): Promise<JsonObject> {
    return (await this.format([e], viewer))[0]!;
  }
}

export interface FormatExtras {
  now: number;
  transactionId?: string;
  redactedBecause?: JsonObject;
  /** The state event this one replaced. */
  prev?: LoadedEvent;
  /** Served redacted though no redaction applies (an erased sender's event). */
  prune?: boolean;
}

/**
 * What every viewer of an event gets alike: all of the client format except
 * `unsigned.age` (the viewer's moment), `unsigned.transaction_id` (the sending
 * device only, "Transaction identifiers"), `redacted_because` and bundled
 * aggregations (both formatted per request). Built once per event and shared
 * by the syncs one event wakes.
 */
export interface SharedEventPart {
  /** Top-level fields in output order, `unsigned` left out. */
  readonly fields: JsonObject;
  /** `prev_content`, `replaces_state` and `prev_sender` of a state event that replaced another. */
  readonly prevUnsigned: JsonObject | undefined;
  /** What the part was built from: a later redaction (of the event or of `prev`) makes it stale. */
  readonly redactedBy: string | null;
  readonly prune: boolean;
  readonly prevId: string | undefined;
  readonly prevRedactedBy: string | null | undefined;
}

export function sharedEventPart(e: LoadedEvent, prev: LoadedEvent | undefined, prune: boolean): SharedEventPart {
  // Once a redaction is applied the client sees the redacted form (rules per room version).
  const pdu = e.row.redactedBy || prune ? redact(e.pdu, e.rv) : e.pdu;
  const content = getOwn(pdu, "content");
  const fields: JsonObject = {
    content: isJsonObject(content) ? content : {},
    event_id: e.row.eventId,
    origin_server_ts: e.row.originServerTs,
    room_id: e.event.roomId,
    sender: e.row.sender,
    type: e.row.type,
  };
  if (e.row.stateKey !== null) fields.state_key = e.row.stateKey;
  // v11 moved `redacts` into content; servers keep a top-level copy for older clients.
  if (e.row.type === "m.room.redaction" && e.event.redacts !== undefined) fields.redacts = e.event.redacts;
  let prevUnsigned: JsonObject | undefined;
  if (prev) {
    const prevPdu = prev.row.redactedBy ? redact(prev.pdu, prev.rv) : prev.pdu;
    const pc = getOwn(prevPdu, "content");
    prevUnsigned = { prev_content: isJsonObject(pc) ? pc : {}, replaces_state: prev.row.eventId, prev_sender: prev.row.sender };
  }
  return {
    fields,
    prevUnsigned,
    redactedBy: e.row.redactedBy,
    prune,
    prevId: prev?.row.eventId,
    prevRedactedBy: prev?.row.redactedBy,
  };
}

/** Whether `part` was built from this event as it is now. */
export function sharedPartFits(part: SharedEventPart, e: LoadedEvent, prev: LoadedEvent | undefined, prune: boolean): boolean {
  return (
    part.fields.event_id === e.row.eventId &&
    part.redactedBy === e.row.redactedBy &&
    part.prune === prune &&
    part.prevId === prev?.row.eventId &&
    part.prevRedactedBy === prev?.row.redactedBy
  );
}

/** One viewer's copy of a shared part: its own `unsigned`, the rest shared (never mutate it). */
export function viewerEvent(part: SharedEventPart, e: LoadedEvent, x: FormatExtras): JsonObject {
  const unsigned: JsonObject = { age: Math.max(0, x.now - e.row.originServerTs) };
  if (x.transactionId !== undefined) unsigned.transaction_id = x.transactionId;
  if (x.redactedBecause) unsigned.redacted_because = x.redactedBecause;
  if (part.prevUnsigned) Object.assign(unsigned, part.prevUnsigned);
  return { ...part.fields, unsigned };
}

export function formatClientEvent(e: LoadedEvent, x: FormatExtras): JsonObject {
  return viewerEvent(sharedEventPart(e, x.prev, x.prune === true), e, x);
}

/** Stripped state (client-server "Stripped state"): for invites, knocks and room previews. */
export function strippedState(e: LoadedEvent): JsonObject {
  return {
    content: e.event.content,
    sender: e.row.sender,
    state_key: e.row.stateKey ?? "",
    type: e.row.type,
  };
}
