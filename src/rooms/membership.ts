import { getOwn, isJsonObject, isValidRoomAlias, isValidRoomId, isValidUserId, serverNameOf, type JsonObject } from "../core/index.js";
import { forbidden, MatrixError, notFound } from "../http/errors.js";
import type { RoomStateRepo } from "../storage/room-state-repo.js";
import type { RoomsRepo } from "../storage/rooms-repo.js";
import type { EventStore } from "./event-store.js";
import type { PrecheckContext, PrecheckResult, RoomWriter } from "./event-writer.js";
import { powerLevelsAt, type Sender } from "./messaging.js";
import { memberContent, type ProfileLookup } from "./profiles.js";

const MUTUAL_ROOMS_PAGE = 100;

export interface MembershipDeps {
  writer: RoomWriter;
  store: EventStore;
  state: RoomStateRepo;
  rooms: RoomsRepo;
  profiles: ProfileLookup;
  serverName: string;
  /** Whether a local user is a guest account (accounts area); nobody when absent. */
  isGuest?: (userId: string) => Promise<boolean>;
  /** Rooms a server admin blocked: nobody here may join, knock on or be invited to them. */
  isRoomBlocked?: (roomId: string) => Promise<boolean>;
  /** Whether this server has the room's event graph (forward extremities): it is in the room. */
  inRoomGraph?: (roomId: string) => Promise<boolean>;
  /** Membership handshakes with other servers; without it only local rooms can be joined. */
  federated?: FederatedMembership;
}

/**
 * Membership through other servers (server-server "Joining Rooms",
 * "Inviting to a room", "Leaving Rooms (Rejecting Invites)", "Knocking upon
 * a room"), for rooms this server is not in and users of other servers.
 * `servers` are the servers the client named, tried first.
 */
export interface FederatedMembership {
  /** A room alias of another server: `GET /query/directory` on the alias's server. */
  resolveAlias(alias: string): Promise<{ roomId: string; servers: string[] }>;
  join(userId: string, roomId: string, servers: readonly string[], content: JsonObject): Promise<string>;
  knock(userId: string, roomId: string, servers: readonly string[], content: JsonObject): Promise<string>;
  leave(userId: string, roomId: string, servers: readonly string[], content: JsonObject): Promise<void>;
  invite(sender: string, roomId: string, target: string, content: JsonObject): Promise<string>;
  /** PUT /exchange_third_party_invite on the inviting server: it issues the invite to our user. */
  exchangeThirdPartyInvite(roomId: string, partialEvent: JsonObject): Promise<void>;
}

const membershipOf = async (ctx: PrecheckContext, userId: string): Promise<string | undefined> => {
  const e = await ctx.get("m.room.member", userId);
  const m = e ? getOwn(e.event.content, "membership") : undefined;
  return typeof m === "string" ? m : undefined;
};

/**
 * Client-server "Room membership": joining (incl. restricted join rules via
 * local membership of another room), knocking, inviting, leaving, kicking,
 * banning, unbanning and forgetting. The auth rules decide; this adds the
 * checks the client-server API asks for on top.
 */
export class RoomMembership {
  constructor(private readonly d: MembershipDeps) {}

  /**
   * The room a join or knock names, and the servers to ask when this server
   * is not in it: the client's `via` / `server_name`, or for another
   * server's alias the servers its directory lists.
   */
  private async locate(roomIdOrAlias: string, via: readonly string[]): Promise<{ roomId: string; servers: string[] }> {
    const fed = this.d.federated;
    if (roomIdOrAlias.startsWith("#")) {
      if (!isValidRoomAlias(roomIdOrAlias)) throw new MatrixError(400, "M_INVALID_PARAM", "Invalid room alias");
      if (fed && serverNameOf(roomIdOrAlias) !== this.d.serverName) {
        const r = await fed.resolveAlias(roomIdOrAlias);
        return { roomId: r.roomId, servers: [...via, ...r.servers] };
      }
      return { roomId: await this.resolveRoom(roomIdOrAlias), servers: [...via] };
    }
    if (!isValidRoomId(roomIdOrAlias)) throw new MatrixError(400, "M_INVALID_PARAM", "Invalid room id or alias");
    if (!fed) await this.resolveRoom(roomIdOrAlias);
    return { roomId: roomIdOrAlias, servers: [...via] };
  }

  /**
   * Whether a membership change needs a handshake with another server: this
   * server does not have the room's graph, or none of its users is joined
   * and the client named other servers (its copy of the room may be stale).
   */
  private async needsHandshake(roomId: string, servers: readonly string[]): Promise<boolean> {
    if (!this.d.federated) return false;
    if (!(await this.d.store.roomVersion(roomId)) || !(await this.d.inRoomGraph?.(roomId))) return true;
    if (servers.every((s) => s === this.d.serverName)) return false;
    const joined = await this.d.state.membersOfRoom(roomId, ["join"]);
    return !joined.some((m) => serverNameOf(m.userId) === this.d.serverName);
  }

