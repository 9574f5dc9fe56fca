import { randomBytes } from "node:crypto";
import type { Router } from "@koa/router";
import type { Config } from "../config/schema.js";
import { isJsonObject, type JsonObject } from "../core/index.js";
import type { Authenticator } from "../http/auth.js";
import type { Logger } from "../logging.js";
import type { RoomsModule } from "../rooms/module.js";
import { AdminRepo } from "../storage/admin-repo.js";
import { AdminRoomsRepo } from "../storage/admin-rooms-repo.js";
import type { ContentReport } from "../storage/reports-repo.js";
import type { Sql } from "../storage/sql.js";
import { synapseAdminRoomRoutes } from "../client/routes/synapse-admin-rooms.js";
import { synapseAdminServerRoutes } from "../client/routes/synapse-admin-server.js";
import { VERSION } from "../version.js";
import { auditMiddleware } from "./audit.js";
import { adminGuard } from "./guard.js";
import { RoomAdmin } from "./room-admin.js";
import { RoomDeletion } from "./room-deletion.js";
import { HistoryPurge } from "./retention.js";
import { MessageLimits } from "./message-limits.js";
import { ServerNotices } from "./server-notices.js";
import { UserAdmin, type UserDataSources } from "./user-admin.js";

export interface AdminAreaOptions {
  config: Config;
  sql: Sql;
  log: Logger;
  auth: Authenticator;
  rooms: RoomsModule;
  isAdmin: (userId: string) => Promise<boolean>;
  /** Server admins and moderators (who may handle reports). */
  canModerate: (userId: string) => Promise<boolean>;
  /** A local account that exists and is not deactivated. */
  userActive: (userId: string) => Promise<boolean>;
  userExists: (userId: string) => Promise<boolean>;
  createSystemUser: (localpart: string, displayname: string) => Promise<void>;
  setRoomAccountData: (userId: string, roomId: string, type: string, content: JsonObject) => Promise<void>;
  getRoomAccountData: (userId: string, roomId: string, type: string) => Promise<JsonObject | undefined>;
  sources: UserDataSources;
  pushers: (userId: string) => Promise<Array<Record<string, unknown>>>;
  now?: () => number;
  /** Scale-out: whether this process runs the cluster's background jobs. */
  jobs?: { leads(): boolean };
  /** Scale-out: tells the other processes which cached events a purge removed. */
  onEventsPurged?: (eventIds: readonly string[]) => void;
}

const randomId = () => randomBytes(12).toString("base64url");

/**
 * Builds the administration area: Synapse-compatible room, server-notice,
 * report and user-moderation admin APIs, erasure, and the audit log. Wired
 * from server.ts, which passes narrow access to the other areas.
 */
