import type { JsonObject } from "../core/index.js";
import type { PresenceService, PresenceState } from "../ephemeral/presence.js";
import type { ReceiptsService } from "../ephemeral/receipts.js";
import type { TypingService } from "../ephemeral/typing.js";
import type { AccountDataRow } from "../storage/account-data-repo.js";
import type { SyncRepo } from "../storage/sync-repo.js";
import { pickFields } from "./event-fields.js";
import { applyLimit, eventPasses, resolveSyncFilter, roomPasses, type Filter, type FilterStore } from "./filter.js";
import type { Notifier } from "./notifier.js";
import type { PeekedRooms } from "./peeked-rooms.js";
import type { RoomsResult, RoomsSection } from "./rooms-section.js";
import { formatStreamToken, maxToken, type StreamToken } from "./tokens.js";

/** Readers of the e2ee area that /sync reports (optional: absent fields stay empty). */
export interface E2eeSyncReaders {
  toDevice?: {
    currentPosition(): number;
    getToDeviceMessages(
      userId: string,
      deviceId: string,
      since: number,
      upto: number,
      limit?: number,
    ): Promise<{ events: JsonObject[] | Array<{ sender: string; type: string; content: JsonObject }>; position: number }>;
    deleteToDeviceUpTo(userId: string, deviceId: string, pos: number): Promise<number>;
  };
  deviceLists?: {
    currentPosition(): number;
    getDeviceListChanges(userId: string, since: number, upto: number): Promise<{ changed: string[]; left: string[] }>;
  };
  deviceKeys?: {
    getOneTimeKeyCounts(userId: string, deviceId: string): Promise<Record<string, number>>;
    getUnusedFallbackKeyTypes(userId: string, deviceId: string): Promise<string[]>;
  };
}

export interface SyncServiceDeps {
  rooms: RoomsSection;
  repo: SyncRepo;
  notifier: Notifier;
  /** The rooms writer's persisted-up-to position: the `events` part of a new token. */
  eventsPosition(): number;
  typing: TypingService;
  receipts: ReceiptsService;
  presence: PresenceService;
  accountData: { changedSince(userId: string, since: number, upTo?: number): Promise<AccountDataRow[]> };
  filters: FilterStore;
  e2ee: E2eeSyncReaders;
  /** The user's current push rules, served as m.push_rules in every initial sync ("Push Rules: Events"). */
  pushRules?: { accountDataContent(userId: string): Promise<Record<string, unknown>> };
  /** Unread notification counts per joined room ("Receiving notifications"), from the push rules. */
  notificationCounts?: {
    counts(
      userId: string,
      roomIds: readonly string[],
      uptoEvents: number,
      rulesAt?: number,
      opts?: { threads?: boolean },
    ): Promise<
      Map<string, { notification_count: number; highlight_count: number; threads?: Record<string, { notification_count: number; highlight_count: number }> }>
    >;
  };
  /** Rooms the device peeks into (MSC2753), under `rooms.peek`. */
  peeks?: Pick<PeekedRooms, "section" | "waitKeys">;
  /** The user's joined rooms as stored now (what a wait listens on when nothing is new). */
  joinedRooms?: (userId: string) => Promise<string[]>;
  now?: () => number;
}

export interface SyncRequest {
  userId: string;
  deviceId: string | null;
  since: StreamToken | undefined;
  filter: string | undefined;
  fullState: boolean;
  setPresence: PresenceState;
  timeoutMs: number;
  useStateAfter: boolean;
}

const TOUCH_INTERVAL_MS = 10_000;
// To-device messages per response; the rest come in the next one (at once).
const TO_DEVICE_LIMIT = 100;

/**
 * GET /sync ("Syncing"): assembles a response from `since` up to the current
 * position of every stream and, when there is nothing new, waits on the
 * notifier (which carries positions only) and assembles again. Waiting always
 * starts from the token the empty response would have carried, so a change
 * committed while the response was being assembled wakes the wait at once.
 */
export class SyncService {
  private readonly now: () => number;
  private readonly touched = new Map<string, { state: PresenceState; at: number }>();

  constructor(private readonly d: SyncServiceDeps) {
    this.now = d.now ?? Date.now;
  }

