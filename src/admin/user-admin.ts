import type { JsonObject } from "../core/index.js";
import { MatrixError, notFound } from "../http/errors.js";
import type { Logger } from "../logging.js";
import type { AdminRepo } from "../storage/admin-repo.js";
import type { AdminRoomsRepo } from "../storage/admin-rooms-repo.js";
import type { EventStore } from "../rooms/event-store.js";
import type { RoomMessaging } from "../rooms/messaging.js";

/** What the export reads from other areas, narrowly. */
export interface UserDataSources {
  profile(userId: string): Promise<JsonObject | undefined>;
  devices(userId: string): Promise<JsonObject[]>;
  accountData(userId: string): Promise<Array<{ room_id: string | null; type: string; content: JsonObject }>>;
  media(userId: string): Promise<JsonObject[]>;
  deleteMedia(userId: string): Promise<number>;
}

export interface UserAdminDeps {
  admin: AdminRepo;
  rooms: AdminRoomsRepo;
  store: EventStore;
  messaging: RoomMessaging;
  sources: UserDataSources;
  /** The message rate limiter reads the overrides again. */
  ratelimitsChanged?: () => void;
  now: () => number;
  randomId: () => string;
  log: Logger;
}

// Events sent by a user that are worth redacting (membership stays: it is the room's history of who was there).
const REDACTABLE_TYPES = ["m.room.message", "m.room.encrypted", "m.sticker", "m.reaction", "m.poll.start", "m.room.topic", "m.room.name", "m.room.avatar"];

/**
 * Per-user admin: shadow bans, rate-limit overrides, redacting all of a
 * user's events (a background job) and the user's data export.
 */
export class UserAdmin {
  // Every message send asks; the set is small, cached, and re-read now and then (other processes).
  private banned: { users: Set<string>; at: number } | undefined;

  constructor(private readonly d: UserAdminDeps) {}

  async setShadowBanned(userId: string, banned: boolean): Promise<void> {
    await this.d.admin.setShadowBanned(userId, banned);
    this.banned = undefined;
  }

  async isShadowBanned(userId: string): Promise<boolean> {
    const now = this.d.now();
    if (!this.banned || now - this.banned.at > 30_000) this.banned = { users: await this.d.admin.shadowBannedUsers(), at: now };
    return this.banned.users.has(userId);
  }

  async ratelimit(userId: string): Promise<JsonObject> {
    const r = await this.d.admin.getRatelimit(userId);
    return r ? { messages_per_second: r.messagesPerSecond, burst_count: r.burstCount } : {};
  }

  async setRatelimit(userId: string, messagesPerSecond: number, burstCount: number): Promise<JsonObject> {
    await this.d.admin.setRatelimit(userId, messagesPerSecond, burstCount);
    this.d.ratelimitsChanged?.();
    return { messages_per_second: messagesPerSecond, burst_count: burstCount };
  }

  async deleteRatelimit(userId: string): Promise<void> {
    await this.d.admin.deleteRatelimit(userId);
    this.d.ratelimitsChanged?.();
  }

  /**
   * Schedules redaction of the user's events (in `rooms`, or every room they
   * sent to), sent by `redactor`; returns the job id.
   */
  async redactAll(userId: string, redactor: string, opts: { rooms: string[]; reason?: string; limit?: number }): Promise<string> {
    const redactId = this.d.randomId();
    await this.d.admin.insertRedaction({ redactId, userId, requester: redactor, status: "scheduled", createdTs: this.d.now() });
    void this.runRedaction(redactId, userId, redactor, opts).catch((err: unknown) => this.d.log.error({ err, redactId }, "user redaction failed"));
    return redactId;
  }

  async redactStatus(redactId: string): Promise<JsonObject> {
    const r = await this.d.admin.getRedaction(redactId);
    if (!r) throw notFound("redact id not found");
    return { status: r.status, failed_redactions: r.failed };
  }

  private async runRedaction(redactId: string, userId: string, redactor: string, opts: { rooms: string[]; reason?: string; limit?: number }): Promise<void> {
    await this.d.admin.updateRedaction(redactId, "active", {});
    const events = await this.d.rooms.eventIdsBySender(userId, {
      roomIds: opts.rooms.length > 0 ? opts.rooms : undefined,
      types: REDACTABLE_TYPES,
      skipRedacted: true,
      limit: opts.limit ?? 1000,
    });
    const failed: Record<string, string> = {};
    for (const e of events) {
      try {
        const txn = `admin-redact-${redactId}-${e.eventId}`;
        // The admin when they may redact there, else the sender themselves (always allowed while joined).
        await this.d.messaging
          .redact({ userId: redactor, deviceId: null }, e.roomId, e.eventId, txn, opts.reason)
          .catch(() => this.d.messaging.redact({ userId, deviceId: null }, e.roomId, e.eventId, txn, opts.reason));
      } catch (err) {
        failed[e.eventId] = err instanceof Error ? err.message : String(err);
      }
    }
    await this.d.admin.updateRedaction(
      redactId,
      Object.keys(failed).length > 0 && Object.keys(failed).length === events.length ? "failed" : "complete",
      failed,
    );
  }

  /**
   * Everything stored about a user that they gave us: profile, devices,
   * account data, the events they sent (as sent, also in rooms they left) and
   * the media they uploaded (metadata). Nothing of other users.
   */
  async exportData(userId: string): Promise<JsonObject> {
    const profile = await this.d.sources.profile(userId);
    if (!profile) throw notFound("User not found");
    const sent = await this.d.rooms.eventIdsBySender(userId, { limit: 100_000 });
    const loaded = await this.d.store.getEvents(sent.map((s) => s.eventId));
    const rooms: Record<string, JsonObject[]> = {};
    for (const s of [...sent].reverse()) {
      const e = loaded.get(s.eventId);
      if (!e) continue;
      (rooms[s.roomId] ??= []).push({
        event_id: s.eventId,
        type: e.row.type,
        ...(e.row.stateKey !== null ? { state_key: e.row.stateKey } : {}),
        sender: e.row.sender,
        origin_server_ts: e.row.originServerTs,
        content: e.event.content as JsonObject,
        ...(e.row.redactedBy ? { redacted_by: e.row.redactedBy } : {}),
      });
    }
    const accountData = await this.d.sources.accountData(userId);
    return {
      user_id: userId,
      exported_ts: this.d.now(),
      profile,
      devices: await this.d.sources.devices(userId),
      account_data: {
        global: Object.fromEntries(accountData.filter((a) => a.room_id === null).map((a) => [a.type, a.content])),
        rooms: accountData
          .filter((a) => a.room_id !== null)
          .reduce<Record<string, JsonObject>>((acc, a) => {
            (acc[a.room_id!] ??= {})[a.type] = a.content;
            return acc;
          }, {}),
      },
      events: rooms,
      media: await this.d.sources.media(userId),
    };
  }

  /** Erasure of a deactivated user's uploads. */
  async eraseMedia(userId: string): Promise<void> {
    try {
      await this.d.sources.deleteMedia(userId);
    } catch (err) {
      this.d.log.warn({ err, userId }, "could not delete an erased user's media");
      throw new MatrixError(500, "M_UNKNOWN", "Could not delete the user's media");
    }
  }
}
