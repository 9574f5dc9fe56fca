import { getOwn, isJsonObject, roomCreators, serverNameOf, type JsonObject } from "../core/index.js";
import { MatrixError, notFound } from "../http/errors.js";
import type { AdminRepo } from "../storage/admin-repo.js";
import type { AdminRoomRow, AdminRoomsRepo, RoomOrder } from "../storage/admin-rooms-repo.js";
import type { EventFormatter } from "../rooms/client-format.js";
import type { EventStore, LoadedEvent } from "../rooms/event-store.js";
import type { RoomMembership } from "../rooms/membership.js";
import type { RoomMessaging } from "../rooms/messaging.js";
import type { RoomReader } from "../rooms/room-reader.js";

export interface RoomAdminDeps {
  repo: AdminRoomsRepo;
  admin: AdminRepo;
  store: EventStore;
  reader: RoomReader;
  formatter: EventFormatter;
  membership: RoomMembership;
  messaging: RoomMessaging;
  serverName: string;
  now: () => number;
}

function roomJson(r: AdminRoomRow): JsonObject {
  return {
    room_id: r.roomId,
    name: r.name,
    canonical_alias: r.canonicalAlias,
    joined_members: r.joinedMembers,
    joined_local_members: r.joinedLocalMembers,
    version: r.version,
    creator: r.creator,
    encryption: r.encryption,
    federatable: r.federatable,
    public: r.isPublic,
    join_rules: r.joinRules,
    guest_access: r.guestAccess,
    history_visibility: r.historyVisibility,
    state_events: r.stateEvents,
    room_type: r.roomType,
  };
}

const TOKEN = /^t(\d{1,15})-(\d{1,15})$/;
function parseToken(v: string, param: string): { depth: number; stream: number } {
  const m = TOKEN.exec(v);
  if (!m) throw new MatrixError(400, "M_INVALID_PARAM", `'${param}' is not a valid pagination token`);
  return { depth: Number(m[1]), stream: Number(m[2]) };
}
const token = (k: { depth: number; stream: number }) => `t${k.depth}-${k.stream}`;

/** Synapse's room admin API: list, details, members, state, messages, context, block, make admin, extremities. */
export class RoomAdmin {
  constructor(private readonly d: RoomAdminDeps) {}

  async requireRoom(roomId: string): Promise<AdminRoomRow> {
    const r = await this.d.repo.room(roomId);
    if (!r) throw notFound("Room not found");
    return r;
  }

  /** A room id (known to this server) or a local alias. */
  async resolve(roomIdOrAlias: string): Promise<string> {
    return this.d.membership.resolveRoom(roomIdOrAlias);
  }

  async list(q: { from: number; limit: number; order: RoomOrder; dir: "f" | "b"; search?: string }): Promise<JsonObject> {
    const { rooms, total } = await this.d.repo.listRooms(q);
    const out: JsonObject = { rooms: rooms.map(roomJson), offset: q.from, total_rooms: total };
    if (q.from + rooms.length < total) out.next_batch = q.from + rooms.length;
    if (q.from > 0) out.prev_batch = Math.max(0, q.from - q.limit);
    return out;
  }

  async details(roomId: string): Promise<JsonObject> {
    const r = await this.requireRoom(roomId);
    return {
      ...roomJson(r),
      avatar: r.avatar,
      topic: r.topic,
      joined_local_devices: await this.d.repo.joinedLocalDevices(roomId),
      forgotten: await this.d.repo.isForgottenByAll(roomId),
    };
  }

  async members(roomId: string): Promise<JsonObject> {
    await this.requireRoom(roomId);
    const members = await this.d.repo.joinedMembers(roomId);
    return { members, total: members.length };
  }

  async state(roomId: string): Promise<JsonObject> {
    await this.requireRoom(roomId);
    const events = await this.d.reader.currentState(roomId);
    return { state: await this.d.formatter.format(events, undefined) };
  }

  /** A page of the room's timeline with no visibility filtering (admins see everything). */
  async messages(roomId: string, q: { from?: string; to?: string; dir: "f" | "b"; limit: number; types?: string[]; notTypes?: string[] }): Promise<JsonObject> {
    await this.requireRoom(roomId);
    let from = q.from !== undefined ? parseToken(q.from, "from") : undefined;
    const to = q.to !== undefined ? parseToken(q.to, "to") : undefined;
    if (!from && q.dir === "b") from = { depth: Number.MAX_SAFE_INTEGER, stream: Number.MAX_SAFE_INTEGER };
    const page = await this.d.repo.pageEventIds(roomId, q.dir, from, q.limit);
    const inRange = page.filter((p) => {
      if (!to) return true;
      const c = p.depth !== to.depth ? p.depth - to.depth : p.stream - to.stream;
      return q.dir === "b" ? c > 0 : c < 0;
    });
    const loaded = await this.d.store.getEvents(inRange.map((p) => p.eventId));
    const events = inRange
      .map((p) => loaded.get(p.eventId))
      .filter((e): e is LoadedEvent => e !== undefined)
      .filter((e) => (!q.types || q.types.includes(e.row.type)) && !(q.notTypes ?? []).includes(e.row.type));
    const startKey =
      from && from.depth !== Number.MAX_SAFE_INTEGER
        ? from
        : inRange[0]
          ? { depth: inRange[0].depth, stream: inRange[0].stream + (q.dir === "b" ? 1 : -1) }
          : { depth: 0, stream: 0 };
    const out: JsonObject = { chunk: await this.d.formatter.format(events, undefined), start: token(startKey) };
    const last = inRange[inRange.length - 1];
    if (last && inRange.length === page.length && page.length === q.limit) out.end = token(last);
    return out;
  }