  /**
   * A client polls /sync back to back; the presence service only writes when
   * something others see changes, so asking it again within a few seconds for
   * the same state is skipped without a database read.
   */
  private async touchPresence(userId: string, state: PresenceState): Promise<void> {
    const now = this.now();
    const last = this.touched.get(userId);
    if (last && last.state === state && now - last.at < TOUCH_INTERVAL_MS) return;
    await this.d.presence.touch(userId, state);
    this.touched.set(userId, { state, at: now });
    if (this.touched.size > 100_000) this.touched.clear();
  }

  currentToken(): StreamToken {
    const n = this.d.notifier;
    return {
      events: this.d.eventsPosition(),
      typing: this.d.typing.currentPosition,
      receipts: n.head("receipts"),
      presence: n.head("presence"),
      account_data: n.head("account_data"),
      to_device: this.d.e2ee.toDevice?.currentPosition() ?? 0,
      device_lists: this.d.e2ee.deviceLists?.currentPosition() ?? 0,
    };
  }

  async sync(req: SyncRequest, signal?: AbortSignal): Promise<JsonObject> {
    const filter = await resolveSyncFilter(this.d.filters, req.userId, req.filter);
    // "set_presence": polling marks the user online (or idle) unless it says offline.
    await this.touchPresence(req.userId, req.setPresence);
    // Syncing with a token acknowledges the to-device messages it covered ("Send-to-Device messaging").
    if (req.since && req.deviceId !== null && this.d.e2ee.toDevice && req.since.to_device > 0) {
      await this.d.e2ee.toDevice.deleteToDeviceUpTo(req.userId, req.deviceId, req.since.to_device);
    }
    const deadline = this.now() + req.timeoutMs;
    // The client is up to date: the response would be empty, so wait before assembling one
    // (a client polling back to back costs one assembly per change, not two).
    const quiet = req.since && !req.fullState && sameToken(req.since, this.currentToken()) && !signal?.aborted;
    if (quiet) {
      const roomIds = await this.quietWaitRooms(req);
      const remaining = deadline - this.now();
      if (roomIds && remaining > 0) await this.d.notifier.wait({ userIds: [req.userId], roomIds }, req.since!, remaining, signal);
    }
    for (;;) {
      // Never behind the token: it may come from another process of a cluster that saw further (docs/scale-out.md).
      const upto = req.since ? maxToken(this.currentToken(), req.since) : this.currentToken();
      const { body, empty, roomIds } = await this.assemble(req, filter, upto);
      const remaining = deadline - this.now();
      if (!req.since || req.fullState || !empty || signal?.aborted || remaining <= 0) return this.withKeyCounts(req, body);
      const woken = await this.d.notifier.wait({ userIds: [req.userId], roomIds }, upto, remaining, signal);
      if (!woken) return this.withKeyCounts(req, body);
    }
  }

  /**
   * GET /keys/changes ("Tracking the device list for a user"): the device list
   * changes between two sync tokens, with the same rule as /sync's
   * device_lists (users who started or stopped sharing a room count too).
   */
  async keyChanges(userId: string, from: StreamToken, to: StreamToken): Promise<{ changed: string[]; left: string[] }> {
    const now = this.currentToken();
    const upto = Object.fromEntries(Object.entries(to).map(([k, v]) => [k, Math.min(v, now[k as keyof StreamToken])])) as unknown as StreamToken;
    const rooms = await this.d.rooms.build({
      viewer: { userId, deviceId: null },
      since: from,
      upto,
      filter: { room: { timeline: { limit: 0 }, state: { types: [] } } },
      fullState: false,
      useStateAfter: false,
    });
    return this.deviceListChanges(userId, from, upto, rooms);
  }

  /**
   * What a wait with nothing new listens on: the joined rooms and peeked
   * rooms, read without assembling a response. Undefined when a response
   * must be assembled anyway (a peek not yet delivered to the device).
   */
  private async quietWaitRooms(req: SyncRequest): Promise<string[] | undefined> {
    if (!this.d.joinedRooms) return undefined;
    const [joined, peeked] = await Promise.all([
      this.d.joinedRooms(req.userId),
      this.d.peeks && req.deviceId !== null ? this.d.peeks.waitKeys(req.userId, req.deviceId) : Promise.resolve([]),
    ]);
    return peeked === undefined ? undefined : [...joined, ...peeked];
  }

