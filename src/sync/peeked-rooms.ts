import { stateMapKey, type JsonObject } from "../core/index.js";
import { forbidden } from "../http/errors.js";
import type { EventFormatter, Viewer } from "../rooms/client-format.js";
import type { EventStore } from "../rooms/event-store.js";
import type { RoomReader } from "../rooms/room-reader.js";
import type { HistoryVisibility } from "../rooms/visibility.js";
import type { PeeksRepo } from "../storage/peeks-repo.js";
import type { SyncRepo } from "../storage/sync-repo.js";
import { timelineLimit, type Filter } from "./filter.js";
import { loadTimelines, type TimelineRange } from "./room-timeline.js";
import type { StreamToken } from "./tokens.js";

export interface PeekedRoomsDeps {
  peeks: PeeksRepo;
  repo: SyncRepo;
  store: EventStore;
  formatter: EventFormatter;
  visibility: HistoryVisibility;
  reader: Pick<RoomReader, "currentState">;
  resolveRoom(roomIdOrAlias: string): Promise<string>;
  eventsPosition(): number;
}

export interface PeekedRoom {
  timeline: { events: JsonObject[]; limited: boolean; prev_batch?: string };
  state: { events: JsonObject[] };
  ephemeral: { events: JsonObject[] };
  account_data: { events: JsonObject[] };
}

/**
 * Peeking via /sync (MSC2753): POST /peek/{roomIdOrAlias} on a world-readable
 * room makes the peeking device's /sync carry it under `rooms.peek` (the whole
 * recent timeline first, then new events), until it joins or unpeeks.
 * Only the device that peeked sees it.
 */
export class PeekedRooms {
  constructor(private readonly d: PeekedRoomsDeps) {}

  async peek(viewer: Viewer, roomIdOrAlias: string): Promise<string> {
    const roomId = await this.d.resolveRoom(roomIdOrAlias);
    const [hv] = await this.d.reader.currentState(roomId, [stateMapKey("m.room.history_visibility", "")]);
    if (hv?.event.content.history_visibility !== "world_readable") throw forbidden("Only world-readable rooms can be peeked into");
    if (viewer.deviceId === null) throw forbidden("Peeking needs a device");
    await this.d.peeks.add(viewer.userId, viewer.deviceId, roomId, this.d.eventsPosition());
    return roomId;
  }

  async unpeek(viewer: Viewer, roomId: string): Promise<void> {
    if (viewer.deviceId !== null) await this.d.peeks.remove(viewer.userId, viewer.deviceId, roomId);
  }

  /** The rooms a waiting sync of the device listens on; undefined while a new peek awaits its first delivery. */
  async waitKeys(userId: string, deviceId: string): Promise<string[] | undefined> {
    const peeks = await this.d.peeks.list(userId, deviceId);
    return peeks.some((p) => !p.delivered) ? undefined : peeks.map((p) => p.roomId);
  }

  /** The device's peeked rooms with something new since `since` (all of them on an initial sync). */
  async section(
    viewer: Viewer,
    since: StreamToken | undefined,
    upto: StreamToken,
    filter: Filter,
    joined: readonly string[],
  ): Promise<{ rooms: Record<string, PeekedRoom>; roomIds: string[] }> {
    if (viewer.deviceId === null) return { rooms: {}, roomIds: [] };
    const skip = new Set(joined);
    const peeks = (await this.d.peeks.list(viewer.userId, viewer.deviceId)).filter((p) => !skip.has(p.roomId));
    if (peeks.length === 0) return { rooms: {}, roomIds: [] };
    // A new peek (or an initial sync) gets the room's recent timeline, like a newly joined room;
    // once a sync carried it, only what is new since the client's token.
    const fresh = peeks.filter((p) => since === undefined || !p.delivered || since.events < p.since);
    const ranges: TimelineRange[] = peeks.map((p) => ({
      roomId: p.roomId,
      since: fresh.includes(p) ? 0 : since!.events,
      upto: upto.events,
    }));
    const deps = { repo: this.d.repo, store: this.d.store, visibility: this.d.visibility, ignored: new Set<string>() };
    const timelines = await loadTimelines(deps, viewer.userId, ranges, timelineLimit(filter.room?.timeline), filter.room?.timeline);
    const rooms: Record<string, PeekedRoom> = {};
    for (const r of ranges) {
      const tl = timelines.get(r.roomId);
      if (!tl || tl.events.length === 0) continue;
      const timeline: PeekedRoom["timeline"] = { events: await this.d.formatter.format(tl.events, viewer), limited: tl.limited };
      if (tl.prevBatch !== undefined) timeline.prev_batch = tl.prevBatch;
      rooms[r.roomId] = { timeline, state: { events: [] }, ephemeral: { events: [] }, account_data: { events: [] } };
    }
    await this.d.peeks.markDelivered(
      viewer.userId,
      viewer.deviceId,
      fresh.filter((p) => !p.delivered && rooms[p.roomId]).map((p) => p.roomId),
    );
    return { rooms, roomIds: peeks.map((p) => p.roomId) };
  }
}
