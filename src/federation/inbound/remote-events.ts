/**
 * Events fetched from another server, checked before anything else sees
 * them: each must be a JSON object of the room asked about (not nested
 * deeper than any event needs), and an event
 * asked for by id must have that id (computed per the room version). The
 * signature and auth checks come later, in the room input. Every request
 * takes from a FetchBudget and caps its answer's size.
 */
import { computeEventId, getOwn, isJsonObject, MAX_PDU_BYTES, type JsonObject, type Pdu, type RoomVersion } from "../../core/index.js";
import type { Logger } from "../../logging.js";
import type { FederationClient } from "../client.js";
import type { FetchBudget } from "./budget.js";
import { MAX_PDU_NESTING, nestsDeeperThan } from "./pdu-shape.js";

/** A PDU from elsewhere with the id this server computes for it. */
export interface FetchedPdu {
  pdu: Pdu;
  id: string;
}

/** The most event ids one /state_ids answer may name (state plus auth chain). */
export const MAX_STATE_IDS = 20_000;
/** /event requests in flight at once for one piece of work. */
export const FETCH_PARALLELISM = 8;

const ENVELOPE = 4096;

export interface RemoteEventsDeps {
  client: Pick<FederationClient, "get" | "post">;
  log: Logger;
}

const path = (p: string, ...ids: string[]) => ids.reduce((acc, id) => acc.replace("%s", encodeURIComponent(id)), p);

export class RemoteEvents {
  constructor(private readonly d: RemoteEventsDeps) {}

  /** A PDU of `roomId` with its computed id, or undefined for anything else. */
  static check(raw: unknown, roomId: string, rv: RoomVersion): FetchedPdu | undefined {
    if (!isJsonObject(raw) || getOwn(raw, "room_id") !== roomId || nestsDeeperThan(raw, MAX_PDU_NESTING)) return undefined;
    try {
      return { pdu: raw as Pdu, id: computeEventId(raw as Pdu, rv) };
    } catch {
      return undefined;
    }
  }

  private async getJson(
    budget: FetchBudget,
    origin: string,
    p: string,
    cap: number,
    query?: Record<string, string | number | readonly string[]>,
  ): Promise<JsonObject> {
    budget.take();
    const res = await this.d.client.get(origin, p, { query, maxBytes: budget.maxBytes(cap) });
    budget.spend(Buffer.byteLength(JSON.stringify(res)));
    return res;
  }

  /** GET /_matrix/federation/v1/event/{eventId}: the event, if the answer holds it with that id. */
  async event(origin: string, roomId: string, rv: RoomVersion, eventId: string, budget: FetchBudget): Promise<Pdu | undefined> {
    try {
      const res = await this.getJson(budget, origin, path("/_matrix/federation/v1/event/%s", eventId), MAX_PDU_BYTES + ENVELOPE);
      const pdus = getOwn(res, "pdus");
      const got = RemoteEvents.check(Array.isArray(pdus) ? pdus[0] : undefined, roomId, rv);
      if (got?.id === eventId) return got.pdu;
      this.d.log.info({ origin, room_id: roomId, asked: eventId, got: got?.id }, "fetched event is not the event asked for");
    } catch (err) {
      this.d.log.info({ origin, event_id: eventId, err: (err as Error).message }, "fetching an event failed");
    }
    return undefined;
  }

  /** Several events by id, FETCH_PARALLELISM at a time; those that cannot be had are left out. */
  async events(origin: string, roomId: string, rv: RoomVersion, ids: readonly string[], budget: FetchBudget): Promise<FetchedPdu[]> {
    const out: FetchedPdu[] = [];
    let next = 0;
    const worker = async () => {
      while (next < ids.length && !budget.expired) {
        const id = ids[next++]!;
        const pdu = await this.event(origin, roomId, rv, id, budget);
        if (pdu) out.push({ pdu, id });
      }
    };
    await Promise.all(Array.from({ length: Math.min(FETCH_PARALLELISM, ids.length) }, worker));
    return out;
  }