export function createAdminArea(opts: AdminAreaOptions) {
  const { config, sql, log, rooms } = opts;
  const now = opts.now ?? Date.now;
  const serverName = config.server_name;
  const admin = new AdminRepo(sql);
  const roomsRepo = new AdminRoomsRepo(sql, serverName);
  const guard = adminGuard(opts.auth, opts.isAdmin);

  const roomAdmin = new RoomAdmin({
    repo: roomsRepo,
    admin,
    store: rooms.store,
    reader: rooms.reader,
    formatter: rooms.formatter,
    membership: rooms.membership,
    messaging: rooms.messaging,
    serverName,
    now,
  });
  const deletion = new RoomDeletion({
    admin,
    repo: roomsRepo,
    rooms: rooms.repos.rooms,
    membership: rooms.membership,
    creation: rooms.creation,
    messaging: rooms.messaging,
    serverName,
    userExists: opts.userExists,
    now,
    randomId,
    log,
    // Served events come from the room store's cache: purged ones must not.
    onPurged: (_roomId, eventIds) => {
      for (const id of eventIds) rooms.store.invalidate(id);
      opts.onEventsPurged?.(eventIds);
    },
  });
  const history = new HistoryPurge({
    leads: opts.jobs ? () => opts.jobs!.leads() : undefined,
    repo: roomsRepo,
    config: config.retention,
    now,
    randomId,
    log,
    onPurged: (eventIds) => {
      for (const id of eventIds) rooms.store.invalidate(id);
      opts.onEventsPurged?.(eventIds);
    },
  });
  history.start();
  const notices = new ServerNotices({
    config: config.server_notices,
    serverName,
    admin,
    state: rooms.repos.state,
    creation: rooms.creation,
    messaging: rooms.messaging,
    userActive: opts.userActive,
    ensureSystemUser: opts.createSystemUser,
    tagRoom: async (userId, roomId) => {
      const current = await opts.getRoomAccountData(userId, roomId, "m.tag");
      const tags = current && isJsonObject(current.tags) ? current.tags : {};
      await opts.setRoomAccountData(userId, roomId, "m.tag", { tags: { ...tags, "m.server_notice": {} } });
    },
    randomTxn: randomId,
  });
  const messageLimits = new MessageLimits({ admin, enabled: config.rate_limits.enabled, rule: config.rate_limits.messages_per_user, now });
  const userAdmin = new UserAdmin({
    admin,
    rooms: roomsRepo,
    store: rooms.store,
    messaging: rooms.messaging,
    sources: opts.sources,
    ratelimitsChanged: () => messageLimits.invalidate(),
    now,
    randomId,
    log,
  });

  // Synapse's report fields; `kind` says whether an event, a room or a user was reported.
  const reportJson = async (r: ContentReport) => {
    const room = r.roomId ? await roomsRepo.room(r.roomId) : undefined;
    const ev = r.eventId ? await rooms.store.getEvent(r.eventId) : undefined;
    const summary: JsonObject = {
      id: r.id,
      kind: r.kind,
      received_ts: r.receivedTs,
      room_id: r.roomId,
      name: room?.name ?? null,
      canonical_alias: room?.canonicalAlias ?? null,
      event_id: r.eventId,
      user_id: r.reporter,
      target_user_id: r.targetUserId,
      reason: r.reason,
      score: null,
      sender: ev?.row.sender ?? null,
    };
    return { summary, details: { ...summary, event_json: ev ? (ev.pdu as JsonObject) : null } };
  };

  const clientRouters: Router[] = [
    synapseAdminRoomRoutes({ guard, rooms: roomAdmin, deletion, history, bodyLimit: config.limits.json_body_bytes }),
    synapseAdminServerRoutes({
      guard,
      moderationGuard: adminGuard(opts.auth, opts.canModerate),
      serverName,
      version: VERSION,
      notices,
      users: userAdmin,
      admin,
      reports: {
        list: async (from, limit, filter) => {
          const { reports, total } = await rooms.reports.list(from, limit, filter);
          return { reports: await Promise.all(reports.map(async (r) => (await reportJson(r)).summary)), total };
        },
        details: async (id) => {
          const r = await rooms.reports.get(id);
          return r ? (await reportJson(r)).details : undefined;
        },
        delete: (id) => rooms.reports.delete(id),
      },
      userExists: opts.userExists,
      joinedRooms: (userId) => rooms.membership.joinedRooms(userId),
      pushers: opts.pushers,
      bodyLimit: config.limits.json_body_bytes,
    }),
  ];

  return {
    repo: admin,
    roomAdmin,
    deletion,
    history,
    notices,
    users: userAdmin,
    clientRouters,
    /** Runs on the client listener around every request. */
    auditMiddleware: auditMiddleware({ repo: admin, auth: opts.auth, now, log }),
    close(): void {
      history.stop();
    },
    /** Whether nobody on this server may join the room. */
    isRoomBlocked: async (roomId: string) => (await admin.roomBlock(roomId)) !== undefined,
    isShadowBanned: (userId: string) => userAdmin.isShadowBanned(userId),
    /** Takes one message send of the user (429 when over their limit). */
    checkMessageRate: (userId: string) => messageLimits.check(userId),
    /** A user was deactivated: with erase, their media is deleted (the formatter redacts their events). */
    async onDeactivated(userId: string, erase: boolean): Promise<void> {
      if (!erase) return;
      await userAdmin.eraseMedia(userId).catch(() => undefined);
    },
  };
}

export type AdminArea = ReturnType<typeof createAdminArea>;
