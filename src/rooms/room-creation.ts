import { getRoomVersion, isValidRoomAlias, isValidUserId, serverNameOf, type JsonObject } from "../core/index.js";
import { MatrixError } from "../http/errors.js";
import type { RoomsRepo } from "../storage/rooms-repo.js";
import type { EventDraft, RoomWriter } from "./event-writer.js";
import type { ProfileLookup } from "./profiles.js";
import type { ThirdPartyInviteRequest, ThirdPartyInvites } from "./third-party-invites.js";
import { memberContent } from "./profiles.js";

export type Preset = "private_chat" | "trusted_private_chat" | "public_chat";

export interface CreateRoomRequest {
  visibility?: "public" | "private";
  room_alias_name?: string;
  name?: string;
  topic?: string;
  invite?: string[];
  invite_3pid?: unknown[];
  room_version?: string;
  creation_content?: JsonObject;
  initial_state?: Array<{ type: string; state_key?: string; content: JsonObject }>;
  preset?: Preset;
  is_direct?: boolean;
  power_level_content_override?: JsonObject;
}

export interface RoomCreationDeps {
  writer: RoomWriter;
  rooms: RoomsRepo;
  profiles: ProfileLookup;
  serverName: string;
  defaultRoomVersion: string;
  now: () => number;
  randomString: (length: number) => string;
  thirdPartyInvites?: ThirdPartyInvites;
  /** Whether an alias is reserved for an application service the creator is not part of. */
  reservedAlias?: (alias: string, userId: string) => boolean;
  /** Invites a user of another server once the room exists (server-server "Inviting to a room"); none when absent. */
  inviteRemote?: (sender: string, roomId: string, target: string, content: JsonObject) => Promise<unknown>;
}

const PRESETS: Record<Preset, { join_rule: string; history_visibility: string; guest_access: string }> = {
  private_chat: { join_rule: "invite", history_visibility: "shared", guest_access: "can_join" },
  trusted_private_chat: { join_rule: "invite", history_visibility: "shared", guest_access: "can_join" },
  public_chat: { join_rule: "public", history_visibility: "shared", guest_access: "forbidden" },
};

/** Client-server "Creation" (POST /createRoom), events in the spec's order. */
export class RoomCreation {
  constructor(private readonly d: RoomCreationDeps) {}