  /** Key counts are read only for the response actually sent, not for each empty round. */
  private async withKeyCounts(req: SyncRequest, body: JsonObject): Promise<JsonObject> {
    const keys = this.d.e2ee.deviceKeys;
    const device = req.deviceId;
    // Both reads together: one round trip, not two, before the response goes out.
    const [counts, fallback] =
      keys && device !== null
        ? await Promise.all([keys.getOneTimeKeyCounts(req.userId, device), keys.getUnusedFallbackKeyTypes(req.userId, device)])
        : [{}, []];
    body.device_one_time_keys_count = counts;
    body.device_unused_fallback_key_types = fallback;
    return body;
  }

  private async assemble(req: SyncRequest, filter: Filter, upto: StreamToken): Promise<{ body: JsonObject; empty: boolean; roomIds: string[] }> {
    const since = req.since;
    const viewer = { userId: req.userId, deviceId: req.deviceId };
    const rooms = await this.d.rooms.build({ viewer, since, upto, filter, fullState: req.fullState, useStateAfter: req.useStateAfter });
    await this.addEphemeral(req, filter, since, upto, rooms);
    const globalData = await this.addAccountData(req, filter, since, upto, rooms);
    if (since) pruneQuietRooms(rooms);
    const next: Record<keyof StreamToken, number> = { ...upto };
    const body: JsonObject = {};
    // The rest reads what the rooms section settled and nothing of each other: issued together, their
    // statements travel at once (and coalesce with other woken syncs'), instead of one round trip after another.
    const [counts, presence, toDevice, deviceLists, peeked] = await Promise.all([
      this.d.notificationCounts
        ? // "unread_thread_notifications" in the timeline filter: counts per thread, the main timeline apart.
          this.d.notificationCounts.counts(req.userId, Object.keys(rooms.join), upto.events, upto.account_data, {
            threads: filter.room?.timeline?.unread_thread_notifications === true,
          })
        : undefined,
      this.presenceEvents(req, filter, since, upto, rooms),
      this.toDeviceEvents(req, since, upto, next),
      since ? this.deviceListChanges(req.userId, since, upto, rooms) : { changed: [], left: [] },
      this.d.peeks ? this.d.peeks.section(viewer, since, upto, filter, rooms.joinedRoomIds) : { rooms: {}, roomIds: [] },
    ]);
    for (const [roomId, c] of counts ?? []) {
      const room = rooms.join[roomId]!;
      room.unread_notifications = { notification_count: c.notification_count, highlight_count: c.highlight_count };
      if (c.threads) room.unread_thread_notifications = c.threads;
    }
    if (filter.event_fields) limitFields(rooms, filter.event_fields);
    body.rooms = { join: rooms.join, invite: rooms.invite, knock: rooms.knock, leave: rooms.leave } as unknown as JsonObject;
    if (Object.keys(peeked.rooms).length > 0) (body.rooms as JsonObject).peek = peeked.rooms as unknown as JsonObject;
    body.presence = { events: presence };
    body.account_data = { events: globalData };
    body.to_device = { events: toDevice as unknown as JsonObject[] };
    body.device_lists = deviceLists as unknown as JsonObject;
    body.next_batch = formatStreamToken(next);
    const empty =
      Object.keys(rooms.join).length === 0 &&
      Object.keys(rooms.invite).length === 0 &&
      Object.keys(rooms.knock).length === 0 &&
      Object.keys(rooms.leave).length === 0 &&
      Object.keys(peeked.rooms).length === 0 &&
      presence.length === 0 &&
      globalData.length === 0 &&
      toDevice.length === 0 &&
      deviceLists.changed.length === 0 &&
      deviceLists.left.length === 0;
    return { body, empty, roomIds: peeked.roomIds.length ? [...rooms.joinedRoomIds, ...peeked.roomIds] : rooms.joinedRoomIds };
  }

