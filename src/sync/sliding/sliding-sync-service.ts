import type { JsonObject } from "../../core/index.js";
import type { PresenceService } from "../../ephemeral/presence.js";
import type { IgnoredUsers } from "../../rooms/ignored-users.js";
import type { SlidingSyncRepo } from "../../storage/sliding-sync-repo.js";
import type { Notifier } from "../notifier.js";
import { formatStreamToken, maxToken, parseStreamToken, type StreamToken } from "../tokens.js";
import { connectionFromJson, emptyConnection, formatPos, parsePos, unknownPos, type ConnectionState } from "./connection.js";
import { buildExtensions, type ExtensionDeps } from "./extensions.js";
import { configKeys, expands, type RequiredStateConfig } from "./required-state.js";
import type { RoomConfig, SlidingRequest } from "./request.js";
import { applyList, factsNeeded, userRooms, type FilterFacts, type RoomEntry, type RoomListDeps } from "./room-list.js";
import { buildRoomResults, type RoomResultsDeps, type RoomWork } from "./room-results.js";

export interface SlidingSyncDeps {
  repo: SlidingSyncRepo;
  list: RoomListDeps;
  results: RoomResultsDeps;
  extensions: ExtensionDeps;
  notifier: Notifier;
  /** The positions of every stream now (as GET /sync's next token). */
  currentToken(): StreamToken;
  presence: Pick<PresenceService, "touch">;
  ignored: IgnoredUsers;
  /** m.direct content (global account data). */
  directRooms(userId: string): Promise<ReadonlySet<string>>;
  /** Rooms' create-event type and encryption, for the list filters. */
  roomFacts: {
    encrypted(roomIds: readonly string[]): Promise<Set<string>>;
    roomTypes(roomIds: readonly string[]): Promise<Map<string, string | null>>;
    spaceChildren(spaceId: string): Promise<Set<string>>;
  };
  now?: () => number;
}

export interface SlidingViewer {
  userId: string;
  deviceId: string;
}

// Connections kept per device; older ones end (their pos gets M_UNKNOWN_POS).
const MAX_CONNECTIONS_PER_DEVICE = 10;
export const MAX_SLIDING_TIMEOUT_MS = 5 * 60_000;

/**
 * Simplified sliding sync (MSC4186): POST /sync with lists and room
 * subscriptions. It reads rooms as GET /sync does (the same timelines,
 * visibility, ignore lists and stream positions), keeps what each connection
 * was sent with its `pos` in the database, and long-polls on the same
 * notifier when there is nothing new.
 */
export class SlidingSyncService {
  private readonly now: () => number;

  constructor(private readonly d: SlidingSyncDeps) {
    this.now = d.now ?? Date.now;
  }

  /** Connections of deleted devices are dropped (their pos would be refused anyway). */
  async forgetDevices(userId: string, deviceIds: readonly string[]): Promise<void> {
    await this.d.repo.deleteForDevices(userId, deviceIds);
  }

  async sync(viewer: SlidingViewer, req: SlidingRequest, signal?: AbortSignal): Promise<JsonObject> {
    const { userId, deviceId } = viewer;
    if (req.setPresence !== "offline") await this.d.presence.touch(userId, req.setPresence);
    let state: ConnectionState;
    let since: StreamToken | undefined;
    let posId: number | undefined;
    if (req.pos !== undefined) {
      posId = parsePos(req.pos);
      const row = await this.d.repo.position(posId);
      // "Servers MUST reject a pos that was not issued to the requesting user and device."
      if (!row || row.userId !== userId || row.deviceId !== deviceId || row.connId !== req.connId) throw unknownPos();
      state = connectionFromJson(row.state);
      since = parseStreamToken(row.token, "pos");
      // The client has this pos: what came before it is no longer needed.
      await this.d.repo.prune(userId, deviceId, req.connId, posId);
    } else {
      state = emptyConnection();
      // "Only one sliding sync connection is allowed per given conn_id."
      await this.d.repo.prune(userId, deviceId, req.connId);
    }
    for (const [roomId, cfg] of req.subscriptions) state.subs[roomId] = cfg;
    for (const roomId of req.unsubscribe) delete state.subs[roomId];
    for (const [name, cfg] of req.extensions) {
      const merged = { ...(state.ext[name] ?? {}), ...cfg };
      if (merged.enabled === false) delete state.ext[name];
      else state.ext[name] = merged;
    }
    const deadline = this.now() + Math.min(req.timeoutMs, MAX_SLIDING_TIMEOUT_MS);
    for (;;) {
      // Never behind the connection's position: another process of a cluster may have served it.
      const upto = since ? maxToken(this.d.currentToken(), since) : this.d.currentToken();
      const built = await this.assemble(viewer, req, state, since, upto);
      const remaining = deadline - this.now();
      if (!since || !built.empty || signal?.aborted || remaining <= 0) return this.finish(viewer, req, built, posId, since);
      const woken = await this.d.notifier.wait({ userIds: [userId], roomIds: built.watchRooms }, upto, remaining, signal);
      if (!woken) return this.finish(viewer, req, built, posId, since);
    }
  }

  /** Stores the connection's new state under a new pos (nothing new: the same pos again). */
  private async finish(
    viewer: SlidingViewer,
    req: SlidingRequest,
    built: Assembled,
    posId: number | undefined,
    since: StreamToken | undefined,
  ): Promise<JsonObject> {
    const token = formatStreamToken(built.next);
    let pos: number;
    if (posId !== undefined && since && built.empty && token === formatStreamToken(since) && built.stateUnchanged) pos = posId;
    else {
      pos = await this.d.repo.insertPosition(viewer.userId, viewer.deviceId, req.connId, token, built.state as unknown as JsonObject, this.now());
      if (posId === undefined) await this.d.repo.pruneConnections(viewer.userId, viewer.deviceId, MAX_CONNECTIONS_PER_DEVICE);
    }
    return { pos: formatPos(pos), ...built.body };
  }

