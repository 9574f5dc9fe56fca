import type { JsonObject } from "../core/index.js";
import { MatrixError, notFound } from "../http/errors.js";
import type { Logger } from "../logging.js";
import type { AdminRepo, RoomDeletionRow } from "../storage/admin-repo.js";
import type { AdminRoomsRepo } from "../storage/admin-rooms-repo.js";
import type { RoomsRepo } from "../storage/rooms-repo.js";
import type { RoomCreation } from "../rooms/room-creation.js";
import type { RoomMembership } from "../rooms/membership.js";
import type { RoomMessaging } from "../rooms/messaging.js";

export interface DeleteRoomParams {
  new_room_user_id?: string;
  room_name?: string;
  message?: string;
  block: boolean;
  purge: boolean;
  force_purge: boolean;
}

export interface RoomDeletionDeps {
  admin: AdminRepo;
  repo: AdminRoomsRepo;
  rooms: RoomsRepo;
  membership: RoomMembership;
  creation: RoomCreation;
  messaging: RoomMessaging;
  serverName: string;
  userExists: (userId: string) => Promise<boolean>;
  now: () => number;
  randomId: () => string;
  log: Logger;
  /** Called once a room's data is purged, with its deleted events (caches). */
  onPurged?: (roomId: string, eventIds: readonly string[]) => void;
}

interface ShutdownResult {
  kicked_users: string[];
  failed_to_kick_users: string[];
  local_aliases: string[];
  new_room_id: string | null;
}

const DEFAULT_MESSAGE = "Sharing illegal content on this server is not permitted and rooms in violation will be blocked.";

/**
 * Shutting down and purging rooms (Synapse's delete room API): local members
 * leave (and join a replacement room when one is asked for), local aliases
 * move to it or go, the room leaves the directory, is optionally blocked, and
 * its data is purged. Jobs run in the background; their status is stored.
 */
export class RoomDeletion {
  private readonly running = new Set<string>();

  constructor(private readonly d: RoomDeletionDeps) {}

  /** Validates and schedules a deletion; returns its id at once. */
  async schedule(roomId: string, requester: string, params: DeleteRoomParams): Promise<string> {
    await this.validate(roomId, params);
    for (const j of await this.d.admin.deletionsOfRoom(roomId)) {
      if (j.status !== "complete" && j.status !== "failed") throw new MatrixError(400, "M_UNKNOWN", `History purge already in progress for ${roomId}`);
    }
    const deleteId = this.d.randomId();
    await this.d.admin.insertDeletion({ deleteId, roomId, requester, status: "scheduled", params: { ...params }, createdTs: this.d.now() });
    void this.run(deleteId).catch((err: unknown) => this.d.log.error({ err, deleteId }, "room deletion failed"));
    return deleteId;
  }

  /** The synchronous v1 API: runs the deletion and answers with its result. */
  async deleteNow(roomId: string, requester: string, params: DeleteRoomParams): Promise<JsonObject> {
    await this.validate(roomId, params);
    const deleteId = this.d.randomId();
    await this.d.admin.insertDeletion({ deleteId, roomId, requester, status: "scheduled", params: { ...params }, createdTs: this.d.now() });
    await this.run(deleteId);
    const job = await this.d.admin.getDeletion(deleteId);
    if (job?.status === "failed") throw new MatrixError(500, "M_UNKNOWN", job.error ?? "Room deletion failed");
    return (job?.result ?? {}) as JsonObject;
  }

  /** Jobs a restart interrupted are run again (each step is safe to repeat). */
  resumeUnfinished(): void {
    void this.d.admin
      .unfinishedDeletions()
      .then((jobs) => {
        for (const j of jobs) void this.run(j.deleteId).catch((err: unknown) => this.d.log.error({ err, deleteId: j.deleteId }, "room deletion failed"));
      })
      .catch((err: unknown) => this.d.log.error({ err }, "reading unfinished room deletions failed"));
  }

  async statusOfRoom(roomId: string): Promise<JsonObject> {
    const jobs = await this.d.admin.deletionsOfRoom(roomId);
    if (jobs.length === 0) throw notFound("No delete task for room_id");
    return { results: jobs.map((j) => ({ delete_id: j.deleteId, ...statusJson(j) })) };
  }

  async status(deleteId: string): Promise<JsonObject> {
    const j = await this.d.admin.getDeletion(deleteId);
    if (!j) throw notFound("delete id not found");
    return statusJson(j);
  }