  async createRoom(creator: string, req: CreateRoomRequest): Promise<{ roomId: string; alias?: string }> {
    const versionId = req.room_version ?? this.d.defaultRoomVersion;
    const rv = getRoomVersion(versionId);
    if (!rv || !rv.stable) throw new MatrixError(400, "M_UNSUPPORTED_ROOM_VERSION", `Room version ${versionId} is not supported`);

    const invitees = [...new Set(req.invite ?? [])];
    for (const u of invitees) {
      if (!isValidUserId(u)) throw new MatrixError(400, "M_INVALID_PARAM", `Invalid user id in invite: ${u}`);
      if (serverNameOf(u) !== this.d.serverName && !this.d.inviteRemote) {
        throw new MatrixError(403, "M_FORBIDDEN", `Cannot invite ${u}: federation is not available`);
      }
    }
    // Users of other servers are invited through their server once the room exists.
    const remoteInvitees = invitees.filter((u) => serverNameOf(u) !== this.d.serverName);
    const invites3pid: ThirdPartyInviteRequest[] = [];
    for (const i of req.invite_3pid ?? []) {
      const ok = (k: string) => typeof (i as Record<string, unknown>)?.[k] === "string";
      if (!["id_server", "id_access_token", "medium", "address"].every(ok)) {
        throw new MatrixError(400, "M_BAD_JSON", "invite_3pid entries need id_server, id_access_token, medium and address");
      }
      invites3pid.push(i as ThirdPartyInviteRequest);
    }
    if (invites3pid.length && !this.d.thirdPartyInvites) throw new MatrixError(400, "M_INVALID_PARAM", "Third-party invites are not available");
    for (const i of invites3pid) this.d.thirdPartyInvites!.checkRequest(i);

    let alias: string | undefined;
    if (req.room_alias_name !== undefined) {
      alias = `#${req.room_alias_name}:${this.d.serverName}`;
      if (/[:\s]/.test(req.room_alias_name) || req.room_alias_name === "" || !isValidRoomAlias(alias)) {
        throw new MatrixError(400, "M_INVALID_PARAM", "Invalid room_alias_name");
      }
      if (this.d.reservedAlias?.(alias, creator)) throw new MatrixError(400, "M_EXCLUSIVE", "This alias is reserved by an application service");
      if (await this.d.rooms.getAlias(alias)) throw new MatrixError(400, "M_ROOM_IN_USE", "Room alias already taken");
    }

    const preset: Preset = req.preset ?? (req.visibility === "public" ? "public_chat" : "private_chat");
    const trusted = preset === "trusted_private_chat";

    const createContent: JsonObject = { ...(req.creation_content ?? {}), room_version: rv.id };
    if (!rv.creatorIsSender) createContent.creator = creator;
    else delete createContent.creator;
    if (rv.creatorsHaveInfinitePower && trusted && invitees.length > 0) {
      // "For trusted_private_chat, the users specified in invite SHOULD also be appended to additional_creators."
      const extra = Array.isArray(createContent.additional_creators) ? createContent.additional_creators : [];
      createContent.additional_creators = [...new Set([...extra, ...invitees.filter((u) => u !== creator)])];
    }

    const users: JsonObject = {};
    if (!rv.creatorsHaveInfinitePower) {
      users[creator] = 100;
      if (trusted) for (const u of invitees) users[u] = 100;
    }
    const powerLevels: JsonObject = {
      users,
      users_default: 0,
      events: {
        "m.room.name": 50,
        "m.room.power_levels": 100,
        "m.room.history_visibility": 100,
        "m.room.canonical_alias": 50,
        "m.room.avatar": 50,
        // v12: tombstones must need more than state_default (creators are above every level anyway).
        "m.room.tombstone": rv.creatorsHaveInfinitePower ? 150 : 100,
        "m.room.server_acl": 100,
        "m.room.encryption": 100,
      },
      events_default: 0,
      state_default: 50,
      ban: 50,
      kick: 50,
      redact: 50,
      invite: preset === "public_chat" ? 50 : 0,
      notifications: { room: 50 },
      ...(req.power_level_content_override ?? {}),
    };

    const initial = (req.initial_state ?? []).map((s) => ({ type: s.type, stateKey: s.state_key ?? "", content: s.content }));
    const inInitial = (type: string) => initial.some((s) => s.type === type && s.stateKey === "");
    const p = PRESETS[preset];
    const creatorProfile = await this.d.profiles.getProfile(creator);
    const inviteeProfiles = await Promise.all(invitees.map((u) => this.d.profiles.getProfile(u)));

    const drafts = (): EventDraft[] => {
      const list: EventDraft[] = [];
      const state = (type: string, content: JsonObject, stateKey = "") => list.push({ type, stateKey, sender: creator, content });
      state("m.room.member", memberContent("join", creatorProfile), creator);
      state("m.room.power_levels", powerLevels);
      if (alias) state("m.room.canonical_alias", { alias });
      if (!inInitial("m.room.join_rules")) state("m.room.join_rules", { join_rule: p.join_rule });
      if (!inInitial("m.room.history_visibility")) state("m.room.history_visibility", { history_visibility: p.history_visibility });
      if (!inInitial("m.room.guest_access")) state("m.room.guest_access", { guest_access: p.guest_access });
      for (const s of initial) state(s.type, s.content, s.stateKey);
      if (req.name !== undefined) state("m.room.name", { name: req.name });
      if (req.topic !== undefined) {
        state("m.room.topic", { topic: req.topic, "m.topic": { "m.text": [{ body: req.topic, mimetype: "text/plain" }] } });
      }
      invitees.forEach((u, i) => {
        if (remoteInvitees.includes(u)) return;
        const content = memberContent("invite", inviteeProfiles[i]!);
        if (req.is_direct) content.is_direct = true;
        state("m.room.member", content, u);
      });
      return list;
    };

    try {
      const { roomId } = await this.d.writer.createRoom({
        rv,
        creator,
        createContent,
        roomId: rv.roomIdIsCreateEventHash ? undefined : `!${this.d.randomString(18)}:${this.d.serverName}`,
        visibility: req.visibility === "public" ? "public" : "private",
        beforeEvents: async (tx, roomId) => {
          if (alias && !(await this.d.rooms.createAlias(alias, roomId, creator, this.d.now(), tx))) {
            throw new MatrixError(400, "M_ROOM_IN_USE", "Room alias already taken");
          }
        },
        drafts,
      });
      // Third-party invites follow the room's creation ("Creation": invite_3pid), as other servers do.
      for (const i of invites3pid) await this.d.thirdPartyInvites!.invite({ userId: creator, deviceId: null }, roomId, i);
      for (const u of remoteInvitees) {
        const content: JsonObject = req.is_direct ? { membership: "invite", is_direct: true } : { membership: "invite" };
        // A server that cannot be reached does not undo the room; the invite can be sent again.
        await this.d.inviteRemote!(creator, roomId, u, content).catch(() => undefined);
      }
      return { roomId, alias };
    } catch (err) {
      // The whole creation is one transaction; a refused event means the request's state is invalid.
      if (err instanceof MatrixError && err.status === 403) {
        throw new MatrixError(400, "M_INVALID_ROOM_STATE", `Invalid initial room state: ${err.message}`);
      }
      throw err;
    }
  }
}
