/**
 * The room input for PDUs from other servers, with what the receipt checks
 * need gathered first: the keys the PDU's signatures name are prefetched
 * (check 2), and auth events the room lacks are fetched from the origin and
 * stored as outliers before the PDU is tried again ("Retrieving event
 * authorisation information"), recursively within a budget.
 */
import type { Pdu, RoomVersion } from "../../core/index.js";
import type { Logger } from "../../logging.js";
import type { PersistOptions, PersistResult } from "../../rooms/write-plan.js";
import type { RemoteKeyStore } from "../key-store.js";
import { keyRequestsOf, type RoomInput } from "../transactions.js";
import type { FetchBudget } from "./budget.js";
import type { RemoteEvents } from "./remote-events.js";

export interface AuthedInputDeps {
  input: RoomInput;
  keys: Pick<RemoteKeyStore, "prefetch" | "lookup">;
  remote: RemoteEvents;
  log: Logger;
}

/** How deep a chain of missing auth events is followed. */
const MAX_AUTH_DEPTH = 10;

export type InboundOptions = Omit<PersistOptions, "keys" | "origin">;

export class AuthedInput {
  constructor(private readonly d: AuthedInputDeps) {}

  async persist(origin: string, roomId: string, rv: RoomVersion, pdu: Pdu, opts: InboundOptions, budget: FetchBudget, depth = 0): Promise<PersistResult> {
    await this.d.keys.prefetch(keyRequestsOf(pdu, rv));
    const full: PersistOptions = { ...opts, keys: this.d.keys.lookup, origin };
    const result = await this.d.input.persist(roomId, pdu, full);
    if (result.status !== "missing_auth_events" || depth >= MAX_AUTH_DEPTH) return result;
    for (const id of result.missing) {
      if (budget.expired) return result;
      const fetched = await this.d.remote.event(origin, roomId, rv, id, budget).catch(() => undefined);
      if (fetched === undefined) return result;
      const fr = await this.persist(origin, roomId, rv, fetched, { kind: "outlier" }, budget, depth + 1);
      if (fr.status === "missing_auth_events" || fr.status === "invalid") return result;
    }
    return this.d.input.persist(roomId, pdu, full);
  }
}
