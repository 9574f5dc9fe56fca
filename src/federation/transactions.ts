/**
 * Server-server "Transactions": the PDUs of a received transaction go one by
 * one through the room input (`RoomWriter.persist`), which runs the "Checks
 * performed on receipt of a PDU". Auth events the receiver lacks are fetched
 * from the origin ("Retrieving event authorisation information") and stored
 * as outliers first. Each PDU gets its own result; one bad PDU never affects
 * the others.
 */
import { computeEventId, getOwn, isJsonObject, isValidRoomId, signatureKeyIds, type JsonObject, type Pdu, type RoomVersion } from "../core/index.js";
import type { Logger } from "../logging.js";
import type { PersistOptions, PersistResult } from "../rooms/write-plan.js";
import type { FederationClient } from "./client.js";
import { AuthedInput } from "./inbound/authed-input.js";
import { AUTH_BUDGET, FetchBudget, GAP_BUDGET } from "./inbound/budget.js";
import type { GapFiller } from "./inbound/gap-filler.js";
import { MAX_PDU_NESTING, nestsDeeperThan } from "./inbound/pdu-shape.js";
import { RemoteEvents } from "./inbound/remote-events.js";
import type { KeyRequest, RemoteKeyStore } from "./key-store.js";

export interface RoomInput {
  persist(roomId: string, pdu: Pdu, opts: PersistOptions): Promise<PersistResult>;
}

export interface TransactionDeps {
  input: RoomInput;
  keys: Pick<RemoteKeyStore, "prefetch" | "lookup">;
  client: Pick<FederationClient, "get" | "post">;
  roomVersion(roomId: string): Promise<RoomVersion | undefined>;
  /** The room's server ACL (server-acls.ts); every server is allowed when absent. */
  serverAllowedInRoom?(roomId: string, serverName: string): Promise<boolean>;
  log: Logger;
  /** Fetches what precedes a PDU whose prev_events are unknown; without it the PDU waits. */
  gaps?: Pick<GapFiller, "fill">;
}

export type PduResults = Record<string, { error?: string }>;

/** Gap filling within one transaction: one budget, and the PDUs still waiting. */
interface TransactionGaps {
  budget: FetchBudget;
  waiting: Set<string>;
}

/** The servers and key ids whose keys receipt check 2 will ask for. */
export function keyRequestsOf(pdu: Pdu, rv: RoomVersion | undefined): KeyRequest[] {
  const sigs = getOwn(pdu, "signatures");
  if (!isJsonObject(sigs)) return [];
  const ts = getOwn(pdu, "origin_server_ts");
  const atTs = rv?.enforceKeyValidity && typeof ts === "number" ? ts : 0;
  const out: KeyRequest[] = [];
  for (const server of Object.keys(sigs).slice(0, 10)) {
    for (const keyId of signatureKeyIds(pdu, server).slice(0, 5)) out.push({ serverName: server, keyId, minValidUntilTs: atTs });
  }
  return out;
}

/** The event id a v1/v2 PDU carries (for answering PDUs of rooms whose version is unknown). */
function idOf(raw: JsonObject): string | undefined {
  const id = getOwn(raw, "event_id");
  return typeof id === "string" ? id : undefined;
}

function eventIdOf(pdu: Pdu, rv: RoomVersion): string | undefined {
  try {
    return computeEventId(pdu, rv);
  } catch {
    return undefined;
  }
}

export class TransactionReceiver {
  private readonly authed: AuthedInput;

  constructor(private readonly d: TransactionDeps) {
    this.authed = new AuthedInput({ input: d.input, keys: d.keys, remote: new RemoteEvents({ client: d.client, log: d.log }), log: d.log });
  }

  /** Logs a PDU refused before the room input saw it, and answers its error. */
  private refused(origin: string, roomId: string | undefined, reason: string): { error: string } {
    this.d.log.info({ origin, room_id: roomId, reason }, "received PDU not accepted");
    return { error: reason };
  }

