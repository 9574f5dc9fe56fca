import type { JsonObject } from "../core/index.js";
import { MatrixError, notFound } from "../http/errors.js";
import type { AdminRepo } from "../storage/admin-repo.js";
import type { RoomStateRepo } from "../storage/room-state-repo.js";
import type { RoomCreation } from "../rooms/room-creation.js";
import type { RoomMessaging } from "../rooms/messaging.js";

export interface ServerNoticesConfig {
  /** Localpart of the notices sender; notices are off without it. */
  system_mxid_localpart?: string;
  system_mxid_display_name: string;
  room_name: string;
}

export interface ServerNoticesDeps {
  config: ServerNoticesConfig;
  serverName: string;
  admin: AdminRepo;
  state: RoomStateRepo;
  creation: RoomCreation;
  messaging: RoomMessaging;
  /** Whether a local account exists and is active. */
  userActive: (userId: string) => Promise<boolean>;
  /** Creates the notices account when it does not exist yet. */
  ensureSystemUser: (localpart: string, displayname: string) => Promise<void>;
  /** Tags the room `m.server_notice` for the user (room account data m.tag). */
  tagRoom: (userId: string, roomId: string) => Promise<void>;
  randomTxn: () => string;
}

/**
 * Server notices (client-server "Server Notices"): messages from the server to
 * a user, in a room the user is invited to, tagged `m.server_notice`, where
 * only the server may speak. One room per user, replaced once they leave it.
 */
export class ServerNotices {
  constructor(private readonly d: ServerNoticesDeps) {}

  get enabled(): boolean {
    return this.d.config.system_mxid_localpart !== undefined;
  }

  get systemUserId(): string | undefined {
    const lp = this.d.config.system_mxid_localpart;
    return lp === undefined ? undefined : `@${lp}:${this.d.serverName}`;
  }

  async send(userId: string, type: string, content: JsonObject, stateKey: string | undefined, txnId: string | undefined): Promise<string> {
    const system = this.systemUserId;
    if (!system) throw new MatrixError(400, "M_UNKNOWN", "Server notices are not enabled on this server");
    if (!userId.endsWith(`:${this.d.serverName}`)) throw new MatrixError(400, "M_UNKNOWN", "Server notices can only be sent to local users");
    if (!(await this.d.userActive(userId))) throw notFound("User not found");
    await this.d.ensureSystemUser(this.d.config.system_mxid_localpart!, this.d.config.system_mxid_display_name);
    const roomId = await this.roomFor(userId, system);
    const sender = { userId: system, deviceId: null };
    if (stateKey !== undefined) return this.d.messaging.sendState(sender, roomId, type, stateKey, content);
    return this.d.messaging.sendMessage(sender, roomId, type, content, txnId ?? this.d.randomTxn());
  }

  private async roomFor(userId: string, system: string): Promise<string> {
    const existing = await this.d.admin.noticeRoom(userId);
    if (existing) {
      const mine = await this.d.state.membership(existing, userId);
      const server = await this.d.state.membership(existing, system);
      if (server?.membership === "join" && (mine?.membership === "join" || mine?.membership === "invite")) return existing;
    }
    const { roomId } = await this.d.creation.createRoom(system, {
      preset: "private_chat",
      name: this.d.config.room_name,
      invite: [userId],
      // The user can read and leave, but not speak.
      power_level_content_override: { users_default: -10 },
    });
    await this.d.admin.setNoticeRoom(userId, roomId);
    await this.d.tagRoom(userId, roomId);
    return roomId;
  }
}
