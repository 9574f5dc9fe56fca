/**
 * The server-server reads of a room's history that other servers make:
 * "Retrieving events" (/event, /state, /state_ids, /timestamp_to_event),
 * "Retrieving event authorisation information" (/event_auth) and
 * "Backfilling and retrieving missing events" (/backfill,
 * /get_missing_events). Every room-scoped read checks the room's server ACL
 * first ("Server Access Control Lists (ACLs)"), then that the asking server
 * is in the room or may see the events asked about (server-visibility.ts).
 */
import type { JsonObject } from "../core/index.js";
import { forbidden, notFound } from "../http/errors.js";
import type { EventStore, LoadedEvent } from "../rooms/event-store.js";
import type { EventsRepo } from "../storage/events-repo.js";
import type { FederationReadsRepo } from "../storage/federation-reads-repo.js";
import { backfillWalk, missingEventsWalk, type LoadNodes, type WalkNode } from "./dag-walks.js";
import type { ServerAcls } from "./server-acls.js";
import { federationPdu, ServerVisibility } from "./server-visibility.js";

export interface EventReadsDeps {
  serverName: string;
  store: Pick<EventStore, "getEvent" | "getEvents" | "roomVersion" | "stateGroup" | "stateEvents" | "load">;
  events: Pick<EventsRepo, "nearTimestamp">;
  reads: FederationReadsRepo;
  acls: Pick<ServerAcls, "assertAllowed">;
  /** The stream position up to which every room event is committed. */
  persistedUpTo: () => number;
  /** Which of these users' accounts were erased; none when absent. */
  erasedAmong?: (userIds: readonly string[]) => Promise<ReadonlySet<string>>;
  now: () => number;
}

/** "limit capped": one request never walks more than this many events. */
export const MAX_BACKFILL = 100;
export const MAX_MISSING_EVENTS = 100;

export interface MissingEventsRequest {
  earliest: readonly string[];
  latest: readonly string[];
  limit?: number;
  minDepth?: number;
}

export class FederationEventReads {
  private readonly visibility: ServerVisibility;

  constructor(private readonly d: EventReadsDeps) {
    this.visibility = new ServerVisibility(d.store);
  }

  /** A transaction as /event and /backfill answer ("single_pdu_transaction", "unlimited_pdu_transaction"). */
  private transaction(pdus: JsonObject[]): JsonObject {
    return { origin: this.d.serverName, origin_server_ts: this.d.now(), pdus };
  }

  private async inRoomNow(roomId: string, server: string): Promise<boolean> {
    return (await this.d.reads.serverMembers(roomId, server)).some((m) => m.membership === "join");
  }

  /** The room exists here and its ACL lets `origin` in; 404 and 403 otherwise. */
  private async requireRoom(origin: string, roomId: string): Promise<void> {
    if ((await this.d.store.roomVersion(roomId)) === undefined) throw notFound("Unknown room");
    await this.d.acls.assertAllowed(roomId, origin);
  }

  /**
   * The server is in the room now, or may see one of `probe` (a
   * world-readable event, or one from when its users were there); 403
   * otherwise. Returns whether it is in the room now.
   */
  private async requireAccess(origin: string, roomId: string, probe: readonly LoadedEvent[]): Promise<boolean> {
    if (await this.inRoomNow(roomId, origin)) return true;
    if (probe.length > 0 && (await this.visibility.visible(origin, probe, false)).some(Boolean)) return false;
    throw forbidden("Server is not in the room");
  }

  /** An event of the room that is served to other servers: known, not rejected. */
  private async roomEvent(roomId: string, eventId: string): Promise<LoadedEvent> {
    const e = await this.d.store.getEvent(eventId);
    if (e === undefined || e.row.roomId !== roomId || e.row.rejectedReason !== null) throw notFound(`Unknown event ${eventId}`);
    return e;
  }

  /** The events' PDUs for `origin`, redacted where it may not see them. */
  private async pdusFor(origin: string, events: readonly LoadedEvent[], inRoomNow: boolean): Promise<JsonObject[]> {
    const byRoom = new Map<string, LoadedEvent[]>();
    for (const e of events) {
      const list = byRoom.get(e.row.roomId);
      if (list) list.push(e);
      else byRoom.set(e.row.roomId, [e]);
    }
    const erased = this.d.erasedAmong && events.length > 0 ? await this.d.erasedAmong([...new Set(events.map((e) => e.row.sender))]) : new Set<string>();
    const seen = new Map<LoadedEvent, boolean>();
    for (const list of byRoom.values()) {
      const vis = await this.visibility.visible(origin, list, inRoomNow, erased);
      list.forEach((e, i) => seen.set(e, vis[i]!));
    }
    return events.map((e) => federationPdu(e, seen.get(e)));
  }

  private async loadAll(ids: readonly string[]): Promise<LoadedEvent[]> {
    const loaded = await this.d.store.getEvents(ids);
    return ids.flatMap((id) => {
      const e = loaded.get(id);
      return e !== undefined && e.row.rejectedReason === null ? [e] : [];
    });
  }

  /**
   * GET /event/{eventId}. Soft-failed events are served ("A soft failed
   * event should be returned in response to federation requests where
   * appropriate (e.g. in /event/<event_id>)"); rejected ones never are;
   * outliers only when they are state events (the auth events others fetch).
   */
  async event(origin: string, eventId: string): Promise<JsonObject> {
    const e = await this.d.store.getEvent(eventId);
    if (e === undefined || e.row.rejectedReason !== null || (e.row.outlier && e.row.stateKey === null)) throw notFound(`Unknown event ${eventId}`);
    await this.d.acls.assertAllowed(e.row.roomId, origin);
    const inRoom = await this.requireAccess(origin, e.row.roomId, [e]);
    return this.transaction(await this.pdusFor(origin, [e], inRoom));
  }