  /** Resolves a room id or a local alias to a room this server knows. */
  async resolveRoom(roomIdOrAlias: string): Promise<string> {
    let roomId = roomIdOrAlias;
    if (roomIdOrAlias.startsWith("#")) {
      if (!isValidRoomAlias(roomIdOrAlias)) throw new MatrixError(400, "M_INVALID_PARAM", "Invalid room alias");
      const row = await this.d.rooms.getAlias(roomIdOrAlias);
      if (!row) throw notFound("Room alias not found");
      roomId = row.roomId;
    } else if (!isValidRoomId(roomIdOrAlias)) {
      throw new MatrixError(400, "M_INVALID_PARAM", "Invalid room id or alias");
    }
    if (!(await this.d.store.roomVersion(roomId))) {
      // Joining rooms on other servers needs federation (make_join/send_join).
      throw notFound("No known room with this id; joining over federation is not available yet");
    }
    return roomId;
  }

  private async refuseBlocked(roomId: string): Promise<void> {
    if (await this.d.isRoomBlocked?.(roomId)) throw forbidden("This room has been blocked on this server");
  }

  /** `extra`: further keys of the join request body, kept in the member event's content as deployed servers do. */
  async join(sender: Sender, roomIdOrAlias: string, reason?: string, extra: JsonObject = {}, via: readonly string[] = []): Promise<string> {
    const { roomId, servers } = await this.locate(roomIdOrAlias, via);
    await this.refuseBlocked(roomId);
    const { membership: _m, reason: _r, third_party_signed: _t, join_authorised_via_users_server: _j, displayname: _d, avatar_url: _a, ...custom } = extra;
    const content = { ...custom, ...memberContent("join", await this.d.profiles.getProfile(sender.userId), reason) };
    if (this.d.federated && (await this.needsHandshake(roomId, servers))) {
      const current = await this.d.state.membership(roomId, sender.userId);
      if (current?.membership === "ban") throw forbidden("You are banned from this room");
      // Guests may only join rooms whose m.room.guest_access this server can read first.
      if (sender.isGuest === true) throw new MatrixError(403, "M_GUEST_ACCESS_FORBIDDEN", "Guests cannot join rooms on other servers");
      return this.d.federated.join(sender.userId, roomId, servers, content);
    }
    await this.d.writer.send(
      roomId,
      { type: "m.room.member", stateKey: sender.userId, sender: sender.userId, content },
      { precheck: (ctx) => this.joinPrecheck(ctx, sender.userId, content, sender.isGuest === true) },
    );
    return roomId;
  }

  /** Joined local guests leave a room whose m.room.guest_access no longer says can_join. */
  async removeGuests(roomId: string): Promise<void> {
    const isGuest = this.d.isGuest;
    if (!isGuest) return;
    const joined = await this.d.state.membersOfRoom(roomId, ["join"]);
    for (const m of joined) {
      if (serverNameOf(m.userId) !== this.d.serverName || !(await isGuest(m.userId))) continue;
      await this.d.writer
        .send(roomId, { type: "m.room.member", stateKey: m.userId, sender: m.userId, content: { membership: "leave" } })
        .catch(() => undefined);
    }
  }

  private async joinPrecheck(ctx: PrecheckContext, userId: string, content: JsonObject, guest: boolean): Promise<PrecheckResult> {
    const current = await ctx.get("m.room.member", userId);
    const currentMembership = current ? getOwn(current.event.content, "membership") : undefined;
    if (currentMembership === "ban") throw forbidden("You are banned from this room");
    if (guest) {
      // "Servers MUST only allow guest users to join rooms if m.room.guest_access ... is can_join."
      const ga = await ctx.get("m.room.guest_access", "");
      if (!ga || getOwn(ga.event.content, "guest_access") !== "can_join") {
        throw new MatrixError(403, "M_GUEST_ACCESS_FORBIDDEN", "Guests cannot join this room");
      }
    }
    if (currentMembership === "join" && current) {
      // A repeated join with the same profile changes nothing.
      const same = ["displayname", "avatar_url"].every((k) => getOwn(current.event.content, k) === getOwn(content, k));
      if (same) return current.row.eventId;
    }
    const jr = await ctx.get("m.room.join_rules", "");
    const rule = jr ? getOwn(jr.event.content, "join_rule") : undefined;
    const restricted =
      (ctx.rv.restrictedJoins && rule === "restricted") || (ctx.rv.knockRestricted && rule === "knock_restricted");
    if (!restricted || currentMembership === "join" || currentMembership === "invite") return;

    // "Restricted rooms": the joiner must be in one of the allowed rooms (local rooms only for now).
    const allow = jr ? getOwn(jr.event.content, "allow") : undefined;
    let allowed = false;
    if (Array.isArray(allow)) {
      for (const entry of allow) {
        if (!isJsonObject(entry) || entry.type !== "m.room_membership" || typeof entry.room_id !== "string") continue;
        const m = await this.d.state.membership(entry.room_id, userId, ctx.tx);
        if (m?.membership === "join") {
          allowed = true;
          break;
        }
      }
    }
    if (!allowed) throw forbidden("You are not a member of any room this room's join rules allow");
    // A joined local user who can invite vouches for the join (join_authorised_via_users_server).
    const levels = await powerLevelsAt(ctx);
    const joined = await this.d.state.membersOfRoom(ctx.roomId, ["join"], ctx.tx);
    const via = joined
      .map((m) => m.userId)
      .filter((u) => serverNameOf(u) === this.d.serverName && levels.userLevel(u) >= levels.inviteLevel)
      .sort((a, b) => levels.userLevel(b) - levels.userLevel(a))[0];
    if (!via) throw forbidden("No user on this server can authorise the join");
    return { content: { ...content, join_authorised_via_users_server: via } };
  }

