/**
 * The federation area: outbound transport and signed client, other servers'
 * keys, inbound request authentication, and the server-server routes built on
 * them.
 */
import { readFileSync } from "node:fs";
import type { Router } from "@koa/router";
import type { Config } from "../config/schema.js";
import { signingKeyFromSeed, type JsonObject, type RoomVersion, type SigningKey } from "../core/index.js";
import type { Logger } from "../logging.js";
import { FederationTxnRepo } from "../storage/federation-txn-repo.js";
import { ServerKeysRepo } from "../storage/server-keys-repo.js";
import type { Sql } from "../storage/sql.js";
import { FederationClient } from "./client.js";
import { notariesFromConfig, RemoteKeyStore } from "./key-store.js";
import { FederationAuthenticator } from "./request-auth.js";
import { keyRoutes } from "./routes/keys.js";
import { sendRoutes } from "./routes/send.js";
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
  /** Server ACLs of a room; everything is allowed when absent. */
  serverAllowedInRoom?(server: string, roomId: string): Promise<boolean>;
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
  /** The federation sender; without it nothing about local users is sent to other servers. */
  outbound?: FederationOutbound;
  now?: () => number;
}

export interface FederationArea {
  client: FederationClient;
  keys: RemoteKeyStore;
  auth: FederationAuthenticator;
  transport: FederationTransport;
  routers: Router[];
  /** Other servers' users' keys for /keys/query and /keys/claim (with `edus`). */
  remoteKeys?: RemoteKeys;
  /** EDUs about local users for other servers (with `edus` and `outbound`). */
  eduSender?: EduSender;
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
  const auth = new FederationAuthenticator({ serverName, keys, now });
  const receiver = new TransactionReceiver({ input: deps.roomInput, keys, client, roomVersion: deps.roomVersion, log });
  const txns = new FederationTxnRepo(deps.sql);
  const ownKeys = (): JsonObject => ownKeyResponse(serverName, key, fed.old_verify_keys, now());
  const bodyLimit = config.limits.json_body_bytes;
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
    e && deps.outbound
      ? new EduSender({
          serverName,
          outbound: deps.outbound,
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
          serverAllowedInRoom: e.serverAllowedInRoom,
          isTracked,
          typing: e.typing,
          receipts: e.receipts,
          presence: e.presence,
          toDevice: e.toDevice,
          deviceLists: remoteLists,
          log,
        })
      : undefined;
  const routers = [keyRoutes({ serverName, signingKey: key, ownKeys, keys, now }), sendRoutes({ auth, receiver, edus, txns, bodyLimit, now })];
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
  return { client, keys, auth, transport, routers, remoteKeys, eduSender, close: () => transport.close() };
}