  /** m.typing and m.receipt per joined room. */
  private async addEphemeral(req: SyncRequest, filter: Filter, since: StreamToken | undefined, upto: StreamToken, rooms: RoomsResult): Promise<void> {
    const f = filter.room?.ephemeral;
    const roomIds = rooms.joinedRoomIds.filter((r) => roomPasses(filter.room, r) && roomPasses(f, r));
    const events = new Map<string, JsonObject[]>();
    const add = (roomId: string, e: JsonObject) => {
      const list = events.get(roomId) ?? [];
      list.push(e);
      events.set(roomId, list);
    };
    if (eventPasses(f, "m.typing", undefined)) {
      if (since) {
        for (const [roomId, content] of this.d.typing.changesSince(roomIds, since.typing))
          add(roomId, { type: "m.typing", content: content as unknown as JsonObject });
      } else {
        for (const roomId of roomIds) {
          const users = this.d.typing.typingIn(roomId);
          if (users.length) add(roomId, { type: "m.typing", content: { user_ids: users } });
        }
      }
    }
    const receiptsFrom = since?.receipts ?? 0;
    if (eventPasses(f, "m.receipt", undefined) && upto.receipts > receiptsFrom) {
      const receipts = await this.d.receipts.forSync(req.userId, roomIds, receiptsFrom, upto.receipts);
      for (const [roomId, content] of receipts) add(roomId, { type: "m.receipt", content: content as unknown as JsonObject });
    }
    for (const [roomId, list] of events) {
      const room = rooms.join[roomId] ?? (rooms.join[roomId] = emptyJoinedRoom(req.useStateAfter));
      room.ephemeral.events.push(...applyLimit(list, f));
    }
  }

  /** Global account data (returned) and per-room account data (put into the rooms). */
  private async addAccountData(req: SyncRequest, filter: Filter, since: StreamToken | undefined, upto: StreamToken, rooms: RoomsResult): Promise<JsonObject[]> {
    const from = since?.account_data ?? 0;
    const global: JsonObject[] = [];
    // Initial syncs carry the current push rules even before the user changed any
    // (clients wait for them); the stored copy is then left out below.
    const freshPushRules = !since && this.d.pushRules !== undefined && eventPasses(filter.account_data, "m.push_rules", undefined);
    if (freshPushRules) global.push({ type: "m.push_rules", content: (await this.d.pushRules!.accountDataContent(req.userId)) as JsonObject });
    if (upto.account_data <= from) return applyLimit(global, filter.account_data);
    const rows = await this.d.accountData.changedSince(req.userId, from, upto.account_data);
    const roomFilter = filter.room?.account_data;
    for (const row of rows) {
      const event = { type: row.type, content: row.content as JsonObject };
      if (row.room_id === "") {
        if (freshPushRules && row.type === "m.push_rules") continue;
        if (eventPasses(filter.account_data, row.type, undefined)) global.push(event);
        continue;
      }
      if (!roomPasses(filter.room, row.room_id) || !roomPasses(roomFilter, row.room_id) || !eventPasses(roomFilter, row.type, undefined)) continue;
      if (rooms.leave[row.room_id]) rooms.leave[row.room_id]!.account_data.events.push(event);
      else if (rooms.joinedRoomIds.includes(row.room_id)) (rooms.join[row.room_id] ??= emptyJoinedRoom(req.useStateAfter)).account_data.events.push(event);
    }
    return applyLimit(global, filter.account_data);
  }

  private async presenceEvents(req: SyncRequest, filter: Filter, since: StreamToken | undefined, upto: StreamToken, rooms: RoomsResult): Promise<JsonObject[]> {
    if (!this.d.presence.enabled) return [];
    const from = since?.presence ?? 0;
    const f = filter.presence;
    const events = upto.presence > from ? await this.d.presence.forSync(req.userId, from, upto.presence) : [];
    // Users the client starts sharing a room with in this window: their current presence,
    // though it did not change ("Presence": clients learn the presence of the users they share rooms with).
    if (since && upto.events > since.events) {
      const have = new Set(events.map((e) => e.sender));
      const added = [...(await this.newRoomPeers(req.userId, since, upto, rooms))].filter((u) => u !== req.userId && !have.has(u));
      events.push(...(await this.d.presence.currentOf(added, upto.presence)));
    }
    return applyLimit(events.filter((e) => eventPasses(f, e.type, e.sender)) as unknown as JsonObject[], f);
  }

  /** Members of rooms the user newly joined, and users who newly joined rooms the user was in. */
  private async newRoomPeers(userId: string, since: StreamToken, upto: StreamToken, rooms: RoomsResult): Promise<Set<string>> {
    const out = new Set<string>(await this.d.repo.joinedMembers(rooms.newlyJoined));
    const moves =
      rooms.memberChanges ??
      (await this.d.repo.memberChanges(
        rooms.joinedRoomIds.filter((r) => !rooms.newlyJoined.includes(r)),
        since.events,
        upto.events,
      ));
    for (const m of moves) if (m.membership === "join") out.add(m.userId);
    out.delete(userId);
    return out;
  }