  async knock(sender: Sender, roomIdOrAlias: string, reason?: string, via: readonly string[] = []): Promise<string> {
    const { roomId, servers } = await this.locate(roomIdOrAlias, via);
    await this.refuseBlocked(roomId);
    const content = memberContent("knock", await this.d.profiles.getProfile(sender.userId), reason);
    if (this.d.federated && (await this.needsHandshake(roomId, servers))) {
      const current = await this.d.state.membership(roomId, sender.userId);
      if (current?.membership === "ban") throw forbidden("You are banned from this room");
      if (current?.membership === "join") throw forbidden("You are already in this room");
      return this.d.federated.knock(sender.userId, roomId, servers, content);
    }
    await this.d.writer.send(roomId, { type: "m.room.member", stateKey: sender.userId, sender: sender.userId, content }, {
      precheck: async (ctx) => {
        const m = await membershipOf(ctx, sender.userId);
        if (m === "ban") throw forbidden("You are banned from this room");
        if (m === "join") throw forbidden("You are already in this room");
        if (m === "invite") throw forbidden("You are already invited to this room");
      },
    });
    return roomId;
  }

  async invite(sender: Sender, roomId: string, target: string, reason?: string): Promise<void> {
    this.checkTarget(target);
    await this.refuseBlocked(roomId);
    if (serverNameOf(target) !== this.d.serverName) {
      if (!this.d.federated) throw forbidden("Inviting users on other servers needs federation");
      await this.requireRoom(roomId);
      const content: JsonObject = reason !== undefined ? { membership: "invite", reason } : { membership: "invite" };
      await this.d.federated.invite(sender.userId, roomId, target, content);
      return;
    }
    const content = memberContent("invite", await this.d.profiles.getProfile(target), reason);
    await this.d.writer.send(roomId, { type: "m.room.member", stateKey: target, sender: sender.userId, content }, {
      precheck: async (ctx) => {
        const m = await membershipOf(ctx, target);
        if (m === "ban") throw forbidden(`${target} is banned from the room`);
        if (m === "join") throw forbidden(`${target} is already in the room`);
      },
    });
  }

  async leave(sender: Sender, roomId: string, reason?: string): Promise<void> {
    await this.requireRoom(roomId);
    const content: JsonObject = reason !== undefined ? { membership: "leave", reason } : { membership: "leave" };
    if (this.d.federated) {
      // An invite or knock held out of band (an outlier): the leave goes through another server.
      const own = await this.d.state.membership(roomId, sender.userId);
      const event = own && (own.membership === "invite" || own.membership === "knock") ? await this.d.store.getEvent(own.eventId) : undefined;
      if (event?.row.outlier) {
        await this.d.federated.leave(sender.userId, roomId, [], content);
        return;
      }
    }
    await this.d.writer.send(roomId, { type: "m.room.member", stateKey: sender.userId, sender: sender.userId, content }, {
      precheck: async (ctx) => {
        const current = await ctx.get("m.room.member", sender.userId);
        const m = current ? getOwn(current.event.content, "membership") : undefined;
        // Leaving a room one has already left changes nothing.
        if (m === "leave" && current) return current.row.eventId;
        if (m === undefined) throw forbidden("You are not in this room");
      },
    });
  }

  async kick(sender: Sender, roomId: string, target: string, reason?: string): Promise<void> {
    this.checkTarget(target);
    await this.requireRoom(roomId);
    const content: JsonObject = reason !== undefined ? { membership: "leave", reason } : { membership: "leave" };
    await this.d.writer.send(roomId, { type: "m.room.member", stateKey: target, sender: sender.userId, content }, {
      precheck: async (ctx) => {
        const m = await membershipOf(ctx, target);
        if (m !== "join" && m !== "invite" && m !== "knock") throw forbidden(`${target} is not in the room`);
      },
    });
  }

