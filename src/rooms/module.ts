import { randomBytes } from "node:crypto";
import { signingKeyFromSeed, type SigningKey } from "../core/index.js";
import { EventsRepo } from "../storage/events-repo.js";
import { RelationsRepo } from "../storage/relations-repo.js";
import { ReportsRepo } from "../storage/reports-repo.js";
import { SearchRepo } from "../storage/search-repo.js";
import { RoomStateRepo } from "../storage/room-state-repo.js";
import { RoomsRepo } from "../storage/rooms-repo.js";
import type { Sql } from "../storage/sql.js";
import { EventFormatter } from "./client-format.js";
import { RoomDirectory, type DirectoryDeps } from "./directory.js";
import { RoomEventBus, type EventPersisted } from "./event-bus.js";
import { EventStore } from "./event-store.js";
import { IndexerChain, RelationsIndexer, SearchIndexer, type EventIndexer } from "./event-indexer.js";
import { RoomWriter } from "./event-writer.js";
import { noIgnoredUsers, type IgnoredUsers } from "./ignored-users.js";
import { withAliasQuery, type AppServiceAliases } from "./alias-hooks.js";
import { RoomMembership, type FederatedMembership } from "./membership.js";
import { EventTemplates } from "./event-template.js";
import { OutOfBandRepo } from "../storage/out-of-band-repo.js";
import { RoomMessaging } from "./messaging.js";
import { noProfiles, type ProfileLookup } from "./profiles.js";
import { RoomCreation } from "./room-creation.js";
import { RoomReader } from "./room-reader.js";
import { RoomRelations } from "./relations.js";
import { RoomSummaries } from "./room-summary.js";
import { ContentReports } from "./reports.js";
import { RoomPeeking } from "./peeking.js";
import { RoomSearch } from "./search.js";
import { SpaceHierarchy } from "./space-hierarchy.js";
import { RoomUpgrade } from "./room-upgrade.js";
import { type IdentityServerCalls, ThirdPartyInvites } from "./third-party-invites.js";
import { UpgradeCarryOver, type AccountDataAccess } from "./upgrade-carryover.js";
import { StreamPositions, type PositionTracker } from "./stream-positions.js";
import { HistoryVisibility } from "./visibility.js";

export interface RoomsModuleDeps {
  sql: Sql;
  serverName: string;
  /** The server's signing key as loaded by src/keys (`keyId` is "ed25519:<version>"). */
  signingKey: { keyId: string; seed: Uint8Array };
  defaultRoomVersion: string;
  bus?: RoomEventBus;
  profiles?: ProfileLookup;
  /** `m.ignored_user_list` of a user (accounts area); none when absent. */
  ignoredUsers?: IgnoredUsers;
  /** Account data, for carrying tags and m.direct over to upgraded rooms. */
  accountData?: AccountDataAccess;
  /** Requests to identity servers (third-party invites); without them such invites are refused. */
  identityServers?: IdentityServerCalls;
  /** Whether a local user is a guest account. */
  isGuest?: (userId: string) => Promise<boolean>;
  /** Aliases held by application services (queried when unknown, exclusive ones refused to others). */
  appServiceAliases?: AppServiceAliases;
  /** Whether a local user exists (for user reports); assumed when absent. */
  userExists?: (userId: string) => Promise<boolean>;
  /** Rooms blocked by a server admin (admin area); none when absent. */
  isRoomBlocked?: (roomId: string) => Promise<boolean>;
  /** Another server's published room directory and aliases (the federation area). */
  remotePublicRooms?: DirectoryDeps["remotePublicRooms"];
  remoteAlias?: DirectoryDeps["remoteAlias"];
  /** Membership handshakes with other servers (federation area); local rooms only when absent. */
  federated?: FederatedMembership;
  /** More indexes written in each event's transaction (push actions and unread counts). */
  indexers?: EventIndexer[];
  now?: () => number;
  randomString?: (length: number) => string;
  /**
   * Several processes on one database (scale-out): builds the position tracker
   * that follows every process's positions. `publish` hands committed events
   * to the bus, `invalidate` drops cached copies another process changed.
   */
  clusterPositions?: (publish: (n: EventPersisted) => void, invalidate: (eventIds: readonly string[]) => void) => Promise<PositionTracker>;
}

const ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

export function defaultRandomString(length: number): string {
  const bytes = randomBytes(length);
  return Array.from(bytes, (b) => ALPHABET[b % ALPHABET.length]).join("");
}

export interface RoomsModule {
  bus: RoomEventBus;
  positions: PositionTracker;
  store: EventStore;
  writer: RoomWriter;
  creation: RoomCreation;
  messaging: RoomMessaging;
  membership: RoomMembership;
  reader: RoomReader;
  directory: RoomDirectory;
  formatter: EventFormatter;
  visibility: HistoryVisibility;
  relations: RoomRelations;
  upgrade: RoomUpgrade;
  summaries: RoomSummaries;
  hierarchy: SpaceHierarchy;
  peeking: RoomPeeking;
  thirdPartyInvites: ThirdPartyInvites;
  search: RoomSearch;
  reports: ContentReports;
  ignoredUsers: IgnoredUsers;
  /** Unsigned event templates for other servers (make_join, make_leave, make_knock). */
  templates: EventTemplates;
  /** Memberships in rooms this server is not in (stripped state for /sync). */
  outOfBand: OutOfBandRepo;
  repos: { events: EventsRepo; state: RoomStateRepo; rooms: RoomsRepo; relations: RelationsRepo };
  /** Narrow read access for other areas (typing, receipts, sync). */
  access: {
    isJoined(userId: string, roomId: string): Promise<boolean>;
    hasEvent(roomId: string, eventId: string): Promise<boolean>;
  };
}

