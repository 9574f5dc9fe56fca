import type { DeliveryCursor, DeliveryKind, Prepared, StreamEventRef } from "../delivery/index.js";
import type { JsonObject } from "../core/index.js";
import type { LoadedEvent } from "../rooms/event-store.js";
import type { AppServiceRepo } from "../storage/appservice-repo.js";
import { AsRequestError, seg, type AsClient } from "./as-client.js";
import type { AppService, AppServiceRegistry } from "./registry.js";

export const APPSERVICE_KIND = "appservice";

export interface TransactionsDeps {
  registry: AppServiceRegistry;
  repo: AppServiceRepo;
  client: AsClient;
  getEvents(ids: readonly string[]): Promise<Map<string, LoadedEvent>>;
  /** Client-server "Room Event Format" of the events, as a client without a device sees them. */
  format(list: readonly LoadedEvent[]): Promise<JsonObject[]>;
  typing: { readonly currentPosition: number; allChangesSince(since: number): Map<string, { user_ids: string[] }> };
  receipts: { currentPosition(): Promise<number> };
  /** MSC4203 to-device delivery (config `app_services.to_device`); absent when off. */
  toDevice?: { currentPosition(): number };
  presence?: {
    currentPosition(): Promise<number>;
    changedSince(since: number, upto: number, limit: number): Promise<{ events: ReadonlyArray<{ type: string; sender: string; content: object }>; last: number | undefined }>;
  };
}

/** Receipts read per transaction; more wait for the next one. */
const RECEIPTS_PER_TXN = 200;
const TO_DEVICE_PER_TXN = 100;

interface RoomFacts {
  members: Map<string, string[]>;
  aliases: Map<string, string[]>;
}

/**
 * Appservice transactions (application service API "Pushing events"): every
 * room event the appservice is interested in, in stream order, plus
 * ephemeral data when `receive_ephemeral` ("Pushing ephemeral data"), sent
 * as `PUT /_matrix/app/v1/transactions/{txnId}` through src/delivery.
 */
export class AppServiceTransactions implements DeliveryKind {
  readonly kind = APPSERVICE_KIND;

  constructor(private readonly d: TransactionsDeps) {}

  private as(destination: string): AppService {
    const as = this.d.registry.get(destination);
    if (!as) throw new Error(`Unknown application service ${destination}`);
    return as;
  }

  async initialCursor(): Promise<DeliveryCursor> {
    return {
      typing: this.d.typing.currentPosition,
      receipts: await this.d.receipts.currentPosition(),
      presence: (await this.d.presence?.currentPosition()) ?? 0,
      to_device: this.d.toDevice?.currentPosition() ?? 0,
    };
  }

  async prepare(destination: string, refs: readonly StreamEventRef[], cursor: DeliveryCursor): Promise<Prepared> {
    const as = this.as(destination);
    const events = await this.eventsOfInterest(as, refs);
    if (!as.reg.receiveEphemeral) {
      return { payload: events.length ? { events } : undefined, cursor };
    }
    const eph = await this.ephemeral(as, cursor);
    const td = await this.toDevice(as, eph.cursor);
    const more = eph.more || td.more;
    if (events.length === 0 && eph.ephemeral.length === 0 && td.messages.length === 0) return { payload: undefined, cursor: td.cursor, more };
    // `de.sorunome.msc2409.ephemeral` is where bridges built before spec v1.13 read it.
    const payload: JsonObject = { events, ephemeral: eph.ephemeral, "de.sorunome.msc2409.ephemeral": eph.ephemeral };
    if (td.messages.length) payload["de.sorunome.msc2409.to_device"] = td.messages;
    return { payload, cursor: td.cursor, more };
  }

