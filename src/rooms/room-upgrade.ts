import {
  getRoomVersion,
  isValidUserId,
  PowerLevels,
  roomCreators,
  stateMapKey,
  type JsonObject,
  type JsonValue,
} from "../core/index.js";
import { forbidden, MatrixError, notFound } from "../http/errors.js";
import type { RoomStateRepo } from "../storage/room-state-repo.js";
import type { RoomsRepo } from "../storage/rooms-repo.js";
import type { SqlQueryable } from "../storage/sql.js";
import type { EventDraft, RoomWriter } from "./event-writer.js";
import type { EventStore, LoadedEvent } from "./event-store.js";
import { memberContent, type ProfileLookup } from "./profiles.js";

export interface RoomUpgradeDeps {
  sql: SqlQueryable;
  writer: RoomWriter;
  store: EventStore;
  state: RoomStateRepo;
  rooms: RoomsRepo;
  profiles: ProfileLookup;
  serverName: string;
  randomString: (length: number) => string;
}

/** "Server behaviour" step 3: the recommended state events to transfer. */
const TRANSFERRED = [
  "m.room.server_acl",
  "m.room.encryption",
  "m.room.name",
  "m.room.avatar",
  "m.room.topic",
  "m.room.guest_access",
  "m.room.history_visibility",
  "m.room.join_rules",
] as const;

/**
 * Client-server "Room Upgrades" (POST /rooms/{roomId}/upgrade): a new room
 * whose create event names its predecessor, the transferable state copied,
 * local aliases moved, an m.room.tombstone in the old room, and the old
 * room's power levels raised so ordinary members can no longer speak or invite.
 */
export class RoomUpgrade {
  constructor(private readonly d: RoomUpgradeDeps) {}

