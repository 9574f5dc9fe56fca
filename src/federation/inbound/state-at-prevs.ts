/**
 * The state after prev_events the room lacks, from the server that sent an
 * event citing them ("Backfilling and retrieving missing events", when
 * get_missing_events leaves a gap): `/state_ids` at each prev gives the state
 * before it and its auth chain as ids; the unknown ones are fetched with
 * `/event` (several at a time) and stored as outliers, auth events first,
 * each through the receipt checks; the prev itself, when it is a state
 * event, is added (when many events are unknown, `/state` gives them in one
 * request). The room input resolves these states with those of the
 * prevs it has (`PersistOptions.prevStates`).
 */
import type { RoomVersion } from "../../core/index.js";
import type { Logger } from "../../logging.js";
import type { AuthedInput } from "./authed-input.js";
import { orderBatch } from "./batch-order.js";
import type { FetchBudget } from "./budget.js";
import { isPlaced, type GraphReads } from "./graph-reads.js";
import type { FetchedPdu, RemoteEvents } from "./remote-events.js";

export interface StateAtPrevsDeps {
  graph: GraphReads;
  remote: RemoteEvents;
  input: AuthedInput;
  log: Logger;
}

/** Unknown state and auth events above which `/state` is asked instead of `/event` for each. */
export const MANY_UNKNOWN = 50;
/** prev_events one event may have fetched state for. */
const MAX_PREVS = 10;

export class StateAtPrevs {
  constructor(private readonly d: StateAtPrevsDeps) {}

  /** The state after each of `prevIds` as stored event ids, or undefined when any of them cannot be had. */
  async after(origin: string, roomId: string, rv: RoomVersion, prevIds: readonly string[], budget: FetchBudget): Promise<Record<string, string[]> | undefined> {
    if (prevIds.length > MAX_PREVS) return undefined;
    const out: Record<string, string[]> = {};
    for (const prev of prevIds) {
      const state = await this.afterOne(origin, roomId, rv, prev, budget);
      if (state === undefined) return undefined;
      out[prev] = state;
    }
    return out;
  }

  private async afterOne(origin: string, roomId: string, rv: RoomVersion, prev: string, budget: FetchBudget): Promise<string[] | undefined> {
    const ids = await this.d.remote.stateIds(origin, roomId, prev, budget);
    if (ids === undefined) return undefined;
    const wanted = [...new Set([...ids.authChain, ...ids.state, prev])];
    const have = await this.d.graph.stored(wanted);
    const unknown = wanted.filter((id) => !have.has(id));
    const fetched: FetchedPdu[] = [];
    if (unknown.length > MANY_UNKNOWN) {
      // Many unknown: the whole state in one request, keeping only the events named.
      const wantedSet = new Set(unknown);
      fetched.push(...(await this.d.remote.state(origin, roomId, rv, prev, budget)).filter((f) => wantedSet.has(f.id)));
    }
    const got = new Set(fetched.map((f) => f.id));
    fetched.push(
      ...(await this.d.remote.events(
        origin,
        roomId,
        rv,
        unknown.filter((id) => !got.has(id)),
        budget,
      )),
    );
    await this.storeOutliers(origin, roomId, rv, fetched, budget);

    const rows = await this.d.graph.stored([...ids.state, prev]);
    const missing = ids.state.filter((id) => !rows.has(id) || rows.get(id)!.roomId !== roomId);
    if (missing.length > 0) {
      this.d.log.info({ origin, room_id: roomId, prev, missing: missing.length }, "state at a missing prev_event could not be fetched and checked");
      return undefined;
    }
    const byKey = new Map<string, string>();
    for (const id of ids.state) {
      const r = rows.get(id)!;
      if (r.stateKey === null) return undefined;
      byKey.set(`${r.type}\u0000${r.stateKey}`, id);
    }
    // "prior to considering any state changes induced by the requested event": add the prev itself.
    const p = rows.get(prev);
    if (p && p.roomId === roomId && p.stateKey !== null && !p.rejected) byKey.set(`${p.type}\u0000${p.stateKey}`, prev);
    return [...byKey.values()];
  }

  /** Stores fetched events as outliers, each after the fetched events it names as auth events. */
  async storeOutliers(origin: string, roomId: string, rv: RoomVersion, fetched: readonly FetchedPdu[], budget: FetchBudget): Promise<void> {
    for (const f of orderBatch(fetched, "auth_events")) {
      const r = await this.d.input.persist(origin, roomId, rv, f.pdu, { kind: "outlier" }, budget);
      if (r.status === "invalid" || r.status === "missing_auth_events") {
        this.d.log.info(
          { origin, room_id: roomId, event_id: f.id, status: r.status, reason: "reason" in r ? r.reason : undefined },
          "fetched state event not stored",
        );
      }
    }
  }
}

/** The ids among `prevIds` that are not placed in the room's graph. */
export async function unplacedPrevs(graph: GraphReads, prevIds: readonly string[]): Promise<string[]> {
  const rows = await graph.stored(prevIds);
  return prevIds.filter((id) => !isPlaced(rows.get(id)));
}
