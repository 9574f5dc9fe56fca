/**
 * The federation area: outbound transport and signed client, other servers'
 * keys, inbound request authentication, and the server-server routes built on
 * them.
 */
import { readFileSync } from "node:fs";
import type { Router } from "@koa/router";
import type { Config } from "../config/schema.js";
import type { DeliveryService } from "../delivery/index.js";
import { KNOWN_ROOM_VERSIONS, signingKeyFromSeed, type JsonObject, type RoomVersion, type SigningKey } from "../core/index.js";
import type { Logger } from "../logging.js";
import type { RoomDirectory } from "../rooms/directory.js";
import type { EventPersistedListener } from "../rooms/event-bus.js";
import type { EventStore } from "../rooms/event-store.js";
import type { RoomSummaries } from "../rooms/room-summary.js";
import type { SpaceHierarchy } from "../rooms/space-hierarchy.js";
import type { EventsRepo } from "../storage/events-repo.js";
import { FederationReadsRepo } from "../storage/federation-reads-repo.js";
import { FederationTxnRepo } from "../storage/federation-txn-repo.js";
import type { RoomStateRepo } from "../storage/room-state-repo.js";
import { ServerKeysRepo } from "../storage/server-keys-repo.js";
import type { Sql } from "../storage/sql.js";
import { BackfillRepo } from "../storage/backfill-repo.js";
import { FederationClient } from "./client.js";
import { FederationSender } from "./sender/federation-sender.js";
import { AuthedInput } from "./inbound/authed-input.js";
import { Backfiller } from "./inbound/backfill.js";
import { GapFiller } from "./inbound/gap-filler.js";
import { RemoteEvents } from "./inbound/remote-events.js";
import { StateAtPrevs } from "./inbound/state-at-prevs.js";
import { storedGraph } from "./inbound/stored-graph.js";
import { notariesFromConfig, RemoteKeyStore } from "./key-store.js";
import { RemoteAliases } from "./remote-aliases.js";
import { RemoteProfiles } from "./remote-profiles.js";
import { RemotePublicRooms } from "./remote-public-rooms.js";
import { FederationEventReads } from "./event-reads.js";
import { FederationQueries } from "./queries.js";
import { FederationAuthenticator } from "./request-auth.js";
import { backfillRoutes } from "./routes/backfill.js";
import { eventsRoutes } from "./routes/events.js";
import { hierarchyRoutes } from "./routes/hierarchy.js";
import { keyRoutes } from "./routes/keys.js";
import { publicRoomsRoutes } from "./routes/public-rooms.js";
import { queryRoutes } from "./routes/query.js";
import { sendRoutes } from "./routes/send.js";
import { timestampToEventRoutes } from "./routes/timestamp-to-event.js";
import type { MembershipFlowDeps } from "./membership/deps.js";
import { createMembershipFlows, type MembershipFlows } from "./membership/index.js";
import { supportedRoomVersions } from "./membership/remote-membership.js";
import { inviteRoutes } from "./routes/invites.js";
import { joinRoutes } from "./routes/joins.js";
import { knockRoutes } from "./routes/knocks.js";
import { leaveRoutes } from "./routes/leaves.js";
import { ServerAcls } from "./server-acls.js";
import { ownKeyResponse } from "./server-keys.js";
import { TransactionReceiver, type RoomInput } from "./transactions.js";
import { FederationTransport } from "./transport.js";
import type { DeviceKeysService } from "../e2ee/device-keys.js";
import type { DeviceListService } from "../e2ee/device-lists.js";
import { RemoteDeviceLists } from "../e2ee/remote-device-lists.js";
import { RemoteKeys } from "../e2ee/remote-keys.js";
import { DeviceListOutboundRepo } from "../storage/device-list-outbound-repo.js";
import { RemoteDeviceListsRepo } from "../storage/remote-device-lists-repo.js";
import type { InboundEduDeps } from "./edu/context.js";
import { EduReceiver } from "./edu/receiver.js";
import { EduSender } from "./edu/sender.js";
import { joinedServers, serverOf, type FederationOutbound } from "./outbound.js";
import { userDevicesRoutes } from "./routes/user-devices.js";
import { userKeysRoutes } from "./routes/user-keys.js";