  async context(roomId: string, eventId: string, limit: number): Promise<JsonObject> {
    await this.requireRoom(roomId);
    const pos = await this.d.repo.eventPosition(eventId);
    const e = pos && pos.roomId === roomId ? await this.d.store.getEvent(eventId) : undefined;
    if (!pos || !e) throw notFound("Event not found");
    const before = await this.d.repo.pageEventIds(roomId, "b", pos, Math.floor(limit / 2));
    const after = await this.d.repo.pageEventIds(roomId, "f", pos, limit - Math.floor(limit / 2));
    const all = await this.d.store.getEvents([...before, ...after].map((p) => p.eventId));
    const pick = (ps: typeof before) => ps.map((p) => all.get(p.eventId)).filter((x): x is LoadedEvent => x !== undefined);
    const lastBefore = before[before.length - 1] ?? pos;
    const lastAfter = after[after.length - 1] ?? pos;
    return {
      event: await this.d.formatter.formatOne(e, undefined),
      events_before: await this.d.formatter.format(pick(before), undefined),
      events_after: await this.d.formatter.format(pick(after), undefined),
      state: await this.d.formatter.format(await this.d.reader.currentState(roomId), undefined),
      start: token(lastBefore),
      end: token(lastAfter),
    };
  }

  async blockStatus(roomId: string): Promise<JsonObject> {
    const b = await this.d.admin.roomBlock(roomId);
    return b ? { block: true, user_id: b.userId } : { block: false };
  }

  /** Blocking works for rooms this server does not (yet) know too. */
  async setBlocked(roomId: string, block: boolean, adminId: string): Promise<JsonObject> {
    if (block) await this.d.admin.blockRoom(roomId, adminId, this.d.now());
    else await this.d.admin.unblockRoom(roomId);
    return { block };
  }

  async forwardExtremities(roomId: string): Promise<JsonObject> {
    await this.requireRoom(roomId);
    const fx = await this.d.repo.forwardExtremities(roomId);
    return {
      count: fx.length,
      results: fx.map((f) => ({ event_id: f.eventId, state_group: f.stateGroup, depth: f.depth, received_ts: f.receivedTs })),
    };
  }

  /** Keeps only the newest extremity (highest depth), the others are dropped. */
  async deleteForwardExtremities(roomId: string): Promise<JsonObject> {
    await this.requireRoom(roomId);
    const fx = await this.d.repo.forwardExtremities(roomId);
    if (fx.length <= 1) return { deleted: 0 };
    return { deleted: await this.d.repo.deleteForwardExtremitiesExcept(roomId, [fx[0]!.eventId]) };
  }

  /**
   * Gives a local user the highest power level in a room, using the power of
   * the room's most powerful local member; joins them (inviting first when
   * the room is not public).
   */
  async makeRoomAdmin(roomId: string, userId: string): Promise<void> {
    await this.requireRoom(roomId);
    if (serverNameOf(userId) !== this.d.serverName) throw new MatrixError(400, "M_INVALID_PARAM", "Only local users can be made room admin");
    const state = await this.d.reader.currentState(roomId);
    const get = (type: string, key = "") => state.find((s) => s.row.type === type && s.row.stateKey === key);
    const create = get("m.room.create");
    const pl = get("m.room.power_levels");
    const plContent: JsonObject = pl && isJsonObject(pl.event.content) ? { ...pl.event.content } : {};
    const users: Record<string, unknown> = isJsonObject(plContent.users) ? { ...plContent.users } : {};
    const creators = create ? [...roomCreators(create.event, create.rv)] : [];
    const joined = new Set(await this.d.repo.joinedMembers(roomId));
    const local = (u: string) => serverNameOf(u) === this.d.serverName;
    const levelOf = (u: string) => (typeof users[u] === "number" ? (users[u] as number) : 0);
    // Creators of v12 rooms have unlimited power; otherwise the highest level wins.
    const candidates = [...joined].filter(local).filter((u) => u !== userId);
    const v12Creator = create?.rv.creatorsHaveInfinitePower ? candidates.find((u) => creators.includes(u)) : undefined;
    const best = v12Creator ?? candidates.sort((a, b) => levelOf(b) - levelOf(a))[0];
    const targetIsCreator = create?.rv.creatorsHaveInfinitePower === true && creators.includes(userId);
    if (!best && !(targetIsCreator && joined.has(userId))) throw new MatrixError(400, "M_UNKNOWN", "No local admin user in the room");
    const admin = { userId: best ?? userId, deviceId: null };
    if (!joined.has(userId)) {
      const joinRule = getOwn(get("m.room.join_rules")?.event.content ?? {}, "join_rule");
      const membership = getOwn(get("m.room.member", userId)?.event.content ?? {}, "membership");
      if (joinRule !== "public" && membership !== "invite") await this.d.membership.invite(admin, roomId, userId);
      await this.d.membership.join({ userId, deviceId: null }, roomId);
    }
    if (targetIsCreator) return;
    const top = Math.max(100, ...Object.values(users).filter((v): v is number => typeof v === "number"));
    if (levelOf(userId) >= top) return;
    users[userId] = top;
    await this.d.messaging.sendState(admin, roomId, "m.room.power_levels", "", { ...plContent, users: users as JsonObject });
  }
}
