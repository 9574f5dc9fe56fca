import { getOwn, isJsonObject, isValidRoomAlias, type JsonObject } from "../core/index.js";
import { notFound } from "../http/errors.js";
import type { RoomStateRepo } from "../storage/room-state-repo.js";
import type { RoomsRepo } from "../storage/rooms-repo.js";
import type { EventStore } from "./event-store.js";

export interface RoomSummaryDeps {
  rooms: RoomsRepo;
  state: RoomStateRepo;
  store: EventStore;
}

const TYPES = [
  "m.room.name",
  "m.room.topic",
  "m.room.canonical_alias",
  "m.room.avatar",
  "m.room.join_rules",
  "m.room.history_visibility",
  "m.room.guest_access",
  "m.room.create",
  "m.room.encryption",
];

/**
 * GET /_matrix/client/v1/room_summary/{roomIdOrAlias} (client-server "Room
 * summary", v1.15): the public-rooms fields plus room type, version,
 * encryption, restricted rooms' allowed_room_ids and the caller's membership.
 * Rooms the caller may not preview are "not found", so their existence is not revealed.
 */
export class RoomSummaries {
  constructor(private readonly d: RoomSummaryDeps) {}

  async summary(userId: string | undefined, roomIdOrAlias: string): Promise<JsonObject> {
    let roomId = roomIdOrAlias;
    if (roomIdOrAlias.startsWith("#")) {
      const alias = isValidRoomAlias(roomIdOrAlias) ? await this.d.rooms.getAlias(roomIdOrAlias) : undefined;
      if (!alias) throw notFound("Room not found");
      roomId = alias.roomId;
    }
    const out = await this.summarize(userId, roomId);
    if (!out) throw notFound("Room not found");
    return out;
  }

  /** The summary of a local room, or undefined when it is unknown or the user may not preview it. */
  async summarize(userId: string | undefined, roomId: string): Promise<JsonObject | undefined> {
    const membershipIn = userId ? async (r: string) => (await this.d.state.membership(r, userId))?.membership : undefined;
    return this.summarizeFor(roomId, membershipIn, true);
  }

  /**
   * The same for a viewer that is not one user (another server asking over
   * federation): `membershipIn` gives the viewer's best membership in a room;
   * the summary then carries no `membership`.
   */
  async summarizeForViewer(roomId: string, membershipIn: (roomId: string) => Promise<string | undefined>): Promise<JsonObject | undefined> {
    return this.summarizeFor(roomId, membershipIn, false);
  }

  private async summarizeFor(
    roomId: string,
    membershipIn: ((roomId: string) => Promise<string | undefined>) | undefined,
    withMembership: boolean,
  ): Promise<JsonObject | undefined> {
    const room = await this.d.rooms.get(roomId);
    if (!room) return undefined;
    const rows = await this.d.state.currentStateEventIds([roomId], TYPES);
    const events = await this.d.store.getEvents(rows.map((r) => r.eventId));
    const content = new Map<string, JsonObject>();
    for (const r of rows) {
      const e = events.get(r.eventId);
      if (e && r.stateKey === "") content.set(r.type, e.event.content);
    }
    const str = (type: string, key: string): string | undefined => {
      const v = content.get(type) ? getOwn(content.get(type)!, key) : undefined;
      return typeof v === "string" ? v : undefined;
    };
    const joinRule = str("m.room.join_rules", "join_rule") ?? "invite";
    const worldReadable = str("m.room.history_visibility", "history_visibility") === "world_readable";
    const allowed: string[] = [];
    const allow = content.get("m.room.join_rules")?.allow;
    if (Array.isArray(allow)) {
      for (const a of allow) {
        if (isJsonObject(a) && a.type === "m.room_membership" && typeof a.room_id === "string") allowed.push(a.room_id);
      }
    }
    const membership = membershipIn ? await membershipIn(roomId) : undefined;

    // Who may preview: anyone for public/knock rooms and world-readable history,
    // members and invitees, and users who could join a restricted room.
    let accessible = worldReadable || ["public", "knock", "knock_restricted"].includes(joinRule);
    if (!accessible && membership && ["join", "invite", "knock"].includes(membership)) accessible = true;
    if (!accessible && membershipIn && (joinRule === "restricted" || joinRule === "knock_restricted")) {
      for (const r of allowed) {
        if ((await membershipIn(r)) === "join") {
          accessible = true;
          break;
        }
      }
    }
    if (!accessible) return undefined;

    const counts = await this.d.state.joinedCounts([roomId]);
    const out: JsonObject = {
      room_id: roomId,
      num_joined_members: counts.get(roomId) ?? 0,
      world_readable: worldReadable,
      guest_can_join: str("m.room.guest_access", "guest_access") === "can_join",
      join_rule: joinRule,
      room_version: room.roomVersion,
    };
    const optional: Array<[string, string | undefined]> = [
      ["name", str("m.room.name", "name")],
      ["topic", str("m.room.topic", "topic")],
      ["canonical_alias", str("m.room.canonical_alias", "alias")],
      ["avatar_url", str("m.room.avatar", "url")],
      ["room_type", str("m.room.create", "type")],
      ["encryption", str("m.room.encryption", "algorithm")],
    ];
    for (const [k, v] of optional) if (v !== undefined) out[k] = v;
    if (allowed.length && (joinRule === "restricted" || joinRule === "knock_restricted")) out.allowed_room_ids = allowed;
    if (membership && withMembership) out.membership = membership;
    return out;
  }
}
