import type { JsonObject } from "../../core/index.js";
import type { DeliveryCursor, DeliveryKind, Prepared, StreamEventRef } from "../../delivery/index.js";
import type { Logger } from "../../logging.js";
import type { FederationSenderRepo } from "../../storage/federation-sender-repo.js";
import { serverOf, type Edu } from "../outbound.js";
import type { EphemeralEduQueue } from "./ephemeral-edus.js";
import { joinedAtPositions } from "./membership-timeline.js";
import { MAX_EDUS_PER_TXN, MAX_PDUS_PER_TXN, selectPdus, type RoomCatchUp } from "./pdu-selection.js";

/** EDUs that only matter for a short while (server-server "Typing Notifications", "Receipts", "Presence"). */
export const EPHEMERAL_EDU_TYPES: readonly string[] = ["m.typing", "m.receipt", "m.presence"];

export const FEDERATION_KIND = "federation";

export interface FederationKindDeps {
  serverName: string;
  repo: FederationSenderRepo;
  ephemeral: EphemeralEduQueue;
  /** A transaction of in-memory EDUs only that could not be sent within this long is given up. */
  ephemeralTtlMs: number;
  /** The PDUs to send for these event ids, as other servers must see them. */
  loadPdus(eventIds: readonly string[]): Promise<Map<string, JsonObject>>;
  /** Highest committed room-event stream position. */
  upTo(): number;
  /** PUT a transaction; resolves with the answer body on a 2xx, throws otherwise. */
  put(destination: string, path: string, body: JsonObject, signal: AbortSignal): Promise<JsonObject>;
  now(): number;
  log: Logger;
}

/** What is persisted as the pending transaction: the body sent, and the durable EDUs it carries. */
interface Payload {
  txn: JsonObject;
  eduIds: number[];
}

/**
 * Server-server "Transactions" as a kind of src/delivery: one destination
 * per server, whose position in the room-event stream is durable. A
 * transaction carries the events sent by local users (this server never
 * relays others' events) that the destination should get ("PDUs"): its
 * servers had a joined user in the room once the event was persisted, or
 * the event takes one of its users out of the room (leave, kick, ban); then
 * the EDUs queued for it.
 */
export class FederationTransactions implements DeliveryKind {
  readonly kind = FEDERATION_KIND;
  private readonly roomServers = new Map<string, Promise<Set<string>>>();
  /** Destinations whose last transaction failed (in backoff). */
  private readonly failing = new Set<string>();

  constructor(private readonly d: FederationKindDeps) {}

  isFailing(destination: string): boolean {
    return this.failing.has(destination);
  }

  /** A membership changed in the room: the servers known there may have changed. */
  forgetRoom(roomId: string): void {
    this.roomServers.delete(roomId);
  }

  async initialCursor(): Promise<DeliveryCursor> {
    return {};
  }

  async prepare(destination: string, refs: readonly StreamEventRef[], cursor: DeliveryCursor): Promise<Prepared> {
    const self = this.d.serverName;
    const first = refs[0]?.streamOrdering ?? Number.POSITIVE_INFINITY;
    // `skip`: rooms already caught up to a position; entries the batch has passed are dropped.
    const skip: Record<string, number> = {};
    for (const [roomId, to] of Object.entries(isRecord(cursor.skip) ? cursor.skip : {})) if (typeof to === "number" && to >= first) skip[roomId] = to;

    const byRoom = new Map<string, StreamEventRef[]>();
    for (const r of refs) {
      if (serverOf(r.sender) !== self || (skip[r.roomId] ?? 0) >= r.streamOrdering) continue;
      let list = byRoom.get(r.roomId);
      if (!list) byRoom.set(r.roomId, (list = []));
      list.push(r);
    }
    const concerned = new Set<string>();
    const catchUps = new Map<string, RoomCatchUp>();
    const upTo = Math.max(this.d.upTo(), refs[refs.length - 1]?.streamOrdering ?? 0);
    for (const [roomId, list] of byRoom) {
      if (!(await this.serversIn(roomId)).has(destination)) continue;
      const mine = await this.concerning(roomId, destination, list);
      if (mine.length === 0) continue;
      for (const r of mine) concerned.add(r.eventId);
      const from = mine[0]!.streamOrdering;
      if (upTo - from + 1 <= MAX_PDUS_PER_TXN) continue;
      // Far behind in this room ("catch-up" after an outage): only its newest events go.
      const newest = await this.d.repo.newestLocalEvents(roomId, self, from, upTo, MAX_PDUS_PER_TXN + 1);
      if (newest.length <= MAX_PDUS_PER_TXN) continue;
      const window = newest.reverse();
      const events = (await this.concerning(roomId, destination, window)).slice(-MAX_PDUS_PER_TXN);
      catchUps.set(roomId, { events, coverTo: window[window.length - 1]!.streamOrdering });
    }
    const sel = selectPdus(
      refs.filter((r) => concerned.has(r.eventId)),
      catchUps,
    );
    const nextCursor: DeliveryCursor = { ...cursor, skip: { ...skip, ...sel.covered } };
    if (Object.keys(nextCursor.skip as object).length === 0) delete nextCursor.skip;

    const loaded = sel.pdus.length ? await this.d.loadPdus(sel.pdus.map((r) => r.eventId)) : new Map<string, JsonObject>();
    const pdus = sel.pdus.map((r) => loaded.get(r.eventId)).filter((p): p is JsonObject => p !== undefined);

    // In-memory EDUs are taken last: nothing may fail between taking them and persisting the transaction.
    const stored = await this.d.repo.edusFor(destination, MAX_EDUS_PER_TXN);
    // Typing, receipts and presence stored by a cluster's processes: past their time they are dropped, not sent.
    const stale = stored.filter((e) => EPHEMERAL_EDU_TYPES.includes(e.eduType) && this.d.now() - e.createdTs > this.d.ephemeralTtlMs);
    const durable = stale.length === 0 ? stored : stored.filter((e) => !stale.includes(e));
    const eph = this.d.ephemeral.take(destination, MAX_EDUS_PER_TXN - stored.length);
    const edus: Edu[] = [...durable.map((e) => ({ edu_type: e.eduType, content: e.content as JsonObject })), ...eph.edus];
    const more = stored.length >= MAX_EDUS_PER_TXN || eph.more;
    if (pdus.length === 0 && edus.length === 0) {
      await this.d.repo.deleteEdus(destination, stale.map((e) => e.id));
      return { payload: undefined, cursor: nextCursor, more, through: sel.through };
    }
    const txn: JsonObject = { origin: self, origin_server_ts: this.d.now(), pdus };
    if (edus.length) txn.edus = edus as unknown as JsonObject[];
    const payload: Payload = { txn, eduIds: stored.map((e) => e.id) };
    return { payload, cursor: nextCursor, more, through: sel.through };
  }