  /** The state before `eventId` ("prior to considering any state changes induced by the requested event") and its auth chain. */
  private async stateBefore(origin: string, roomId: string, eventId: string): Promise<{ state: string[]; authChain: string[] }> {
    await this.requireRoom(origin, roomId);
    const e = await this.roomEvent(roomId, eventId);
    // An outlier's place in the graph, so its state, is not known: "doesn't know about the state at that event".
    if (e.row.outlier) throw notFound(`No state known at ${eventId}`);
    await this.requireAccess(origin, roomId, [e]);
    const state = [...(await this.d.store.stateGroup(e.row.stateBefore)).values()].sort();
    const authChain = await this.d.reads.authChainIds(state);
    return { state, authChain };
  }

  /** GET /state_ids/{roomId}?event_id= */
  async stateIds(origin: string, roomId: string, eventId: string): Promise<JsonObject> {
    const { state, authChain } = await this.stateBefore(origin, roomId, eventId);
    return { pdu_ids: state, auth_chain_ids: authChain };
  }

  /** GET /state/{roomId}?event_id= : the same, as PDUs. */
  async state(origin: string, roomId: string, eventId: string): Promise<JsonObject> {
    const { state, authChain } = await this.stateBefore(origin, roomId, eventId);
    const pdus = (await this.loadAll(state)).map((e) => federationPdu(e));
    const chain = (await this.loadAll(authChain)).map((e) => federationPdu(e));
    return { pdus, auth_chain: chain };
  }

  /** GET /event_auth/{roomId}/{eventId}: "The auth chain for the event". */
  async eventAuth(origin: string, roomId: string, eventId: string): Promise<JsonObject> {
    await this.requireRoom(origin, roomId);
    const e = await this.roomEvent(roomId, eventId);
    await this.requireAccess(origin, roomId, [e]);
    const chain = await this.loadAll(await this.d.reads.authChainIds([eventId]));
    return { auth_chain: chain.map((x) => federationPdu(x)) };
  }

  /**
   * The walks' reads for one request: each read also brings the ancestors
   * `ahead` levels down, kept for the rest of the walk.
   */
  private nodes(roomId: string, ahead: number): LoadNodes {
    const known = new Map<string, WalkNode>();
    return async (ids) => {
      const missing = ids.filter((id) => !known.has(id));
      if (missing.length > 0) for (const n of (await this.d.reads.walkNodes(roomId, missing, ahead)).values()) known.set(n.eventId, n);
      return new Map(ids.flatMap((id) => (known.has(id) ? [[id, known.get(id)!] as const] : [])));
    };
  }

  /** GET /backfill/{roomId}?v=&limit= : the events in `v` and those before them, newest first. */
  async backfill(origin: string, roomId: string, from: readonly string[], limit: number): Promise<JsonObject> {
    await this.requireRoom(origin, roomId);
    const start = (await this.loadAll(from)).filter((e) => e.row.roomId === roomId);
    const inRoom = await this.requireAccess(origin, roomId, start);
    const max = Math.min(limit, MAX_BACKFILL);
    const walked = await backfillWalk(
      start.map((e) => e.row.eventId),
      max,
      this.nodes(roomId, max),
    );
    const events = await this.loadAll(walked.map((n) => n.eventId));
    return this.transaction(await this.pdusFor(origin, events, inRoom));
  }

  /** POST /get_missing_events/{roomId}: the events between `earliest_events` and `latest_events`, oldest first. */
  async missingEvents(origin: string, roomId: string, q: MissingEventsRequest): Promise<JsonObject> {
    await this.requireRoom(origin, roomId);
    const latest = (await this.loadAll(q.latest)).filter((e) => e.row.roomId === roomId);
    const inRoom = await this.requireAccess(origin, roomId, latest);
    // "The maximum number of events to retrieve. Defaults to 10." "The minimum depth ... Defaults to 0."
    const limit = Math.min(q.limit ?? 10, MAX_MISSING_EVENTS);
    const walked = await missingEventsWalk(
      {
        earliest: q.earliest,
        latest: latest.map((e) => e.row.eventId),
        limit,
        minDepth: q.minDepth ?? 0,
      },
      this.nodes(roomId, limit),
    );
    const events = await this.loadAll(walked.map((n) => n.eventId));
    return { events: await this.pdusFor(origin, events, inRoom) };
  }

  /**
   * GET /timestamp_to_event/{roomId}?ts=&dir= : as the client-server
   * endpoint, the closest event in that direction that the asking server
   * may see.
   */
  async timestampToEvent(origin: string, roomId: string, ts: number, dir: "b" | "f"): Promise<JsonObject> {
    await this.requireRoom(origin, roomId);
    const rv = await this.d.store.roomVersion(roomId);
    const rows = await this.d.events.nearTimestamp(roomId, ts, dir, 50, this.d.persistedUpTo());
    const candidates = rows.map((r) => this.d.store.load(r, rv!));
    const inRoom = await this.inRoomNow(roomId, origin);
    const vis = await this.visibility.visible(origin, candidates, inRoom);
    const found = candidates.find((_, i) => vis[i]);
    if (found === undefined) {
      if (!inRoom) throw forbidden("Server is not in the room");
      throw notFound(`Unable to find event from ${ts} in ${dir === "f" ? "forward" : "backward"} direction`);
    }
    return { event_id: found.row.eventId, origin_server_ts: found.row.originServerTs };
  }
}
