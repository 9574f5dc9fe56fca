import { getOwn, isValidRoomAlias, PowerLevels, roomCreators, serverNameOf, stateMapKey, type JsonObject } from "../core/index.js";
import { forbidden, MatrixError, notFound } from "../http/errors.js";
import type { RoomStateRepo } from "../storage/room-state-repo.js";
import type { RoomsRepo } from "../storage/rooms-repo.js";
import type { EventStore, LoadedEvent } from "./event-store.js";
import type { RoomMembership } from "./membership.js";
import type { RoomMessaging } from "./messaging.js";

export interface DirectoryDeps {
  rooms: RoomsRepo;
  state: RoomStateRepo;
  store: EventStore;
  membership: RoomMembership;
  /** Sends the updated m.room.canonical_alias after an alias it names is deleted. */
  messaging?: Pick<RoomMessaging, "sendState">;
  serverName: string;
  now: () => number;
  /** Whether an alias is reserved for an application service the user is not part of. */
  reservedAlias?: (alias: string, userId: string) => boolean;
}

export interface PublicRoomsQuery {
  limit?: number;
  since?: string;
  searchTerm?: string;
  /** `filter.room_types`: the room types to list, `null` for rooms without one; all when absent. */
  roomTypes?: ReadonlyArray<string | null>;
  server?: string;
}

const SUMMARY_TYPES = [
  "m.room.name",
  "m.room.topic",
  "m.room.canonical_alias",
  "m.room.avatar",
  "m.room.join_rules",
  "m.room.history_visibility",
  "m.room.guest_access",
  "m.room.create",
  "m.room.power_levels",
];

/** Client-server "Room aliases", "Room directory" (published rooms) and GET/POST /publicRooms. */
export class RoomDirectory {
  constructor(private readonly d: DirectoryDeps) {}

  private checkLocalAlias(alias: string): void {
    if (!isValidRoomAlias(alias)) throw new MatrixError(400, "M_INVALID_PARAM", "Invalid room alias");
    if (serverNameOf(alias) !== this.d.serverName) {
      throw new MatrixError(400, "M_INVALID_PARAM", "Room alias must be on this server");
    }
  }

  private async currentEvents(roomId: string, types: readonly string[]): Promise<Map<string, LoadedEvent>> {
    const rows = await this.d.state.currentStateEventIds([roomId], types);
    const events = await this.d.store.getEvents(rows.map((r) => r.eventId));
    const out = new Map<string, LoadedEvent>();
    for (const r of rows) {
      const e = events.get(r.eventId);
      if (e) out.set(stateMapKey(r.type, r.stateKey), e);
    }
    return out;
  }

  /** Whether `userId` could send `type` as state in the room now (joined and powerful enough). */
  private async canSendState(roomId: string, userId: string, type: string): Promise<boolean> {
    const m = await this.d.state.membership(roomId, userId);
    if (m?.membership !== "join") return false;
    const rv = await this.d.store.roomVersion(roomId);
    if (!rv) return false;
    const st = await this.currentEvents(roomId, ["m.room.power_levels", "m.room.create"]);
    const create = st.get(stateMapKey("m.room.create", ""));
    const levels = PowerLevels.fromContent(st.get(stateMapKey("m.room.power_levels", ""))?.event.content, roomCreators(create?.event, rv), rv);
    return levels.userLevel(userId) >= levels.eventLevel(type, true);
  }

  async createAlias(userId: string, alias: string, roomId: string): Promise<void> {
    this.checkLocalAlias(alias);
    // Application service API "Server admin style permissions": exclusive alias namespaces.
    if (this.d.reservedAlias?.(alias, userId)) throw new MatrixError(400, "M_EXCLUSIVE", "This alias is reserved by an application service");
    if (!(await this.d.store.roomVersion(roomId))) throw notFound("Unknown room");
    const m = await this.d.state.membership(roomId, userId);
    if (m?.membership !== "join") throw forbidden("You must be in the room to give it an alias");
    if (!(await this.d.rooms.createAlias(alias, roomId, userId, this.d.now()))) {
      throw new MatrixError(409, "M_UNKNOWN", "Room alias already exists");
    }
  }

  async resolveAlias(alias: string): Promise<{ room_id: string; servers: string[] }> {
    if (!isValidRoomAlias(alias)) throw new MatrixError(400, "M_INVALID_PARAM", "Invalid room alias");
    const row = await this.d.rooms.getAlias(alias);
    if (!row) throw notFound(`Room alias ${alias} not found`);
    return { room_id: row.roomId, servers: [this.d.serverName] };
  }

  /** The alias's creator, or a user who may change the room's canonical alias, may delete it. */
  async deleteAlias(userId: string, alias: string): Promise<void> {
    this.checkLocalAlias(alias);
    const row = await this.d.rooms.getAlias(alias);
    if (!row) throw notFound(`Room alias ${alias} not found`);
    if (row.creator !== userId && !(await this.canSendState(row.roomId, userId, "m.room.canonical_alias"))) {
      throw forbidden("You may not delete this alias");
    }
    await this.d.rooms.deleteAlias(alias);
    await this.dropFromCanonicalAlias(userId, row.roomId, alias);
  }