/** The local services EDUs and the key endpoints read and write. */
export interface FederationEduDeps {
  typing: InboundEduDeps["typing"];
  receipts: InboundEduDeps["receipts"];
  presence: InboundEduDeps["presence"];
  toDevice: InboundEduDeps["toDevice"];
  deviceKeys: Pick<DeviceKeysService, "queryLocal" | "claimLocal" | "deviceListSnapshot">;
  deviceLists: Pick<DeviceListService, "markChanged">;
  isJoined(userId: string, roomId: string): Promise<boolean>;
  usersSharingRoomWith(userId: string): Promise<string[]>;
}

export interface FederationAreaDeps {
  config: Config;
  sql: Sql;
  log: Logger;
  signingKey: { keyId: string; seed: Uint8Array };
  roomInput: RoomInput;
  roomVersion(roomId: string): Promise<RoomVersion | undefined>;
  /** EDUs in and out, and the device and key endpoints; without it /send ignores EDUs. */
  edus?: FederationEduDeps;
  /** Where EDUs about local users go; default: this area's own sender (tests may hand in another). */
  outbound?: FederationOutbound;
  /** What the endpoints other servers read from (room history, directory, spaces, profiles) need. */
  serving: FederationServingDeps;
  /** The rooms area's parts the membership handshakes use; without them there are none. */
  rooms?: Pick<MembershipFlowDeps, "writer" | "templates" | "store" | "state" | "events" | "userExists" | "isRoomBlocked" | "randomString" | "strippedStateOf">;
  /** What the outbound sender reads: the shared delivery service, the room event stream and events. */
  sending: {
    delivery: DeliveryService;
    store: Pick<EventStore, "getEvents">;
    upTo(): number;
    onPersisted(listener: EventPersistedListener): () => void;
    /** Scale-out: tell the other processes which destinations were just owed EDUs, and hear what they tell. */
    shared?: { publish(destinations: readonly string[]): void; onOwed(fn: (destinations: readonly string[]) => void): void };
  };
  now?: () => number;
}

export interface FederationServingDeps {
  store: EventStore;
  events: EventsRepo;
  state: RoomStateRepo;
  directory: RoomDirectory;
  summaries: RoomSummaries;
  hierarchy: SpaceHierarchy;
  /** The stream position up to which every room event is committed. */
  persistedUpTo: () => number;
  /** A local user's public profile (displayname, avatar_url, other fields). */
  profile: (userId: string) => Promise<Record<string, unknown> | undefined>;
  /** Which of these users' accounts were erased (their events are served redacted to servers that were not there). */
  erasedAmong?: (userIds: readonly string[]) => Promise<ReadonlySet<string>>;
}

export interface FederationArea {
  client: FederationClient;
  keys: RemoteKeyStore;
  auth: FederationAuthenticator;
  transport: FederationTransport;
  /** Profiles of users on other servers. */
  profiles: RemoteProfiles;
  /** Other servers' published room directories and room aliases. */
  publicRooms: RemotePublicRooms;
  aliases: RemoteAliases;
  routers: Router[];
  /** Other servers' users' keys for /keys/query and /keys/claim (with `edus`). */
  remoteKeys?: RemoteKeys;
  /** EDUs about local users for other servers (with `edus` and `outbound`). */
  eduSender?: EduSender;
  /**
   * "Server Access Control Lists (ACLs)": whether the room's current ACL
   * lets `serverName` take part; room EDUs (typing, receipts) from a denied
   * server are ignored with it.
   */
  serverAllowedInRoom(roomId: string, serverName: string): Promise<boolean>;
  /** Asks servers in a room for history before what this server has (client /messages). */
  backfiller: Pick<Backfiller, "backfill">;
  /** Joins, leaves, knocks and invites across servers (when `rooms` was given). */
  membership?: MembershipFlows;
  /** Outbound transactions to other servers (PDUs from the room stream, queued EDUs). */
  outbound: FederationOutbound;
  /** Starts sending to every destination owed something (after start-up). */
  startSending(): Promise<void>;
  close(): Promise<void>;
}