  private async toDeviceEvents(
    req: SyncRequest,
    since: StreamToken | undefined,
    upto: StreamToken,
    next: Record<keyof StreamToken, number>,
  ): Promise<unknown[]> {
    const td = this.d.e2ee.toDevice;
    const from = since?.to_device ?? 0;
    if (!td || req.deviceId === null || upto.to_device <= from) return [];
    const batch = await td.getToDeviceMessages(req.userId, req.deviceId, from, upto.to_device, TO_DEVICE_LIMIT);
    next.to_device = batch.position;
    return batch.events;
  }

  /**
   * device_lists ("Tracking the device list for a user"): users whose devices
   * changed, plus users who started sharing a room with us (changed) or no
   * longer share any (left).
   */
  private async deviceListChanges(userId: string, since: StreamToken, upto: StreamToken, rooms: RoomsResult): Promise<{ changed: string[]; left: string[] }> {
    const dl = this.d.e2ee.deviceLists;
    const fromStream =
      dl && upto.device_lists > since.device_lists ? (await dl.getDeviceListChanges(userId, since.device_lists, upto.device_lists)).changed : [];
    const ownChanged = fromStream.includes(userId);
    const changed = new Set<string>(fromStream);
    const leftCandidates = new Set<string>();
    if (upto.events > since.events) {
      for (const u of await this.d.repo.joinedMembers(rooms.newlyJoined)) changed.add(u);
      for (const u of await this.d.repo.joinedMembers(rooms.newlyLeft)) leftCandidates.add(u);
      const moves =
        rooms.memberChanges ??
        (await this.d.repo.memberChanges(
          rooms.joinedRoomIds.filter((r) => !rooms.newlyJoined.includes(r)),
          since.events,
          upto.events,
        ));
      for (const m of moves) {
        if (m.membership === "join") changed.add(m.userId);
        else if (m.membership === "leave" || m.membership === "ban") leftCandidates.add(m.userId);
      }
    }
    changed.delete(userId);
    if (changed.size === 0 && leftCandidates.size === 0) return { changed: ownChanged ? [userId] : [], left: [] };
    const shared = new Set(await this.d.repo.usersSharingRoomWith(userId));
    const out = {
      changed: [...changed].filter((u) => shared.has(u)),
      left: [...leftCandidates].filter((u) => u !== userId && !shared.has(u)),
    };
    if (ownChanged) out.changed.push(userId);
    return out;
  }
}

function sameToken(a: StreamToken, b: StreamToken): boolean {
  return (Object.keys(b) as Array<keyof StreamToken>).every((k) => a[k] === b[k]);
}

function emptyJoinedRoom(useStateAfter: boolean): RoomsResult["join"][string] {
  return {
    timeline: { events: [], limited: false },
    ...(useStateAfter ? { state_after: { events: [] } } : { state: { events: [] } }),
    ephemeral: { events: [] },
    account_data: { events: [] },
    unread_notifications: { notification_count: 0, highlight_count: 0 },
  };
}

/** Incremental syncs leave out joined rooms with nothing new (unless newly joined). */
function pruneQuietRooms(rooms: RoomsResult): void {
  for (const [roomId, room] of Object.entries(rooms.join)) {
    if (rooms.forcedJoined.has(roomId)) continue;
    const quiet =
      room.timeline.events.length === 0 &&
      (room.state?.events.length ?? 0) === 0 &&
      (room.state_after?.events.length ?? 0) === 0 &&
      room.ephemeral.events.length === 0 &&
      room.account_data.events.length === 0;
    if (quiet) delete rooms.join[roomId];
  }
}

/** The filter's `event_fields` applied to the room events of the response. */
function limitFields(rooms: RoomsResult, fields: readonly string[]): void {
  for (const room of [...Object.values(rooms.join), ...Object.values(rooms.leave)]) {
    room.timeline.events = room.timeline.events.map((e) => pickFields(e, fields));
    if (room.state) room.state.events = room.state.events.map((e) => pickFields(e, fields));
    if (room.state_after) room.state_after.events = room.state_after.events.map((e) => pickFields(e, fields));
  }
}