  /**
   * "Backfilling and retrieving missing events": the events before a waiting
   * PDU are fetched before the answer, within one budget per transaction. A PDU
   * that only waits for PDUs of this transaction that still wait is left as it
   * is: filling their gap places it too.
   */
  private async fillGap(
    origin: string,
    roomId: string,
    rv: RoomVersion,
    pdu: Pdu,
    waiting: { eventId: string; missingPrevEvents: readonly string[] },
    gaps: TransactionGaps,
  ): Promise<void> {
    const onlyOnThisTransaction = waiting.missingPrevEvents.every((id) => gaps.waiting.has(id));
    if (!this.d.gaps || gaps.budget.expired || onlyOnThisTransaction) {
      gaps.waiting.add(waiting.eventId);
      return;
    }
    if (!(await this.d.gaps.fill(origin, roomId, rv, { pdu, id: waiting.eventId }, gaps.budget))) gaps.waiting.add(waiting.eventId);
  }

  /** Processes every PDU of a transaction from `origin`, in order. */
  async receive(origin: string, pdus: readonly unknown[]): Promise<PduResults> {
    const results: PduResults = {};
    const gaps: TransactionGaps = { budget: new FetchBudget(GAP_BUDGET), waiting: new Set() };
    for (const raw of pdus) {
      let id: string | undefined;
      let outcome: { error?: string };
      try {
        const r = await this.one(origin, raw, gaps);
        id = r.id;
        outcome = r.outcome;
      } catch (err) {
        this.d.log.warn({ origin, err }, "processing a received PDU failed");
        outcome = { error: "Internal error processing the event" };
      }
      id ??= isJsonObject(raw) && typeof getOwn(raw, "event_id") === "string" ? (getOwn(raw, "event_id") as string) : undefined;
      if (id !== undefined && id.startsWith("$")) results[id] = outcome;
    }
    return results;
  }

  private async one(origin: string, raw: unknown, gaps: TransactionGaps): Promise<{ id?: string; outcome: { error?: string } }> {
    if (!isJsonObject(raw)) return { outcome: this.refused(origin, undefined, "PDU is not an object") };
    const roomId = getOwn(raw, "room_id");
    if (typeof roomId !== "string" || !isValidRoomId(roomId)) return { id: idOf(raw), outcome: this.refused(origin, undefined, "PDU has no valid room_id") };
    const rv = await this.d.roomVersion(roomId);
    if (rv === undefined) return { id: idOf(raw), outcome: this.refused(origin, roomId, "unknown room") };
    if (nestsDeeperThan(raw, MAX_PDU_NESTING)) return { id: eventIdOf(raw as Pdu, rv), outcome: this.refused(origin, roomId, "PDU nests JSON too deeply") };
    const pdu = raw as Pdu;
    const denied = await this.aclDenied(origin, roomId, pdu, rv);
    if (denied) return denied;
    const result = await this.authed.persist(origin, roomId, rv, pdu, { kind: "new" }, new FetchBudget(AUTH_BUDGET));
    // "Backfilling and retrieving missing events": unknown prev_events are fetched before the answer.
    if (result.status === "waiting") await this.fillGap(origin, roomId, rv, pdu, result, gaps);
    if (result.status === "rejected" || result.status === "invalid" || result.status === "missing_auth_events") {
      const reason = "reason" in result ? result.reason : `missing auth events ${result.missing.join(", ")}`;
      this.d.log.info({ origin, room_id: roomId, event_id: result.eventId, status: result.status, reason }, "received PDU not accepted");
      // Dropped PDUs carry no id from the room input; the answer is keyed by the id the sender computed.
      return { id: result.eventId ?? eventIdOf(pdu, rv), outcome: { error: reason } };
    }
    return { id: result.eventId, outcome: {} };
  }

  /**
   * "Server Access Control Lists (ACLs)": "If the sending server is denied
   * access to the room identified by room_id, the PDU MUST be ignored with an
   * appropriate error included in the response for the respective event ID."
   */
  private async aclDenied(origin: string, roomId: string, pdu: Pdu, rv: RoomVersion): Promise<{ id?: string; outcome: { error: string } } | undefined> {
    if (!this.d.serverAllowedInRoom || (await this.d.serverAllowedInRoom(roomId, origin))) return undefined;
    this.d.log.info({ origin, room_id: roomId }, "received PDU ignored: the room's server ACL denies its origin");
    return { id: eventIdOf(pdu, rv), outcome: { error: "The room's server ACL denies this server" } };
  }
}