/** Builds the rooms area (wired from src/server.ts). */
export async function createRoomsModule(deps: RoomsModuleDeps): Promise<RoomsModule> {
  const now = deps.now ?? Date.now;
  const randomString = deps.randomString ?? defaultRandomString;
  const profiles = deps.profiles ?? noProfiles;
  const bus = deps.bus ?? new RoomEventBus();
  const events = new EventsRepo(deps.sql, deps.clusterPositions !== undefined);
  const state = new RoomStateRepo(deps.sql);
  const rooms = new RoomsRepo(deps.sql);
  const relationsRepo = new RelationsRepo(deps.sql);
  const ignoredUsers = deps.ignoredUsers ?? noIgnoredUsers;
  const store = new EventStore(events, state, rooms);
  const positions = deps.clusterPositions
    ? await deps.clusterPositions(
        (n) => bus.publish(n),
        (ids) => {
          for (const id of ids) store.invalidate(id);
        },
      )
    : new StreamPositions(await events.maxStreamOrdering(), (n) => bus.publish(n));
  const version = deps.signingKey.keyId.slice(deps.signingKey.keyId.indexOf(":") + 1);
  const signingKey: SigningKey = signingKeyFromSeed(deps.signingKey.seed, version);
  const outOfBand = new OutOfBandRepo(deps.sql);
  const writer = new RoomWriter({
    outOfBand,
    sql: deps.sql,
    events,
    state,
    rooms,
    store,
    positions,
    serverName: deps.serverName,
    signingKey,
    now,
    randomString,
    // Relations first: later indexes (push actions' threads) read them.
    indexer: new IndexerChain([new RelationsIndexer(relationsRepo), new SearchIndexer(new SearchRepo(deps.sql)), ...(deps.indexers ?? [])]),
  });
  const visibility = new HistoryVisibility(store, state);
  const formatter = new EventFormatter(store, events, now);
  if (deps.accountData) {
    const carryOver = new UpgradeCarryOver({ store, state, accountData: deps.accountData, serverName: deps.serverName });
    bus.onPersisted((n) => {
      // Copied once, by the process that wrote the join.
      if (n.type === "m.room.member" && n.membership === "join" && n.stateKey && !n.remote) void carryOver.onJoin(n.stateKey, n.roomId).catch(() => undefined);
    });
  }
  const reader = new RoomReader({ store, events, state, visibility, formatter, positions, ignored: ignoredUsers });
  const relations = new RoomRelations({
    repo: relationsRepo,
    events,
    store,
    visibility,
    formatter,
    positions,
    ignored: ignoredUsers,
    requireHistoryAccess: (userId, roomId) => reader.requireHistoryAccess(userId, roomId),
  });
  formatter.setBundler(relations);
  const resolvingRooms = withAliasQuery(rooms, deps.appServiceAliases);
  const membership = new RoomMembership({
    writer,
    store,
    state,
    rooms: resolvingRooms,
    profiles,
    serverName: deps.serverName,
    isGuest: deps.isGuest,
    isRoomBlocked: deps.isRoomBlocked,
    inRoomGraph: async (roomId) => (await events.writerHead(undefined, roomId, undefined)).extremities.length > 0,
    federated: deps.federated,
  });
  const messaging = new RoomMessaging(writer, rooms, store, deps.serverName, relationsRepo);
  messaging.onGuestAccessRevoked = (roomId) => membership.removeGuests(roomId);
  const summaries = new RoomSummaries({ rooms, state, store });
  const federated = deps.federated;
  const thirdPartyInvites = new ThirdPartyInvites({
    writer,
    membership,
    store,
    state,
    profiles,
    serverName: deps.serverName,
    identity: deps.identityServers,
    exchange: federated ? (roomId, event) => federated.exchangeThirdPartyInvite(roomId, event) : undefined,
  });
  return {
    bus,
    positions,
    store,
    writer,
    creation: new RoomCreation({
      writer,
      rooms,
      profiles,
      serverName: deps.serverName,
      defaultRoomVersion: deps.defaultRoomVersion,
      now,
      randomString,
      thirdPartyInvites,
      reservedAlias: deps.appServiceAliases?.reservedFor.bind(deps.appServiceAliases),
      inviteRemote: federated ? (sender, roomId, target, content) => federated.invite(sender, roomId, target, content) : undefined,
    }),
    messaging,
    membership,
    reader,
    directory: new RoomDirectory({
      rooms: resolvingRooms,
      state,
      store,
      membership,
      messaging,
      serverName: deps.serverName,
      now,
      reservedAlias: deps.appServiceAliases?.reservedFor.bind(deps.appServiceAliases),
      remotePublicRooms: deps.remotePublicRooms,
      remoteAlias: deps.remoteAlias,
    }),
    formatter,
    visibility,
    relations,
    upgrade: new RoomUpgrade({ sql: deps.sql, writer, store, state, rooms, profiles, serverName: deps.serverName, randomString }),
    summaries,
    hierarchy: new SpaceHierarchy({ state, store, summaries }),
    peeking: new RoomPeeking({ reader, events, store, visibility, formatter, positions, bus }),
    thirdPartyInvites,
    reports: new ContentReports({
      repo: new ReportsRepo(deps.sql),
      store,
      state,
      visibility,
      serverName: deps.serverName,
      userExists: deps.userExists ?? (async () => true),
      now,
    }),
    search: new RoomSearch({ repo: new SearchRepo(deps.sql), state, store, visibility, formatter, reader, positions, ignored: ignoredUsers }),
    ignoredUsers,
    templates: new EventTemplates({ store, events, state, serverName: deps.serverName, now, randomString }),
    outOfBand,
    repos: { events, state, rooms, relations: relationsRepo },
    access: {
      isJoined: async (userId, roomId) => (await state.membership(roomId, userId))?.membership === "join",
      hasEvent: async (roomId, eventId) => (await store.getEvent(eventId))?.row.roomId === roomId,
    },
  };
}
