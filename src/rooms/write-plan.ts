import type { EventKeyLookup, Pdu, RoomEvent, RoomVersion } from "../core/index.js";
import type { TxnKey } from "../storage/events-repo.js";
import type { StateAt } from "./graph-state.js";

/**
 * How an event enters the room (server-server API):
 * - `new`: a live event (a local send, or a PDU in a federation transaction);
 *   it gets a live stream position and can become a forward extremity.
 * - `outlier`: an event known without its place in the graph (an auth event,
 *   state from /state or send_join); no state, not in any timeline.
 * - `backfill`: history older than what the room has (/backfill, missing
 *   events); served by /messages in topological order, never as new in /sync.
 */
export type PersistKind = "new" | "outlier" | "backfill";

export interface PersistOptions {
  kind: PersistKind;
  /**
   * The state before the event, as event ids that are stored already (e.g.
   * as outliers): from send_join or /state_ids, when prev_events are unknown.
   */
  stateBefore?: readonly string[];
  /**
   * The state after prev_events the room does not have, keyed by prev event
   * id, as event ids that are stored already (outliers): from /state_ids at
   * each. The state before the event is then the resolution of these and the
   * stored prevs' states; the given prevs stay backward extremities.
   */
  prevStates?: Readonly<Record<string, readonly string[]>>;
  /** Server the PDU came from (logs); absent for events built here. */
  origin?: string;
  /**
   * Keys for receipt checks 1-3 (format, signatures, hashes). Without it the
   * caller vouches for signatures (they were checked on the way in).
   */
  keys?: EventKeyLookup;
  /** The room's version when the room is not known yet (joining over federation). */
  roomVersion?: string;
}

/** What happened to a PDU given to the room input. Never an HTTP error: callers decide. */
export type PersistResult =
  /** Live, in the timeline, served to clients. */
  | { readonly status: "accepted"; readonly eventId: string; readonly streamOrdering: number }
  /** Stored as asked (`outlier`, or `backfill` history). */
  | { readonly status: "outlier" | "backfilled"; readonly eventId: string }
  /** Stored as an outlier until the listed prev_events are persisted; then processed again. */
  | { readonly status: "waiting"; readonly eventId: string; readonly missingPrevEvents: readonly string[] }
  /** Passed the checks against its own state, failed against the current state: stored, not served. */
  | { readonly status: "soft_failed"; readonly eventId: string; readonly reason: string }
  /** Failed the authorization rules: stored with the reason (not fetched again), never served. */
  | { readonly status: "rejected"; readonly eventId: string; readonly reason: string }
  /** Already stored; nothing changed. */
  | { readonly status: "duplicate"; readonly eventId: string }
  /** Auth events are unknown: nothing stored (fetch them, persist them as outliers, try again). */
  | { readonly status: "missing_auth_events"; readonly eventId: string; readonly missing: readonly string[] }
  /** Dropped by receipt checks 1-2 (not a valid event, bad signatures) or unknown room: nothing stored. */
  | { readonly status: "invalid"; readonly eventId?: string; readonly reason: string };

/** Everything the writer's transaction needs to store one event; computed before it. */
export interface WritePlan {
  roomId: string;
  rv: RoomVersion;
  pdu: Pdu;
  eventId: string;
  event: RoomEvent;
  kind: PersistKind;
  /** Has a live stream position (kind new and neither rejected nor soft-failed). */
  live: boolean;
  outlier: boolean;
  rejectedReason: string | null;
  softFailed: boolean;
  /** State before the event (null: unknown, for outliers). */
  before: StateAt | null;
  /** When `before` is new (resolved or given), the stored state it is saved against. */
  beforeBase: StateAt | null;
  /**
   * The room's current state after this event, for live events: `"after"`
   * when it is the event's own state after; a resolved state otherwise.
   */
  current?: "after" | StateAt;
  /** The room's current state before this event (what `current` replaces). */
  currentBefore?: StateAt;
  /** Forward extremities this event replaces (live events only). */
  replaces?: readonly string[];
  /** prev_events not yet known: the event waits as an outlier. */
  missingPrevs?: readonly string[];
  /**
   * Built here just now: no stored event can cite it yet (no redaction that
   * arrived early, nothing waiting for it), so those lookups are skipped.
   */
  fresh: boolean;
  /** The row exists as an outlier and is now given its place in the graph. */
  replacesOutlier: boolean;
  txn?: Omit<TxnKey, "roomId">;
}

/** What the room input answers for a planned event once it is stored. */
export function resultOf(plan: WritePlan, streamOrdering: number): PersistResult {
  const eventId = plan.eventId;
  if (plan.rejectedReason !== null) return { status: "rejected", eventId, reason: plan.rejectedReason };
  if (plan.softFailed) return { status: "soft_failed", eventId, reason: "not allowed by the room's current state" };
  if (plan.outlier && plan.missingPrevs?.length) return { status: "waiting", eventId, missingPrevEvents: plan.missingPrevs };
  if (plan.outlier) return { status: "outlier", eventId };
  if (plan.kind === "backfill") return { status: "backfilled", eventId };
  return { status: "accepted", eventId, streamOrdering };
}