export function createFederationArea(deps: FederationAreaDeps): FederationArea {
  const { config, log } = deps;
  const now = deps.now ?? Date.now;
  const fed = config.federation;
  const serverName = config.server_name;
  const key: SigningKey = signingKeyFromSeed(deps.signingKey.seed, deps.signingKey.keyId.slice(deps.signingKey.keyId.indexOf(":") + 1));
  const transport = new FederationTransport({
    verifyTls: fed.verify_tls,
    ca: fed.ca_file ? readFileSync(fed.ca_file, "utf8") : undefined,
    allowPrivateAddresses: fed.allow_private_addresses,
    now,
  });
  const client = new FederationClient(transport, serverName, key);
  const keys = new RemoteKeyStore({
    repo: new ServerKeysRepo(deps.sql),
    serverName,
    signingKey: key,
    oldVerifyKeys: fed.old_verify_keys,
    notaries: notariesFromConfig(fed.trusted_key_servers),
    fetchers: {
      direct: (server) => client.get(server, "/_matrix/key/v2/server", { unsigned: true, maxBytes: 256 * 1024 }),
      notary: (notary, body) => client.post(notary, "/_matrix/key/v2/query", body, { unsigned: true, maxBytes: 4 * 1024 * 1024 }),
    },
    now,
    log,
  });
  // PDUs of local users from the room stream, and the EDUs the areas queue (typing, to-device...).
  const sender = new FederationSender({
    serverName,
    sql: deps.sql,
    delivery: deps.sending.delivery,
    store: deps.sending.store,
    upTo: deps.sending.upTo,
    onPersisted: deps.sending.onPersisted,
    put: (destination, path, body, signal) => client.put(destination, path, body, { signal, maxBytes: 1024 * 1024 }),
    options: {
      minBackoffMs: fed.sender.min_backoff_ms,
      maxBackoffMs: fed.sender.max_backoff_ms,
      ephemeralEduTtlMs: fed.sender.ephemeral_edu_ttl_ms,
    },
    log,
    now,
    shareEdus: deps.sending.shared ? (destinations) => deps.sending.shared?.publish(destinations) : undefined,
  });
  deps.sending.shared?.onOwed((destinations) => sender.owed(destinations));
  const auth = new FederationAuthenticator({ serverName, keys, now, onVerified: (origin) => sender.heardFrom(origin) });
  const serving = deps.serving;
  const acls = new ServerAcls({ state: serving.state, store: serving.store });
  const serverAllowedInRoom = (roomId: string, server: string) => acls.serverAllowedInRoom(roomId, server);
  // Receiving beyond one PDU: gaps before live PDUs, and backfill for clients' /messages.
  const graph = storedGraph(serving.events);
  const remote = new RemoteEvents({ client, log });
  const authed = new AuthedInput({ input: deps.roomInput, keys, remote, log });
  const states = new StateAtPrevs({ graph, remote, input: authed, log });
  const gaps = new GapFiller({ graph, remote, input: authed, states, log, now });
  const backfiller = new Backfiller({
    repo: new BackfillRepo(deps.sql),
    graph,
    remote,
    input: authed,
    states,
    roomVersion: deps.roomVersion,
    servers: (roomId) => joinedServers(deps.sql, roomId, serverName),
    serverName,
    log,
    now,
  });
  const receiver = new TransactionReceiver({ input: deps.roomInput, keys, client, roomVersion: deps.roomVersion, serverAllowedInRoom, log, gaps });
  const readsRepo = new FederationReadsRepo(deps.sql);
  const reads = new FederationEventReads({
    serverName,
    store: serving.store,
    events: serving.events,
    reads: readsRepo,
    acls,
    persistedUpTo: serving.persistedUpTo,
    erasedAmong: serving.erasedAmong,
    now,
  });
  const queries = new FederationQueries({
    serverName,
    directory: serving.directory,
    summaries: serving.summaries,
    hierarchy: serving.hierarchy,
    store: serving.store,
    reads: readsRepo,
    acls,
    joinedServers: (roomId) => joinedServers(deps.sql, roomId, serverName),
    profile: serving.profile,
  });
  const bodyLimit = config.limits.json_body_bytes;
  const txns = new FederationTxnRepo(deps.sql);
  const ownKeys = (): JsonObject => ownKeyResponse(serverName, key, fed.old_verify_keys, now());
  const e = deps.edus;
  const isTracked = async (userId: string) => e !== undefined && (await e.usersSharingRoomWith(userId)).some((u) => serverOf(u) === serverName);
  const remoteLists = e
    ? new RemoteDeviceLists({
        repo: new RemoteDeviceListsRepo(deps.sql),
        deviceLists: e.deviceLists,
        fetchDevices: (server, userId) =>
          client.get(server, `/_matrix/federation/v1/user/devices/${encodeURIComponent(userId)}`, { maxBytes: 4 * 1024 * 1024 }),
        isTracked,
        clock: { now },
        log,
      })
    : undefined;
  const remoteKeys =
    e && remoteLists
      ? new RemoteKeys({
          fetcher: {
            keysQuery: (server, body) => client.post(server, "/_matrix/federation/v1/user/keys/query", body, { maxBytes: 4 * 1024 * 1024 }),
            keysClaim: (server, body) => client.post(server, "/_matrix/federation/v1/user/keys/claim", body, { maxBytes: 4 * 1024 * 1024 }),
          },
          cache: remoteLists,
          isTracked,
          log,
        })
      : undefined;
  const outboundRepo = new DeviceListOutboundRepo(deps.sql);
  const eduSender =
    e
      ? new EduSender({
          serverName,
          outbound: deps.outbound ?? sender,
          roomServers: (roomId) => joinedServers(deps.sql, roomId, serverName),
          usersSharingRoomWith: e.usersSharingRoomWith,
          snapshot: (userId) => e.deviceKeys.deviceListSnapshot(userId),
          outboundRepo,
          log,
        })
      : undefined;
  const edus =
    e && remoteLists
      ? new EduReceiver({
          serverName,
          isJoined: e.isJoined,
          serverAllowedInRoom: (server, roomId) => serverAllowedInRoom(roomId, server),
          isTracked,
          typing: e.typing,
          receipts: e.receipts,
          presence: e.presence,
          toDevice: e.toDevice,
          deviceLists: remoteLists,
          log,
        })
      : undefined;
  const routers = [
    keyRoutes({ serverName, signingKey: key, ownKeys, keys, now }),
    sendRoutes({ auth, receiver, edus, txns, bodyLimit, now }),
    eventsRoutes({ auth, reads, bodyLimit }),
    backfillRoutes({ auth, reads, bodyLimit }),
    timestampToEventRoutes({ auth, reads, bodyLimit }),
    queryRoutes({ auth, queries, bodyLimit }),
    publicRoomsRoutes({ auth, queries, bodyLimit }),
    hierarchyRoutes({ auth, queries, bodyLimit }),
  ];
  const profiles = new RemoteProfiles({ client, now });
  const publicRooms = new RemotePublicRooms({ client });
  const aliases = new RemoteAliases({ client });
  if (e) {
    routers.push(
      userDevicesRoutes({
        auth,
        serverName,
        snapshot: (userId) => e.deviceKeys.deviceListSnapshot(userId),
        streamId: (userId) => outboundRepo.streamId(userId),
        bodyLimit,
      }),
      userKeysRoutes({ auth, queryLocal: (wanted) => e.deviceKeys.queryLocal("", wanted), claimLocal: (wanted) => e.deviceKeys.claimLocal(wanted), bodyLimit }),
    );
  }
  let membership: MembershipFlows | undefined;
  if (deps.rooms) {
    membership = createMembershipFlows({
      ...deps.rooms,
      serverName,
      signingKey: key,
      keys,
      client,
      log,
      now,
      supportedVersions: supportedRoomVersions(KNOWN_ROOM_VERSIONS),
      serverAllowedInRoom,
    });
    routers.push(
      joinRoutes({ auth, resident: membership.resident, bodyLimit }),
      leaveRoutes({ auth, resident: membership.resident, bodyLimit }),
      knockRoutes({ auth, resident: membership.resident, bodyLimit }),
      inviteRoutes({ auth, invites: membership.invites, bodyLimit }),
    );
  }
  return {
    client,
    keys,
    auth,
    transport,
    profiles,
    publicRooms,
    aliases,
    routers,
    serverAllowedInRoom,
    backfiller,
    remoteKeys,
    eduSender,
    membership,
    outbound: sender,
    startSending: () => sender.start(),
    close: async () => {
      // Workers stop before the transport goes, so no send fails only because of shutdown.
      await sender.close();
      await transport.close();
    },
  };
}