  /**
   * POST /_matrix/federation/v1/get_missing_events/{roomId}: the events
   * before `latest` that are not before `earliest`, at most `limit`.
   */
  async missingEvents(
    origin: string,
    roomId: string,
    rv: RoomVersion,
    q: { earliest: readonly string[]; latest: readonly string[]; limit: number; minDepth: number },
    budget: FetchBudget,
  ): Promise<FetchedPdu[]> {
    budget.take();
    const body: JsonObject = { earliest_events: [...q.earliest], latest_events: [...q.latest], limit: q.limit, min_depth: q.minDepth };
    const res = await this.d.client.post(origin, path("/_matrix/federation/v1/get_missing_events/%s", roomId), body, {
      maxBytes: budget.maxBytes(q.limit * MAX_PDU_BYTES + ENVELOPE),
    });
    budget.spend(Buffer.byteLength(JSON.stringify(res)));
    return this.pdusOf(getOwn(res, "events"), roomId, rv, q.limit, origin);
  }

  /** GET /_matrix/federation/v1/backfill/{roomId}?v=...&limit=: the given events and those before them. */
  async backfill(origin: string, roomId: string, rv: RoomVersion, from: readonly string[], limit: number, budget: FetchBudget): Promise<FetchedPdu[]> {
    const res = await this.getJson(budget, origin, path("/_matrix/federation/v1/backfill/%s", roomId), limit * MAX_PDU_BYTES + ENVELOPE, { v: from, limit });
    return this.pdusOf(getOwn(res, "pdus"), roomId, rv, limit, origin);
  }

  /**
   * GET /_matrix/federation/v1/state_ids/{roomId}?event_id=: the state before
   * the event and its auth chain, as ids; undefined when the answer is not one.
   */
  async stateIds(origin: string, roomId: string, eventId: string, budget: FetchBudget): Promise<{ state: string[]; authChain: string[] } | undefined> {
    try {
      const res = await this.getJson(budget, origin, path("/_matrix/federation/v1/state_ids/%s", roomId), MAX_STATE_IDS * 300, { event_id: eventId });
      const state = getOwn(res, "pdu_ids");
      const chain = getOwn(res, "auth_chain_ids");
      const ids = (v: unknown) =>
        Array.isArray(v) && v.every((x) => typeof x === "string" && x.startsWith("$") && x.length <= 255) ? (v as string[]) : undefined;
      const s = ids(state);
      const c = ids(chain);
      if (!s || !c || s.length + c.length > MAX_STATE_IDS) {
        this.d.log.info({ origin, room_id: roomId, event_id: eventId }, "state_ids answer is not a list of event ids within limits");
        return undefined;
      }
      return { state: [...new Set(s)], authChain: [...new Set(c)] };
    } catch (err) {
      this.d.log.info({ origin, event_id: eventId, err: (err as Error).message }, "fetching state_ids failed");
      return undefined;
    }
  }

  /**
   * GET /_matrix/federation/v1/state/{roomId}?event_id=: the state before the
   * event and its auth chain as full events (one request where /event would
   * take hundreds); the events of the answer that check out.
   */
  async state(origin: string, roomId: string, rv: RoomVersion, eventId: string, budget: FetchBudget): Promise<FetchedPdu[]> {
    try {
      const res = await this.getJson(budget, origin, path("/_matrix/federation/v1/state/%s", roomId), 64 * 1024 * 1024, { event_id: eventId });
      const pdus = getOwn(res, "pdus");
      const chain = getOwn(res, "auth_chain");
      const all = [...(Array.isArray(pdus) ? pdus : []), ...(Array.isArray(chain) ? chain : [])];
      return this.pdusOf(all, roomId, rv, MAX_STATE_IDS, origin);
    } catch (err) {
      this.d.log.info({ origin, event_id: eventId, err: (err as Error).message }, "fetching state failed");
      return [];
    }
  }

  private pdusOf(list: unknown, roomId: string, rv: RoomVersion, limit: number, origin: string): FetchedPdu[] {
    if (!Array.isArray(list)) return [];
    const out = new Map<string, FetchedPdu>();
    let dropped = 0;
    for (const raw of list.slice(0, limit * 2)) {
      const got = RemoteEvents.check(raw, roomId, rv);
      if (got) out.set(got.id, got);
      else dropped++;
    }
    if (dropped > 0) this.d.log.info({ origin, room_id: roomId, dropped }, "fetched PDUs of another room or without a valid id left out");
    return [...out.values()].slice(0, limit);
  }
}
