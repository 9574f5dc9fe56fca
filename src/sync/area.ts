import type { Router } from "@koa/router";
import { ephemeralRoutes } from "../client/routes/ephemeral.js";
import { syncRoutes } from "../client/routes/sync.js";
import type { Config } from "../config/schema.js";
import { PresenceService, type PresenceAudience } from "../ephemeral/presence.js";
import { ReceiptsService, type RoomAccess } from "../ephemeral/receipts.js";
import { TypingService } from "../ephemeral/typing.js";
import type { Authenticator } from "../http/auth.js";
import type { IgnoredUsers } from "../rooms/ignored-users.js";
import type { RoomsModule } from "../rooms/module.js";
import type { AccountDataRepo } from "../storage/account-data-repo.js";
import { PresenceRepo } from "../storage/presence-repo.js";
import { ReceiptsRepo } from "../storage/receipts-repo.js";
import type { Sql } from "../storage/sql.js";
import { SyncRepo } from "../storage/sync-repo.js";
import { isServedToClients } from "../storage/events-repo.js";
import type { Notifier } from "./notifier.js";
import { PositionMemo } from "./position-memo.js";
import { TimelineTailsCache } from "./timeline-tails-cache.js";
import { RoomsSection } from "./rooms-section.js";
import { SyncService, type E2eeSyncReaders, type SyncServiceDeps } from "./sync-service.js";
import { LegacyStream } from "./legacy-stream.js";
import { legacySyncRoutes } from "../client/routes/legacy-sync.js";
import { peekRoutes } from "../client/routes/peek.js";
import { PeeksRepo } from "../storage/peeks-repo.js";
import { PeekedRooms } from "./peeked-rooms.js";
import { slidingSyncRoutes } from "../client/routes/sliding-sync.js";
import { SlidingSyncRepo } from "../storage/sliding-sync-repo.js";
import { directRoomIds, RoomFacts } from "./sliding/room-facts.js";
import { SlidingSyncService } from "./sliding/sliding-sync-service.js";

export interface SyncAreaDeps {
  config: Config;
  sql: Sql;
  auth: Authenticator;
  notifier: Notifier;
  rooms: Pick<RoomsModule, "positions" | "store" | "formatter" | "repos" | "ignoredUsers" | "reader" | "visibility" | "peeking" | "membership" | "outOfBand">;
  accountDataRepo: AccountDataRepo;
  /** Writes server-managed room account data (m.fully_read) and announces it. */
  setRoomAccountData(userId: string, roomId: string, type: string, content: Record<string, unknown>): Promise<void>;
  /** Subscribes to committed account data changes (accounts area events). */
  onAccountDataChanged(fn: (e: { userId: string; streamPos: number }) => void): void;
  e2ee: E2eeSyncReaders;
  /** Current push rules for initial syncs (push area). */
  pushRules?: SyncServiceDeps["pushRules"];
  notificationCounts?: SyncServiceDeps["notificationCounts"];
  /** A read receipt moved (push area: unread counts, badges). */
  onReceipt?: (userId: string, roomId: string, threadId: string, eventId: string) => Promise<void>;
}

// Long-polls are cut here whatever the client asks (clients use ~30 s).
const MAX_SYNC_TIMEOUT_MS = 5 * 60_000;

/**
 * Builds /sync and the ephemeral streams: typing, receipts, read
 * markers, presence, and the GET /sync assembly. Room events wake waiting
 * syncs through the rooms' event bus; account data through the accounts area.
 */
