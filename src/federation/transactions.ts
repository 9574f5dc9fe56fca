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
import type { KeyRequest, RemoteKeyStore } from "./key-store.js";

export interface RoomInput {
  persist(roomId: string, pdu: Pdu, opts: PersistOptions): Promise<PersistResult>;
}

export interface TransactionDeps {
  input: RoomInput;
  keys: Pick<RemoteKeyStore, "prefetch" | "lookup">;
  client: Pick<FederationClient, "get">;
  roomVersion(roomId: string): Promise<RoomVersion | undefined>;
  /** The room's server ACL (server-acls.ts); every server is allowed when absent. */
  serverAllowedInRoom?(roomId: string, serverName: string): Promise<boolean>;
  log: Logger;
}

export type PduResults = Record<string, { error?: string }>;

/** How many missing auth events one PDU may make us fetch (recursively). */
const MAX_AUTH_FETCHES_PER_PDU = 100;

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

function eventIdOf(pdu: Pdu, rv: RoomVersion): string | undefined {
  try {
    return computeEventId(pdu, rv);
  } catch {
    return undefined;
  }
}

export class TransactionReceiver {
  constructor(private readonly d: TransactionDeps) {}

  /** Processes every PDU of a transaction from `origin`, in order. */
  async receive(origin: string, pdus: readonly unknown[]): Promise<PduResults> {
    const results: PduResults = {};
    for (const raw of pdus) {
      let id: string | undefined;
      let outcome: { error?: string };
      try {
        const r = await this.one(origin, raw);
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

  private async one(origin: string, raw: unknown): Promise<{ id?: string; outcome: { error?: string } }> {
    if (!isJsonObject(raw)) return { outcome: { error: "PDU is not an object" } };
    const roomId = getOwn(raw, "room_id");
    if (typeof roomId !== "string" || !isValidRoomId(roomId)) return { outcome: { error: "PDU has no valid room_id" } };
    const rv = await this.d.roomVersion(roomId);
    if (rv === undefined) return { outcome: { error: `Unknown room ${roomId}` } };
    const pdu = raw as Pdu;
    const denied = await this.aclDenied(origin, roomId, pdu, rv);
    if (denied) return denied;
    const budget = { left: MAX_AUTH_FETCHES_PER_PDU };
    const result = await this.persistWithAuth(origin, roomId, rv, pdu, "new", budget, 0);
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

  /** Persists a PDU; when its auth events are unknown, fetches them from the origin (outliers) and tries again. */
  private async persistWithAuth(
    origin: string,
    roomId: string,
    rv: RoomVersion,
    pdu: Pdu,
    kind: "new" | "outlier",
    budget: { left: number },
    depth: number,
  ): Promise<PersistResult> {
    await this.d.keys.prefetch(keyRequestsOf(pdu, rv));
    const opts: PersistOptions = { kind, keys: this.d.keys.lookup, origin };
    let result = await this.d.input.persist(roomId, pdu, opts);
    if (result.status !== "missing_auth_events" || depth >= 10) return result;
    for (const id of result.missing) {
      if (budget.left-- <= 0) return result;
      const fetched = await this.fetchEvent(origin, id);
      if (fetched === undefined) return result;
      const fr = await this.persistWithAuth(origin, roomId, rv, fetched, "outlier", budget, depth + 1);
      if (fr.eventId !== id) {
        this.d.log.info({ origin, asked: id, got: fr.eventId }, "fetched auth event has another id");
        return result;
      }
      if (fr.status === "missing_auth_events" || fr.status === "invalid") return result;
    }
    result = await this.d.input.persist(roomId, pdu, opts);
    return result;
  }

  /** GET /_matrix/federation/v1/event/{eventId}: a transaction holding the one PDU. */
  private async fetchEvent(origin: string, eventId: string): Promise<Pdu | undefined> {
    try {
      const res: JsonObject = await this.d.client.get(origin, `/_matrix/federation/v1/event/${encodeURIComponent(eventId)}`);
      const pdus = getOwn(res, "pdus");
      const first = Array.isArray(pdus) ? pdus[0] : undefined;
      return isJsonObject(first) ? (first as Pdu) : undefined;
    } catch (err) {
      this.d.log.info({ origin, event_id: eventId, err: (err as Error).message }, "fetching an auth event failed");
      return undefined;
    }
  }
}