  async send(destination: string, txnId: string, payload: unknown, signal: AbortSignal): Promise<void> {
    const p = payload as Payload;
    const pduCount = Array.isArray(p.txn.pdus) ? p.txn.pdus.length : 0;
    const ts = typeof p.txn.origin_server_ts === "number" ? p.txn.origin_server_ts : 0;
    // Typing, receipts and presence only, stale by now: dropped like those still queued.
    if (pduCount === 0 && (p.eduIds ?? []).length === 0 && this.d.now() - ts > this.d.ephemeralTtlMs) return;
    let res: JsonObject;
    try {
      res = await this.d.put(destination, `/_matrix/federation/v1/send/${encodeURIComponent(txnId)}`, p.txn, signal);
    } catch (err) {
      this.failing.add(destination);
      throw err;
    }
    this.failing.delete(destination);
    // Per-PDU errors are the receiver's verdict on each event: logged, never retried.
    const results = isRecord(res.pdus) ? res.pdus : {};
    for (const [eventId, r] of Object.entries(results)) {
      if (isRecord(r) && r.error !== undefined) {
        this.d.log.info({ destination, txnId, eventId, error: String(r.error).slice(0, 200) }, "destination refused a PDU");
      }
    }
    await this.d.repo.deleteEdus(destination, p.eduIds ?? []);
  }

  private serversIn(roomId: string): Promise<Set<string>> {
    let s = this.roomServers.get(roomId);
    if (!s) {
      if (this.roomServers.size > 10_000) this.roomServers.clear();
      s = this.d.repo.serversInRoom(roomId);
      this.roomServers.set(roomId, s);
      s.catch(() => this.roomServers.delete(roomId));
    }
    return s;
  }

  /** The events (one room, ascending) that go to `server`: joined at the event, or taken out of the room by it. */
  private async concerning(roomId: string, server: string, refs: readonly StreamEventRef[]): Promise<StreamEventRef[]> {
    if (refs.length === 0) return [];
    const from = refs[0]!.streamOrdering;
    // Current members first, then the changes since `from`: a change committed in between shows in the latter.
    const current = await this.d.repo.joinedUsersOf(roomId, server);
    const changes = await this.d.repo.changesFrom(roomId, server, from);
    const changed = [...new Set(changes.map((c) => c.userId))];
    const before = new Map<string, string | null>();
    const changedSet = new Set(changed);
    for (const u of current) if (!changedSet.has(u)) before.set(u, "join");
    for (const [u, m] of await this.d.repo.membershipsBefore(roomId, changed, from)) before.set(u, m);
    const joined = joinedAtPositions(
      before,
      changes,
      refs.map((r) => r.streamOrdering),
    );
    const leaving = new Set(changes.filter((c) => c.membership === "leave" || c.membership === "ban").map((c) => `${c.streamOrdering}\u0000${c.userId}`));
    return refs.filter(
      (r, i) =>
        joined[i] ||
        (r.type === "m.room.member" && r.stateKey !== null && serverOf(r.stateKey) === server && leaving.has(`${r.streamOrdering}\u0000${r.stateKey}`)),
    );
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