  private async validate(roomId: string, params: DeleteRoomParams): Promise<void> {
    if (!/^![^:]*(:.+)?$/.test(roomId) || roomId.length > 255) throw new MatrixError(400, "M_INVALID_PARAM", `${roomId} is not a legal room ID`);
    if (params.new_room_user_id !== undefined) {
      if (!params.new_room_user_id.endsWith(`:${this.d.serverName}`)) throw new MatrixError(400, "M_INVALID_PARAM", "User must be our own");
      if (!(await this.d.userExists(params.new_room_user_id))) throw new MatrixError(400, "M_INVALID_PARAM", "new_room_user_id does not exist");
    }
    // Rooms this server does not know can still be blocked; anything else needs the room.
    if (!(await this.d.repo.roomExists(roomId)) && !params.block) throw notFound("Room not found");
  }

  private async run(deleteId: string): Promise<void> {
    if (this.running.has(deleteId)) return;
    this.running.add(deleteId);
    try {
      const job = await this.d.admin.getDeletion(deleteId);
      if (!job) return;
      try {
        await this.steps(job);
      } catch (err) {
        this.d.log.warn({ err, deleteId }, "room deletion step failed");
        await this.d.admin.updateDeletion(deleteId, "failed", this.d.now(), undefined, err instanceof Error ? err.message : String(err));
      }
    } finally {
      this.running.delete(deleteId);
    }
  }

  private async steps(job: RoomDeletionRow): Promise<void> {
    const p = job.params as unknown as DeleteRoomParams;
    const { roomId, deleteId } = job;
    const result: ShutdownResult = { kicked_users: [], failed_to_kick_users: [], local_aliases: [], new_room_id: null };
    await this.d.admin.updateDeletion(deleteId, "shutting_down", this.d.now(), { ...result });
    if (p.block) await this.d.admin.blockRoom(roomId, job.requester, this.d.now());
    const exists = await this.d.repo.roomExists(roomId);
    if (exists) {
      if (p.new_room_user_id !== undefined) {
        const created = await this.d.creation.createRoom(p.new_room_user_id, {
          preset: "public_chat",
          name: p.room_name ?? "Content Violation Notification",
          power_level_content_override: { users_default: -10 },
        });
        result.new_room_id = created.roomId;
        await this.d.messaging.sendMessage(
          { userId: p.new_room_user_id, deviceId: null },
          created.roomId,
          "m.room.message",
          {
            msgtype: "m.text",
            body: p.message ?? DEFAULT_MESSAGE,
          },
          `shutdown-${deleteId}`,
        );
      }
      for (const m of await this.d.repo.localMembersInRoom(roomId)) {
        try {
          // Not forgotten: the leave must reach their clients' next /sync.
          await this.d.membership.leave({ userId: m.userId, deviceId: null }, roomId);
          if (result.new_room_id && m.membership === "join" && m.userId !== p.new_room_user_id) {
            await this.d.membership.join({ userId: m.userId, deviceId: null }, result.new_room_id);
          }
          result.kicked_users.push(m.userId);
        } catch (err) {
          this.d.log.warn({ err, roomId, userId: m.userId }, "could not remove a member from a deleted room");
          result.failed_to_kick_users.push(m.userId);
        }
      }
      if (result.new_room_id) result.local_aliases = await this.d.rooms.moveAliases(roomId, result.new_room_id);
      else {
        result.local_aliases = await this.d.rooms.aliasesOfRoom(roomId);
        for (const a of result.local_aliases) await this.d.rooms.deleteAlias(a);
      }
      await this.d.rooms.setVisibility(roomId, "private");
      await this.d.admin.updateDeletion(deleteId, "shutting_down", this.d.now(), { ...result });
      if (p.purge) {
        if (result.failed_to_kick_users.length > 0 && !p.force_purge) {
          throw new Error("Users are still joined to this room; use force_purge to purge anyway");
        }
        await this.d.admin.updateDeletion(deleteId, "purging", this.d.now(), { ...result });
        await this.d.admin.forgetNoticeRoom(roomId);
        const gone = await this.d.repo.purgeRoom(roomId);
        this.d.onPurged?.(roomId, gone);
      }
    }
    await this.d.admin.updateDeletion(deleteId, "complete", this.d.now(), { ...result });
  }
}

function statusJson(j: RoomDeletionRow): JsonObject {
  const r = j.result as Partial<ShutdownResult>;
  const out: JsonObject = {
    status: j.status,
    shutdown_room: {
      kicked_users: r.kicked_users ?? [],
      failed_to_kick_users: r.failed_to_kick_users ?? [],
      local_aliases: r.local_aliases ?? [],
      new_room_id: r.new_room_id ?? null,
    },
  };
  if (j.error) out.error = j.error;
  return out;
}
