import { getOwn, isJsonObject, redact, stateMapKey, type JsonObject } from "../core/index.js";
import type { EventsRepo } from "../storage/events-repo.js";
import type { EventStore, LoadedEvent } from "./event-store.js";

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
      const out = formatClientEvent(e, {
        now,
        transactionId: txnIds.get(e.row.eventId),
        redactedBecause: because ? formatClientEvent(because, { now }) : undefined,
        prev,
        prune: pruned.has(e.row.eventId),
      });
      const relations = bundles.get(e.row.eventId);
      if (relations) (out.unsigned as JsonObject)["m.relations"] = relations;
      return out;
    });
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

export function formatClientEvent(e: LoadedEvent, x: FormatExtras): JsonObject {
  // Once a redaction is applied the client sees the redacted form (rules per room version).
  const pdu = e.row.redactedBy || x.prune ? redact(e.pdu, e.rv) : e.pdu;
  const content = getOwn(pdu, "content");
  const out: JsonObject = {
    content: isJsonObject(content) ? content : {},
    event_id: e.row.eventId,
    origin_server_ts: e.row.originServerTs,
    room_id: e.event.roomId,
    sender: e.row.sender,
    type: e.row.type,
  };
  if (e.row.stateKey !== null) out.state_key = e.row.stateKey;
  // v11 moved `redacts` into content; servers keep a top-level copy for older clients.
  if (e.row.type === "m.room.redaction" && e.event.redacts !== undefined) out.redacts = e.event.redacts;
  const unsigned: JsonObject = { age: Math.max(0, x.now - e.row.originServerTs) };
  if (x.transactionId !== undefined) unsigned.transaction_id = x.transactionId;
  if (x.redactedBecause) unsigned.redacted_because = x.redactedBecause;
  if (x.prev) {
    const prevPdu = x.prev.row.redactedBy ? redact(x.prev.pdu, x.prev.rv) : x.prev.pdu;
    const pc = getOwn(prevPdu, "content");
    unsigned.prev_content = isJsonObject(pc) ? pc : {};
    unsigned.replaces_state = x.prev.row.eventId;
    unsigned.prev_sender = x.prev.row.sender;
  }
  out.unsigned = unsigned;
  return out;
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