  /**
   * MSC4203: to-device messages for the appservice's users (its sender and the
   * users it registered), for appservices that masquerade devices (MSC3202)
   * and receive ephemeral data. Each names its recipient in `to_user_id` and
   * `to_device_id`; messages delivered in an earlier transaction are dropped.
   */
  private async toDevice(as: AppService, cursor: DeliveryCursor): Promise<{ messages: JsonObject[]; cursor: DeliveryCursor; more: boolean }> {
    if (!this.d.toDevice || !as.reg.deviceMasquerading) return { messages: [], cursor, more: false };
    const since = typeof cursor.to_device === "number" ? cursor.to_device : 0;
    const dropped = typeof cursor.to_device_dropped === "number" ? cursor.to_device_dropped : 0;
    // The cursor only moves once a transaction succeeded, so everything up to it was delivered.
    if (since > dropped) {
      await this.d.repo.deleteToDeviceUpTo(as.id, as.reg.senderUserId, since);
      cursor = { ...cursor, to_device_dropped: since };
    }
    const now = this.d.toDevice.currentPosition();
    if (now <= since) return { messages: [], cursor, more: false };
    const rows = await this.d.repo.toDeviceAfter(as.id, as.reg.senderUserId, since, now, TO_DEVICE_PER_TXN + 1);
    // A position holds one send: never split it across transactions.
    let cut = rows.length > TO_DEVICE_PER_TXN ? rows.filter((r) => r.stream_pos < rows[rows.length - 1]!.stream_pos) : rows;
    if (cut.length === 0) cut = rows;
    const full = cut.length < rows.length;
    const messages = cut.map((r) => ({
      type: r.type,
      sender: r.sender,
      content: JSON.parse(r.content) as JsonObject,
      to_user_id: r.user_id,
      to_device_id: r.device_id,
    }));
    const to = full ? Number(cut[cut.length - 1]!.stream_pos) : now;
    return { messages, cursor: { ...cursor, to_device: to }, more: full };
  }

  async send(destination: string, txnId: string, payload: unknown, signal: AbortSignal): Promise<void> {
    const as = this.as(destination);
    if (as.reg.url === null) return; // "Optionally set to null if no traffic is required."
    const res = await this.d.client.callWithLegacy(
      as.reg,
      "PUT",
      `/_matrix/app/v1/transactions/${seg(txnId)}`,
      `/transactions/${seg(txnId)}`,
      payload,
      signal,
    );
    if (res.status < 200 || res.status >= 300) throw new AsRequestError("connection", `The application service answered ${res.status}`);
  }

  /** Spec "Registration": namespaced senders and targets, and rooms with a namespaced member, id or alias. */
  private async eventsOfInterest(as: AppService, refs: readonly StreamEventRef[]): Promise<JsonObject[]> {
    if (refs.length === 0) return [];
    const direct = (r: StreamEventRef) =>
      as.isInterestedInUser(r.sender) || (r.type === "m.room.member" && r.stateKey !== null && as.isInterestedInUser(r.stateKey)) || as.isInterestedInRoomId(r.roomId);
    const undecided = [...new Set(refs.filter((r) => !direct(r)).map((r) => r.roomId))];
    const interestedRooms = new Set<string>();
    if (undecided.length) {
      const facts = await this.roomFacts(undecided);
      for (const roomId of undecided) {
        if (facts.members.get(roomId)?.some((u) => as.isInterestedInUser(u)) || facts.aliases.get(roomId)?.some((a) => as.isInterestedInAlias(a))) {
          interestedRooms.add(roomId);
        }
      }
    }
    const wanted = refs.filter((r) => direct(r) || interestedRooms.has(r.roomId));
    if (wanted.length === 0) return [];
    const loaded = await this.d.getEvents(wanted.map((r) => r.eventId));
    const list = wanted.map((r) => loaded.get(r.eventId)).filter((e): e is LoadedEvent => e !== undefined);
    return this.d.format(list);
  }

  private async roomFacts(roomIds: readonly string[]): Promise<RoomFacts> {
    const [members, sources] = await Promise.all([this.d.repo.joinedMembers(roomIds), this.d.repo.aliasSources(roomIds)]);
    const aliases = sources.aliases;
    if (sources.canonicalEventIds.size) {
      const canon = await this.d.getEvents([...sources.canonicalEventIds.values()]);
      for (const [roomId, eventId] of sources.canonicalEventIds) {
        const content = canon.get(eventId)?.event.content as { alias?: unknown; alt_aliases?: unknown } | undefined;
        const list = [content?.alias, ...(Array.isArray(content?.alt_aliases) ? content.alt_aliases : [])].filter((a): a is string => typeof a === "string");
        if (list.length) aliases.set(roomId, [...(aliases.get(roomId) ?? []), ...list]);
      }
    }
    return { members, aliases };
  }