export async function createSyncArea(d: SyncAreaDeps) {
  const { notifier, rooms } = d;
  const syncRepo = new SyncRepo(d.sql);
  const receiptsRepo = new ReceiptsRepo(d.sql);
  const presenceRepo = new PresenceRepo(d.sql);

  // Heads of the database-backed streams as they were before this process started.
  notifier.seed("receipts", await receiptsRepo.currentPosition());
  notifier.seed("presence", await presenceRepo.currentPosition());
  notifier.seed("account_data", await d.accountDataRepo.currentPosition());

  // Room events wake waiters through the rooms' event bus, subscribed in server.ts
  // (room id, plus the target of a membership change, who may not yet listen on the room).
  d.onAccountDataChanged((e) => notifier.notify("account_data", e.streamPos, { userIds: [e.userId] }));

  const roomAccess: RoomAccess = {
    isJoined: async (userId, roomId) => (await rooms.repos.state.membership(roomId, userId))?.membership === "join",
    hasEvent: async (roomId, eventId) => {
      const e = await rooms.store.getEvent(eventId);
      return e !== undefined && e.row.roomId === roomId && isServedToClients(e.row) && e.row.streamOrdering <= rooms.positions.persistedUpTo;
    },
  };
  // Room co-membership changes only with room events, the ignore list only with account
  // data: both are read once per position and shared by the syncs one change wakes.
  const sharing = new PositionMemo<string[]>(() => rooms.positions.persistedUpTo);
  const audience: PresenceAudience = { usersSharingRoomWith: (userId) => sharing.get(userId, () => syncRepo.usersSharingRoomWith(userId)) };
  const ignoredLists = new PositionMemo<ReadonlySet<string>>(() => notifier.head("account_data"));
  const ignored: IgnoredUsers = { ignoredBy: (userId) => ignoredLists.get(userId, () => rooms.ignoredUsers.ignoredBy(userId)) };

  const typing = new TypingService(notifier);
  const receipts = new ReceiptsService(receiptsRepo, roomAccess, notifier, undefined, d.onReceipt);
  const presence = new PresenceService(presenceRepo, audience, notifier, {
    enabled: d.config.presence.enabled,
    idleTimeoutMs: d.config.presence.idle_timeout_ms,
  });
  // First pages of timelines, shared by every sync (GET and sliding) one change wakes.
  const tails = new TimelineTailsCache(syncRepo, () => rooms.positions.persistedUpTo);
  const section = new RoomsSection({
    repo: syncRepo,
    tails,
    store: rooms.store,
    formatter: rooms.formatter,
    state: rooms.repos.state,
    strippedStateOf: (eventId) => rooms.outOfBand.strippedState(eventId),
    ignored,
  });
  const peeks = new PeekedRooms({
    peeks: new PeeksRepo(d.sql),
    repo: syncRepo,
    store: rooms.store,
    formatter: rooms.formatter,
    visibility: rooms.visibility,
    reader: rooms.reader,
    resolveRoom: (r) => rooms.membership.resolveRoom(r),
    eventsPosition: () => rooms.positions.persistedUpTo,
  });
  const sync = new SyncService({
    peeks,
    joinedRooms: async (userId) => (await rooms.repos.state.roomsOfUser(userId, ["join"])).filter((r) => !r.forgotten).map((r) => r.roomId),
    rooms: section,
    repo: syncRepo,
    notifier,
    eventsPosition: () => rooms.positions.persistedUpTo,
    typing,
    receipts,
    presence,
    accountData: d.accountDataRepo,
    filters: d.accountDataRepo,
    e2ee: d.e2ee,
    pushRules: d.pushRules,
    notificationCounts: d.notificationCounts,
  });

  const legacy = new LegacyStream({
    sync,
    repo: syncRepo,
    store: rooms.store,
    state: rooms.repos.state,
    rooms: rooms.repos.rooms,
    visibility: rooms.visibility,
    formatter: rooms.formatter,
    reader: rooms.reader,
    notifier,
    presence,
    receipts,
    accountData: d.accountDataRepo,
  });

  // Simplified sliding sync (MSC4186) over the same readers, positions and notifier.
  const slidingRepo = new SlidingSyncRepo(d.sql);
  const sliding = new SlidingSyncService({
    repo: slidingRepo,
    list: { state: rooms.repos.state, syncRepo, repo: slidingRepo, store: rooms.store },
    results: {
      repo: slidingRepo,
      syncRepo,
      tails,
      store: rooms.store,
      formatter: rooms.formatter,
      visibility: rooms.visibility,
      strippedStateOf: (eventId) => rooms.outOfBand.strippedState(eventId),
      notificationCounts: d.notificationCounts,
    },
    extensions: {
      e2ee: d.e2ee,
      typing,
      receipts,
      accountData: d.accountDataRepo,
      pushRules: d.pushRules,
      keyChanges: (userId, from, to) => sync.keyChanges(userId, from, to),
    },
    notifier,
    currentToken: () => sync.currentToken(),
    presence,
    ignored,
    directRooms: async (userId) => directRoomIds(await d.accountDataRepo.get(userId, null, "m.direct")),
    roomFacts: new RoomFacts(rooms.repos.state, rooms.store),
  });

  const bodyLimit = d.config.limits.json_body_bytes;
  const clientRouters: Router[] = [
    ephemeralRoutes({
      auth: d.auth,
      typing,
      receipts,
      presence,
      rooms: roomAccess,
      accountData: { setRoomAccountData: d.setRoomAccountData },
      bodyLimit,
    }),
    syncRoutes({ auth: d.auth, sync, maxTimeoutMs: MAX_SYNC_TIMEOUT_MS }),
    legacySyncRoutes({ auth: d.auth, legacy, peeking: rooms.peeking }),
    peekRoutes({ auth: d.auth, peeks }),
    slidingSyncRoutes({ auth: d.auth, sliding, bodyLimit }),
  ];

  return {
    sync,
    sliding,
    typing,
    receipts,
    presence,
    audience,
    clientRouters,
    close() {
      typing.close();
    },
  };
}

export type SyncArea = Awaited<ReturnType<typeof createSyncArea>>;