  /**
   * "Room aliases": a server may update m.room.canonical_alias when an alias it
   * names is removed, and deployed servers do. Sent as the user deleting the
   * alias; if they may not change the event it stays as it is.
   */
  private async dropFromCanonicalAlias(userId: string, roomId: string, alias: string): Promise<void> {
    if (!this.d.messaging) return;
    const current = (await this.currentEvents(roomId, ["m.room.canonical_alias"])).get(stateMapKey("m.room.canonical_alias", ""));
    if (!current) return;
    const content: JsonObject = { ...current.event.content };
    const alt = Array.isArray(content.alt_aliases) ? content.alt_aliases : undefined;
    const named = content.alias === alias || (alt?.includes(alias) ?? false);
    if (!named) return;
    if (content.alias === alias) delete content.alias;
    if (alt) content.alt_aliases = alt.filter((a) => a !== alias);
    if (!(await this.canSendState(roomId, userId, "m.room.canonical_alias"))) return;
    try {
      await this.d.messaging.sendState({ userId, deviceId: null }, roomId, "m.room.canonical_alias", "", content);
    } catch (err) {
      // The alias is gone either way; a state change the rules refuse leaves the old event.
      if (!(err instanceof MatrixError) || err.status >= 500) throw err;
    }
  }

  async roomAliases(userId: string, roomId: string): Promise<string[]> {
    if (!(await this.d.store.roomVersion(roomId))) throw forbidden("You are not a member of this room");
    const m = await this.d.state.membership(roomId, userId);
    if (m?.membership !== "join") {
      const hv = (await this.currentEvents(roomId, ["m.room.history_visibility"])).get(stateMapKey("m.room.history_visibility", ""));
      if (!hv || getOwn(hv.event.content, "history_visibility") !== "world_readable") throw forbidden("You are not a member of this room");
    }
    return this.d.rooms.aliasesOfRoom(roomId);
  }

  async visibility(roomId: string): Promise<"public" | "private"> {
    const room = await this.d.rooms.get(roomId);
    if (!room) throw notFound("Unknown room");
    return room.visibility;
  }

  async setVisibility(userId: string, roomId: string, visibility: "public" | "private"): Promise<void> {
    if (!(await this.d.rooms.get(roomId))) throw notFound("Unknown room");
    if (!(await this.canSendState(roomId, userId, "m.room.canonical_alias"))) {
      throw forbidden("You may not change this room's directory visibility");
    }
    await this.d.rooms.setVisibility(roomId, visibility);
  }

  async publicRooms(q: PublicRoomsQuery): Promise<JsonObject> {
    if (q.server !== undefined && q.server !== this.d.serverName) {
      throw new MatrixError(400, "M_INVALID_PARAM", "Other servers' room directories need federation, which is not available yet");
    }
    const ids = await this.d.rooms.publicRoomIds();
    const counts = await this.d.state.joinedCounts(ids);
    const rows = await this.d.state.currentStateEventIds(ids, SUMMARY_TYPES);
    const events = await this.d.store.getEvents(rows.map((r) => r.eventId));
    const byRoom = new Map<string, Map<string, JsonObject>>();
    for (const r of rows) {
      const e = events.get(r.eventId);
      if (!e || r.stateKey !== "") continue;
      let m = byRoom.get(r.roomId);
      if (!m) byRoom.set(r.roomId, (m = new Map()));
      m.set(r.type, e.event.content);
    }
    let chunk: JsonObject[] = ids.map((roomId) => {
      const st = byRoom.get(roomId) ?? new Map<string, JsonObject>();
      const str = (type: string, key: string) => {
        const v = st.get(type) ? getOwn(st.get(type)!, key) : undefined;
        return typeof v === "string" ? v : undefined;
      };
      const entry: JsonObject = {
        room_id: roomId,
        num_joined_members: counts.get(roomId) ?? 0,
        world_readable: str("m.room.history_visibility", "history_visibility") === "world_readable",
        guest_can_join: str("m.room.guest_access", "guest_access") === "can_join",
        join_rule: str("m.room.join_rules", "join_rule") ?? "invite",
      };
      const optional: Array<[string, string | undefined]> = [
        ["name", str("m.room.name", "name")],
        ["topic", str("m.room.topic", "topic")],
        ["canonical_alias", str("m.room.canonical_alias", "alias")],
        ["avatar_url", str("m.room.avatar", "url")],
        ["room_type", str("m.room.create", "type")],
      ];
      for (const [k, v] of optional) if (v !== undefined) entry[k] = v;
      return entry;
    });
    const term = q.searchTerm?.toLowerCase();
    if (term) {
      chunk = chunk.filter((r) =>
        ["name", "topic", "canonical_alias", "room_id"].some((k) => typeof r[k] === "string" && (r[k] as string).toLowerCase().includes(term)),
      );
    }
    if (q.roomTypes !== undefined) {
      const types = q.roomTypes;
      chunk = chunk.filter((r) => types.includes(typeof r.room_type === "string" ? r.room_type : null));
    }
    chunk.sort((a, b) => (b.num_joined_members as number) - (a.num_joined_members as number) || String(a.room_id).localeCompare(String(b.room_id)));
    const total = chunk.length;
    let offset = 0;
    if (q.since !== undefined) {
      const m = /^o(\d{1,9})$/.exec(q.since);
      if (!m) throw new MatrixError(400, "M_INVALID_PARAM", "Invalid since token");
      offset = Number(m[1]);
    }
    const limit = q.limit !== undefined && q.limit > 0 ? q.limit : total;
    const page = chunk.slice(offset, offset + limit);
    const body: JsonObject = { chunk: page, total_room_count_estimate: total };
    if (offset + limit < total) body.next_batch = `o${offset + limit}`;
    if (offset > 0) body.prev_batch = `o${Math.max(0, offset - limit)}`;
    return body;
  }
}