  /** m.typing and m.receipt for rooms the appservice is interested in, with `room_id` added. */
  private async ephemeral(as: AppService, cursor: DeliveryCursor): Promise<{ ephemeral: JsonObject[]; cursor: DeliveryCursor; more: boolean }> {
    const typingSince = typeof cursor.typing === "number" ? cursor.typing : 0;
    const receiptsSince = typeof cursor.receipts === "number" ? cursor.receipts : 0;
    const presenceSince = typeof cursor.presence === "number" ? cursor.presence : 0;
    const typingNow = this.d.typing.currentPosition;
    const receiptsNow = await this.d.receipts.currentPosition();
    const presenceNow = (await this.d.presence?.currentPosition()) ?? presenceSince;
    const presence = this.d.presence ? await this.d.presence.changedSince(presenceSince, presenceNow, RECEIPTS_PER_TXN) : { events: [], last: undefined };
    const presenceMore = presence.events.length === RECEIPTS_PER_TXN;
    const typing = typingNow !== typingSince ? this.d.typing.allChangesSince(typingSince) : new Map<string, { user_ids: string[] }>();
    const receipts = receiptsNow > receiptsSince ? await this.d.repo.receiptsAfter(receiptsSince, receiptsNow, RECEIPTS_PER_TXN) : [];
    const receiptsMore = receipts.length === RECEIPTS_PER_TXN;
    const more = receiptsMore || presenceMore;
    const next = {
      ...cursor,
      typing: typingNow,
      receipts: receiptsMore ? Number(receipts[receipts.length - 1]!.stream_id) : Math.max(receiptsNow, receiptsSince),
      presence: presenceMore ? presence.last! : Math.max(presenceNow, presenceSince),
    };
    if (typing.size === 0 && receipts.length === 0 && presence.events.length === 0) return { ephemeral: [], cursor: next, more };

    const rooms = [...new Set([...typing.keys(), ...receipts.map((r) => r.room_id)])];
    const interested = await this.interestedRooms(as, rooms);
    const out: JsonObject[] = [];
    for (const [roomId, content] of typing) {
      if (interested.has(roomId)) out.push({ type: "m.typing", room_id: roomId, content: { user_ids: content.user_ids } });
    }
    const byRoom = new Map<string, Record<string, Record<string, Record<string, JsonObject>>>>();
    for (const r of receipts) {
      if (!interested.has(r.room_id)) continue;
      // Private read receipts only for the appservice's own users.
      if (r.receipt_type === "m.read.private" && !as.isInterestedInUser(r.user_id)) continue;
      let content = byRoom.get(r.room_id);
      if (!content) byRoom.set(r.room_id, (content = {}));
      const byType = (content[r.event_id] ??= {});
      const byUser = (byType[r.receipt_type] ??= {});
      byUser[r.user_id] = r.thread_id ? { ts: Number(r.ts), thread_id: r.thread_id } : { ts: Number(r.ts) };
    }
    for (const [roomId, content] of byRoom) out.push({ type: "m.receipt", room_id: roomId, content });
    // m.presence: users in a namespace, and users sharing a room with the appservice's users.
    if (presence.events.length) {
      const senders = [...new Set(presence.events.map((e) => e.sender))];
      const sharing = await this.d.repo.sharingRoomWithAppService(
        senders.filter((u) => !as.isInterestedInUser(u)),
        as.id,
        as.reg.senderUserId,
      );
      for (const e of presence.events) {
        if (as.isInterestedInUser(e.sender) || sharing.has(e.sender)) out.push({ type: e.type, sender: e.sender, content: { ...e.content } as JsonObject });
      }
    }
    return { ephemeral: out, cursor: next, more };
  }

  private async interestedRooms(as: AppService, roomIds: readonly string[]): Promise<Set<string>> {
    const out = new Set<string>();
    const rest = roomIds.filter((r) => (as.isInterestedInRoomId(r) ? (out.add(r), false) : true));
    if (rest.length === 0) return out;
    const facts = await this.roomFacts(rest);
    for (const roomId of rest) {
      if (facts.members.get(roomId)?.some((u) => as.isInterestedInUser(u)) || facts.aliases.get(roomId)?.some((a) => as.isInterestedInAlias(a))) out.add(roomId);
    }
    return out;
  }
}
