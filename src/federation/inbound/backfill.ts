/**
 * Backfill ("Backfilling and retrieving missing events"): when a client pages
 * back past the start of what this server has of a room, the servers in the
 * room are asked with `/backfill` for the events before its backward
 * extremities. The answer is checked like any received PDU and stored as
 * `backfill` history, oldest first; an event whose own prev_events are still
 * missing is given the state after them (`/state_ids`, see StateAtPrevs).
 * A backward extremity that every asked server answered without is
 * remembered as exhausted; one whose servers failed is retried later.
 */
import { serverNameOf, type RoomVersion } from "../../core/index.js";
import type { Logger } from "../../logging.js";
import type { BackfillRepo } from "../../storage/backfill-repo.js";
import type { AuthedInput } from "./authed-input.js";
import { idList, orderBatch } from "./batch-order.js";
import { BACKFILL_BUDGET, FetchBudget, type BudgetLimits } from "./budget.js";
import { isPlaced, type GraphReads } from "./graph-reads.js";
import type { RemoteEvents } from "./remote-events.js";
import type { StateAtPrevs } from "./state-at-prevs.js";

export interface BackfillDeps {
  repo: BackfillRepo;
  graph: GraphReads;
  remote: RemoteEvents;
  input: AuthedInput;
  states: StateAtPrevs;
  roomVersion(roomId: string): Promise<RoomVersion | undefined>;
  /** Servers with joined members in the room now, this server excluded. */
  servers(roomId: string): Promise<string[]>;
  serverName: string;
  log: Logger;
  now?: () => number;
  limits?: BudgetLimits;
}

/** Backward extremities named in one /backfill request. */
const MAX_FROM = 5;
/** Servers asked in one backfill. */
const MAX_SERVERS = 5;
/** Events asked for in one /backfill request. */
const MAX_LIMIT = 100;

const retryBackoff = (attempts: number) => Math.min(3600_000, 30_000 * 2 ** Math.min(attempts - 1, 7));

export class Backfiller {
  /** One backfill per room at a time: concurrent /messages share it. */
  private readonly running = new Map<string, Promise<number>>();

  constructor(private readonly d: BackfillDeps) {}

  /** Backfills before `depth` in `roomId`; the number of events it placed in the graph. */
  backfill(roomId: string, depth: number, limit: number): Promise<number> {
    const running = this.running.get(roomId);
    if (running) return running;
    const work = this.run(roomId, depth, Math.min(Math.max(limit, 10), MAX_LIMIT)).finally(() => this.running.delete(roomId));
    this.running.set(roomId, work);
    return work;
  }

  private async run(roomId: string, depth: number, limit: number): Promise<number> {
    const now = this.d.now ?? Date.now;
    const rv = await this.d.roomVersion(roomId);
    if (!rv) return 0;
    const extremities = await this.d.repo.backwardExtremities(roomId, depth + 1, now(), MAX_FROM);
    if (extremities.length === 0) return 0;
    const from = extremities.map((x) => x.eventId);
    // The servers of those who cited the missing events first: they had them.
    const citing = extremities.flatMap((x) => x.senders.map((s) => serverNameOf(s))).filter((s): s is string => s !== undefined);
    const candidates = [...new Set([...citing, ...(await this.d.servers(roomId))])].filter((s) => s !== this.d.serverName).slice(0, MAX_SERVERS);
    const budget = new FetchBudget(this.d.limits ?? BACKFILL_BUDGET, now);
    let placed = 0;
    let unreachable = 0;
    for (const server of candidates) {
      if (budget.expired) break;
      try {
        placed += await this.fromServer(server, roomId, rv, from, limit, budget);
      } catch (err) {
        unreachable++;
        this.d.log.info({ room_id: roomId, server, err: (err as Error).message }, "backfill from a server failed");
        continue;
      }
      if (placed > 0) break;
    }
    const rows = await this.d.graph.stored(from);
    const stillMissing = from.filter((id) => !isPlaced(rows.get(id)));
    if (stillMissing.length > 0) {
      // Exhausted once every candidate answered (even an empty answer) without them.
      const exhausted = unreachable === 0 && !budget.expired && candidates.length > 0;
      await this.d.repo.recordAttempt(roomId, stillMissing, exhausted, now(), retryBackoff);
    }
    this.d.log.info({ room_id: roomId, from: from.length, placed, servers: candidates.length }, "backfilled");
    return placed;
  }

  private async fromServer(server: string, roomId: string, rv: RoomVersion, from: string[], limit: number, budget: FetchBudget): Promise<number> {
    const got = await this.d.remote.backfill(server, roomId, rv, from, limit, budget);
    const known = await this.d.graph.stored(got.map((g) => g.id));
    const batch = orderBatch(
      got.filter((g) => !isPlaced(known.get(g.id))),
      "prev_events",
    );
    const inBatch = new Set(batch.map((b) => b.id));
    let placed = 0;
    for (const f of batch) {
      if (budget.expired) break;
      const prevs = idList(f.pdu, "prev_events");
      const prevRows = await this.d.graph.stored(prevs);
      // prev_events neither placed nor coming in this batch: the state after them is fetched.
      const outside = prevs.filter((id) => !isPlaced(prevRows.get(id)) && !inBatch.has(id));
      const prevStates = outside.length > 0 ? await this.d.states.after(server, roomId, rv, outside, budget) : undefined;
      if (outside.length > 0 && prevStates === undefined) continue;
      const r = await this.d.input.persist(server, roomId, rv, f.pdu, { kind: "backfill", ...(prevStates ? { prevStates } : {}) }, budget);
      if (r.status === "backfilled" || r.status === "rejected") placed++;
      else if (r.status !== "waiting" && r.status !== "duplicate") {
        this.d.log.info(
          { room_id: roomId, server, event_id: f.id, status: r.status, reason: "reason" in r ? r.reason : undefined },
          "backfilled PDU not accepted",
        );
      }
    }
    return placed;
  }
}