  private async assemble(
    viewer: SlidingViewer,
    req: SlidingRequest,
    prev: ConnectionState,
    since: StreamToken | undefined,
    upto: StreamToken,
  ): Promise<Assembled> {
    const { userId } = viewer;
    const state: ConnectionState = { rooms: { ...prev.rooms }, subs: prev.subs, ext: prev.ext, counts: {} };
    const ignored = await this.d.ignored.ignoredBy(userId);
    const rooms = await userRooms(this.d.list, userId, upto.events, (r) => prev.rooms[r] !== undefined, ignored);
    const byId = new Map(rooms.map((r) => [r.roomId, r]));
    const facts = await this.facts(userId, req, rooms);

    // Rules matched per room: lists (by name) and subscriptions, with their configs.
    const matched = new Map<string, { entry: RoomEntry; lists: string[]; configs: RoomConfig[] }>();
    const match = (entry: RoomEntry, cfg: RoomConfig, list?: string) => {
      let m = matched.get(entry.roomId);
      if (!m) matched.set(entry.roomId, (m = { entry, lists: [], configs: [] }));
      if (list !== undefined) m.lists.push(list);
      m.configs.push(cfg);
    };
    const lists: Record<string, JsonObject> = {};
    let countsChanged = false;
    for (const [name, l] of req.lists) {
      const r = applyList(l, rooms, facts);
      lists[name] = { count: r.count };
      state.counts[name] = r.count;
      if (prev.counts[name] !== r.count) countsChanged = true;
      for (const e of r.rooms) match(e, l, name);
    }
    // Subscriptions to rooms the user cannot see (or that do not exist) are ignored.
    for (const [roomId, cfg] of Object.entries(state.subs)) {
      const e = byId.get(roomId);
      if (e) match(e, cfg);
    }

    const work: RoomWork[] = [];
    for (const { entry, lists: names, configs } of matched.values()) {
      const timelineLimit = Math.max(...configs.map((c) => c.timelineLimit));
      const rs: RequiredStateConfig[] = configs.map((c) => c.requiredState);
      const key = configKeys(rs);
      const sent = prev.rooms[entry.roomId];
      const changedConfig = sent !== undefined && (!Array.isArray(sent.rs) || expands(key, sent.rs) || timelineLimit > sent.tl);
      const initial = sent === undefined || changedConfig || sent.m !== entry.membership;
      const hasNews = initial || entry.activity > sent.s;
      if (!hasNews) {
        // A narrower config is remembered, so widening it again later counts as a change.
        if (sent.tl !== timelineLimit || sent.rs.join("\n") !== key.join("\n")) state.rooms[entry.roomId] = { ...sent, tl: timelineLimit, rs: key };
        continue;
      }
      work.push({ entry, initial, configs: rs, timelineLimit, sentUpto: sent?.s ?? 0, liveSince: since?.events, lists: names });
      state.rooms[entry.roomId] = { s: upto.events, m: entry.membership, tl: timelineLimit, rs: key };
    }
    const roomResults = await buildRoomResults(this.d.results, viewer, upto, work, facts.dmRooms, ignored);

    const joinedMatched = [...matched.values()].filter((m) => m.entry.membership === "join").map((m) => m.entry.roomId);
    const ext = await buildExtensions(this.d.extensions, {
      userId,
      deviceId: viewer.deviceId,
      since,
      upto,
      enabled: new Map(Object.entries(state.ext)),
      roomIds: joinedMatched,
      initialRooms: new Set(work.filter((w) => w.initial).map((w) => w.entry.roomId)),
      knownRooms: new Set(Object.keys(state.rooms)),
    });
    const next: StreamToken = { ...upto, to_device: ext.toDevicePos ?? upto.to_device };
    const body: JsonObject = { lists, rooms: roomResults, extensions: ext.body };
    const empty = Object.keys(roomResults).length === 0 && !ext.hasData && !countsChanged;
    return {
      body,
      empty,
      next,
      state,
      stateUnchanged:
        work.length === 0 &&
        !countsChanged &&
        JSON.stringify(prev.subs) === JSON.stringify(state.subs) &&
        JSON.stringify(prev.ext) === JSON.stringify(state.ext),
      watchRooms: rooms.filter((r) => r.membership === "join").map((r) => r.roomId),
    };
  }

  private async facts(userId: string, req: SlidingRequest, rooms: readonly RoomEntry[]): Promise<FilterFacts> {
    const need = factsNeeded(req.lists.values());
    const ids = rooms.map((r) => r.roomId);
    const spaceChildren = new Map<string, Set<string>>();
    for (const space of new Set(need.spaces)) {
      // "Unknown spaces or spaces the user is not joined to will be ignored."
      if (rooms.some((r) => r.roomId === space && r.membership === "join")) spaceChildren.set(space, await this.d.roomFacts.spaceChildren(space));
    }
    return {
      dmRooms: await this.d.directRooms(userId),
      tags: need.tags ? await this.d.repo.roomTags(userId) : new Map(),
      encrypted: need.encrypted ? await this.d.roomFacts.encrypted(ids) : new Set(),
      roomTypes: need.roomTypes ? await this.d.roomFacts.roomTypes(ids) : new Map(),
      spaceChildren,
    };
  }
}

interface Assembled {
  body: JsonObject;
  empty: boolean;
  next: StreamToken;
  state: ConnectionState;
  stateUnchanged: boolean;
  watchRooms: string[];
}