  async upgrade(userId: string, oldRoomId: string, newVersion: string, additionalCreators: readonly string[] = []): Promise<string> {
    const rv = getRoomVersion(newVersion);
    if (!rv || !rv.stable) throw new MatrixError(400, "M_UNSUPPORTED_ROOM_VERSION", `Room version ${newVersion} is not supported`);
    const oldRv = await this.d.store.roomVersion(oldRoomId);
    const oldRoom = await this.d.rooms.get(oldRoomId);
    if (!oldRv || !oldRoom) throw notFound("Unknown room");
    const membership = await this.d.state.membership(oldRoomId, userId);
    if (membership?.membership !== "join") throw forbidden("You are not a member of this room");
    for (const u of additionalCreators) {
      if (!isValidUserId(u)) throw new MatrixError(400, "M_INVALID_PARAM", `Invalid user id in additional_creators: ${u}`);
    }

    const current = new Map((await this.d.state.currentState(oldRoomId)).map((r) => [stateMapKey(r.type, r.stateKey), r.eventId!]));
    const events = await this.d.store.stateEvents(current);
    const get = (type: string): LoadedEvent | undefined => events.get(stateMapKey(type, ""));
    const create = get("m.room.create");
    const oldCreators = roomCreators(create?.event, oldRv);
    const oldLevels = PowerLevels.fromContent(get("m.room.power_levels")?.event.content, oldCreators, oldRv);
    // Step 1: the user must be allowed to send m.room.tombstone in the old room.
    if (oldLevels.userLevel(userId) < oldLevels.eventLevel("m.room.tombstone", true)) {
      throw forbidden("You don't have permission to upgrade this room");
    }

    // Step 2: the create event names the predecessor and keeps the room type.
    const createContent: JsonObject = { room_version: rv.id };
    if (!rv.creatorIsSender) createContent.creator = userId;
    const type = create?.event.content.type;
    if (typeof type === "string") createContent.type = type;
    // A room that did not federate keeps not federating.
    const federate = create?.event.content["m.federate"];
    if (typeof federate === "boolean") createContent["m.federate"] = federate;
    // Room ids that are not the create event's hash are known before the room exists, so the
    // tombstone (step 5) goes first and the create event's predecessor names it, as
    // "m.room.create" describes (`event_id`: the tombstone in the old room). v12 rooms omit it.
    const newRoomIdUpFront = rv.roomIdIsCreateEventHash ? undefined : `!${this.d.randomString(18)}:${this.d.serverName}`;
    const tombstone = (replacement: string) =>
      this.d.writer.send(oldRoomId, {
        type: "m.room.tombstone",
        stateKey: "",
        sender: userId,
        content: { body: "This room has been replaced", replacement_room: replacement },
      });
    let tombstoneId: string | undefined;
    if (newRoomIdUpFront) tombstoneId = (await tombstone(newRoomIdUpFront)).eventId;
    createContent.predecessor = tombstoneId ? { room_id: oldRoomId, event_id: tombstoneId } : { room_id: oldRoomId };
    const newCreators = new Set<string>([userId]);
    if (rv.creatorsHaveInfinitePower) {
      const extra = [...new Set(additionalCreators.filter((u) => u !== userId))];
      if (extra.length) createContent.additional_creators = extra;
      for (const u of extra) newCreators.add(u);
    }

    // Power levels: the old content; creators of a v12 room are not listed in `users`,
    // and creators of a v12 predecessor keep their power in an older version as 100.
    const finalLevels: JsonObject = { ...(get("m.room.power_levels")?.event.content ?? {}) };
    const users: Record<string, JsonValue> = { ...((finalLevels.users as JsonObject | undefined) ?? {}) };
    if (rv.creatorsHaveInfinitePower) for (const c of newCreators) delete users[c];
    else if (oldRv.creatorsHaveInfinitePower) for (const c of oldCreators) users[c] = 100;
    finalLevels.users = users;
    // While copying state the upgrader may need more power than they keep in the end.
    const needed = maxLevel(finalLevels);
    const ownLevel = typeof users[userId] === "number" ? (users[userId] as number) : Number(finalLevels.users_default ?? 0);
    const raise = !rv.creatorsHaveInfinitePower && ownLevel < needed;
    const initialLevels = raise ? { ...finalLevels, users: { ...users, [userId]: needed } } : finalLevels;

    const profile = await this.d.profiles.getProfile(userId);
    const aliasEvent = get("m.room.canonical_alias");
    const drafts = (): EventDraft[] => {
      const list: EventDraft[] = [{ type: "m.room.member", stateKey: userId, sender: userId, content: memberContent("join", profile) }];
      list.push({ type: "m.room.power_levels", stateKey: "", sender: userId, content: initialLevels });
      for (const t of TRANSFERRED) {
        const e = get(t);
        if (e && !e.row.redactedBy) list.push({ type: t, stateKey: "", sender: userId, content: e.event.content });
      }
      if (aliasEvent && !aliasEvent.row.redactedBy) list.push({ type: "m.room.canonical_alias", stateKey: "", sender: userId, content: aliasEvent.event.content });
      // Bans carry over, so banned users cannot walk into the new room (as other servers do).
      for (const e of events.values()) {
        if (e.row.type === "m.room.member" && e.row.stateKey && e.event.content.membership === "ban" && e.row.stateKey !== userId) {
          const reason = e.event.content.reason;
          list.push({ type: "m.room.member", stateKey: e.row.stateKey, sender: userId, content: typeof reason === "string" ? { membership: "ban", reason } : { membership: "ban" } });
        }
      }
      if (raise) list.push({ type: "m.room.power_levels", stateKey: "", sender: userId, content: finalLevels });
      return list;
    };
    const { roomId: newRoomId } = await this.d.writer.createRoom({
      rv,
      creator: userId,
      createContent,
      roomId: newRoomIdUpFront,
      visibility: oldRoom.visibility,
      // Step 4: local aliases move with the room (in the creation transaction).
      beforeEvents: async (tx, roomId) => {
        await this.d.rooms.moveAliases(oldRoomId, roomId, tx);
      },
      drafts,
    });
    if (oldRoom.visibility === "public") await this.d.rooms.setVisibility(oldRoomId, "private");

    // Step 5: the tombstone (already sent when the new room's id was known beforehand).
    if (!tombstoneId) await tombstone(newRoomId);
    // The old room's canonical alias no longer points to it.
    if (aliasEvent && (aliasEvent.event.content.alias !== undefined || aliasEvent.event.content.alt_aliases !== undefined)) {
      await this.d.writer.send(oldRoomId, { type: "m.room.canonical_alias", stateKey: "", sender: userId, content: {} }).catch(() => undefined);
    }
    // Step 6: events_default and invite to max(50, users_default + 1), if the user may.
    const usersDefault = Number(finalLevels.users_default ?? 0);
    const restricted = Math.max(50, usersDefault + 1);
    const oldContent: JsonObject = { ...(get("m.room.power_levels")?.event.content ?? {}), events_default: restricted, invite: restricted };
    await this.d.writer.send(oldRoomId, { type: "m.room.power_levels", stateKey: "", sender: userId, content: oldContent }).catch(() => undefined);
    return newRoomId;
  }
}

/** The highest level any action in a power levels content needs (at least 100). */
function maxLevel(content: JsonObject): number {
  let max = 100;
  const num = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? v : 0);
  for (const k of ["state_default", "events_default", "ban", "kick", "redact", "invite"]) max = Math.max(max, num(content[k]));
  const events = content.events;
  if (events && typeof events === "object" && !Array.isArray(events)) for (const v of Object.values(events)) max = Math.max(max, num(v));
  return max;
}