  async ban(sender: Sender, roomId: string, target: string, reason?: string): Promise<void> {
    this.checkTarget(target);
    await this.requireRoom(roomId);
    const content: JsonObject = reason !== undefined ? { membership: "ban", reason } : { membership: "ban" };
    await this.d.writer.send(roomId, { type: "m.room.member", stateKey: target, sender: sender.userId, content });
  }

  async unban(sender: Sender, roomId: string, target: string, reason?: string): Promise<void> {
    this.checkTarget(target);
    await this.requireRoom(roomId);
    const content: JsonObject = reason !== undefined ? { membership: "leave", reason } : { membership: "leave" };
    await this.d.writer.send(roomId, { type: "m.room.member", stateKey: target, sender: sender.userId, content }, {
      precheck: async (ctx) => {
        if ((await membershipOf(ctx, target)) !== "ban") throw forbidden(`${target} is not banned`);
      },
    });
  }

  async forget(userId: string, roomId: string): Promise<void> {
    const m = await this.d.state.membership(roomId, userId);
    if (!m) return;
    if (m.membership === "join" || m.membership === "invite" || m.membership === "knock") {
      throw new MatrixError(400, "M_UNKNOWN", "You must leave the room before forgetting it");
    }
    await this.d.state.forget(roomId, userId);
  }

  /** A profile change is announced in every joined room with a new join event (as Synapse does). */
  async updateProfile(userId: string, profile: { displayname?: string | null; avatar_url?: string | null }): Promise<void> {
    for (const roomId of await this.joinedRooms(userId)) {
      const content = memberContent("join", profile);
      await this.d.writer
        .send(roomId, { type: "m.room.member", stateKey: userId, sender: userId, content }, {
          precheck: async (ctx) => {
            const current = await ctx.get("m.room.member", userId);
            if (!current || getOwn(current.event.content, "membership") !== "join") throw forbidden("No longer joined");
            // Keep other fields of the join (e.g. is_direct, join_authorised_via_users_server is not needed again).
            const { displayname: _d, avatar_url: _a, join_authorised_via_users_server: _j, ...rest } = current.event.content;
            return { content: { ...rest, ...content } };
          },
        })
        .catch(() => undefined);
    }
  }

  /** A deactivated user leaves every room they are joined to or invited to. */
  async leaveAll(userId: string): Promise<void> {
    for (const m of await this.d.state.roomsOfUser(userId, ["join", "invite", "knock"])) {
      // Invites and knocks held out of band are rejected through another server.
      if (this.d.federated && m.membership !== "join" && (await this.d.store.getEvent(m.eventId))?.row.outlier) {
        await this.d.federated.leave(userId, m.roomId, [], { membership: "leave" }).catch(() => undefined);
        continue;
      }
      await this.d.writer
        .send(m.roomId, { type: "m.room.member", stateKey: userId, sender: userId, content: { membership: "leave" } })
        .catch(() => undefined);
    }
  }

  async joinedRooms(userId: string): Promise<string[]> {
    return (await this.d.state.roomsOfUser(userId, ["join"])).map((m) => m.roomId);
  }

  /** GET /v1/mutual_rooms: rooms both users are joined to, in pages of 100 (`m<offset>` tokens). */
  async mutualRooms(userId: string, other: string, from?: string): Promise<{ joined: string[]; count: number; next_batch?: string }> {
    if (!isValidUserId(other)) throw new MatrixError(400, "M_INVALID_PARAM", "The user ID provided was invalid");
    if (other === userId) throw new MatrixError(400, "M_INVALID_PARAM", "You cannot ask for rooms shared with yourself");
    let offset = 0;
    if (from !== undefined) {
      const m = /^m(\d{1,6})$/.exec(from);
      if (!m) throw new MatrixError(400, "M_INVALID_PARAM", "Invalid or expired pagination token");
      offset = Number(m[1]);
    }
    const mine = new Set(await this.joinedRooms(userId));
    const shared = (await this.joinedRooms(other)).filter((r) => mine.has(r)).sort();
    const page = shared.slice(offset, offset + MUTUAL_ROOMS_PAGE);
    const out: { joined: string[]; count: number; next_batch?: string } = { joined: page, count: shared.length };
    if (offset + MUTUAL_ROOMS_PAGE < shared.length) out.next_batch = `m${offset + MUTUAL_ROOMS_PAGE}`;
    return out;
  }

  private checkTarget(userId: string): void {
    if (!isValidUserId(userId)) throw new MatrixError(400, "M_INVALID_PARAM", "Invalid user_id");
  }

  private async requireRoom(roomId: string): Promise<void> {
    if (!(await this.d.store.roomVersion(roomId))) throw notFound("Unknown room");
  }
}
