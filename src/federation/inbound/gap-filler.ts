/**
 * Filling the gap before a live PDU whose prev_events the room lacks
 * ("Backfilling and retrieving missing events"):
 * 1. `get_missing_events` on the origin, from our forward extremities to the
 *    PDU; the events of the answer that the PDU reaches back to are stored
 *    oldest first as live events (each waits for its own prevs if need be);
 * 2. any event of that chain still waiting is given the state after its
 *    missing prevs (`/state_ids` plus `/event`, see StateAtPrevs) and stored
 *    with it. The room input then processes what waited on it, the PDU last.
 * All of it within one FetchBudget; what the remote sends that does not fit
 * (another room, ids not asked for, bad signatures) is dropped by the checks.
 */
import type { Pdu, RoomVersion } from "../../core/index.js";
import type { Logger } from "../../logging.js";
import type { AuthedInput } from "./authed-input.js";
import { depthOf, idList, orderBatch, reachableFrom } from "./batch-order.js";
import { FetchBudget, GAP_BUDGET, type BudgetLimits } from "./budget.js";
import { isPlaced, type GraphReads } from "./graph-reads.js";
import type { FetchedPdu, RemoteEvents } from "./remote-events.js";
import { unplacedPrevs, type StateAtPrevs } from "./state-at-prevs.js";

export interface GapFillerDeps {
  graph: GraphReads;
  remote: RemoteEvents;
  input: AuthedInput;
  states: StateAtPrevs;
  log: Logger;
  now?: () => number;
  limits?: BudgetLimits;
}

/** get_missing_events `limit`, as deployed servers ask. */
export const MISSING_EVENTS_LIMIT = 10;

export class GapFiller {
  constructor(private readonly d: GapFillerDeps) {}

  /**
   * Fills what is missing before `event` (stored as waiting) within `shared`
   * or a budget of its own; true when it got its place in the graph.
   */
  async fill(origin: string, roomId: string, rv: RoomVersion, event: FetchedPdu, shared?: FetchBudget): Promise<boolean> {
    const budget = shared ?? new FetchBudget(this.d.limits ?? GAP_BUDGET, this.d.now);
    try {
      const chain = await this.missingEvents(origin, roomId, rv, event, budget);
      for (const f of chain) {
        const r = await this.d.input.persist(origin, roomId, rv, f.pdu, { kind: "new" }, budget);
        if (r.status === "rejected" || r.status === "invalid" || r.status === "missing_auth_events") {
          const reason = "reason" in r ? r.reason : `missing auth events ${r.missing.join(", ")}`;
          this.d.log.info({ origin, room_id: roomId, event_id: f.id, status: r.status, reason }, "fetched missing PDU not accepted");
        }
      }
      for (const f of [...chain, event]) {
        if (budget.expired) break;
        const row = (await this.d.graph.stored([f.id])).get(f.id);
        // Placed already (by the room input, once its prevs were), or dropped by the checks.
        if (row === undefined || isPlaced(row) || row.rejected) continue;
        const missing = await unplacedPrevs(this.d.graph, idList(f.pdu, "prev_events"));
        if (missing.length === 0) continue;
        const prevStates = await this.d.states.after(origin, roomId, rv, missing, budget);
        if (prevStates === undefined) break;
        await this.d.input.persist(origin, roomId, rv, f.pdu, { kind: "new", prevStates }, budget);
      }
    } catch (err) {
      this.d.log.info({ origin, room_id: roomId, event_id: event.id, err: (err as Error).message }, "filling a gap before a received PDU stopped");
    }
    const placed = isPlaced((await this.d.graph.stored([event.id])).get(event.id));
    if (!placed) this.d.log.info({ origin, room_id: roomId, event_id: event.id }, "received PDU still waits for its prev_events");
    return placed;
  }

  /** Step 1: the events the origin says lie between our forward extremities and `event`, oldest first. */
  private async missingEvents(origin: string, roomId: string, rv: RoomVersion, event: FetchedPdu, budget: FetchBudget): Promise<FetchedPdu[]> {
    const earliest = await this.d.graph.forwardExtremities(roomId);
    const rows = await this.d.graph.stored(earliest);
    // Events before our forward extremities are not missing: nothing below the lowest is asked for.
    const minDepth = Math.max(0, Math.min(depthOf(event.pdu as Pdu), ...[...rows.values()].map((r) => r.depth)));
    let got: FetchedPdu[];
    try {
      got = await this.d.remote.missingEvents(origin, roomId, rv, { earliest, latest: [event.id], limit: MISSING_EVENTS_LIMIT, minDepth }, budget);
    } catch (err) {
      this.d.log.info({ origin, room_id: roomId, err: (err as Error).message }, "get_missing_events failed");
      return [];
    }
    const wanted = reachableFrom(
      idList(event.pdu, "prev_events"),
      got.filter((g) => g.id !== event.id),
    );
    if (wanted.length < got.length)
      this.d.log.info({ origin, room_id: roomId, left_out: got.length - wanted.length }, "get_missing_events answered events not before the PDU");
    const known = await this.d.graph.stored(wanted.map((w) => w.id));
    return orderBatch(
      wanted.filter((w) => !isPlaced(known.get(w.id))),
      "prev_events",
    );
  }
}
