/**
 * The federation area: outbound transport and signed client, other servers'
 * keys, inbound request authentication, and the server-server routes built on
 * them.
 */
import { readFileSync } from "node:fs";
import type { Router } from "@koa/router";
import type { Config } from "../config/schema.js";
import { KNOWN_ROOM_VERSIONS, signingKeyFromSeed, type JsonObject, type RoomVersion, type SigningKey } from "../core/index.js";
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
import type { MembershipFlowDeps } from "./membership/deps.js";
import { createMembershipFlows, type MembershipFlows } from "./membership/index.js";
import { supportedRoomVersions } from "./membership/remote-membership.js";
import { inviteRoutes } from "./routes/invites.js";
import { joinRoutes } from "./routes/joins.js";
import { knockRoutes } from "./routes/knocks.js";
import { leaveRoutes } from "./routes/leaves.js";
import { queryDirectoryRoutes } from "./routes/query-directory.js";

export interface FederationAreaDeps {
  config: Config;
  sql: Sql;
  log: Logger;
  signingKey: { keyId: string; seed: Uint8Array };
  roomInput: RoomInput;
  roomVersion(roomId: string): Promise<RoomVersion | undefined>;
  /** The rooms area's parts the membership handshakes use; without them there are none. */
  rooms?: Pick<MembershipFlowDeps, "writer" | "templates" | "store" | "state" | "events" | "userExists" | "isRoomBlocked" | "randomString" | "strippedStateOf"> & {
    /** A local alias's room and the servers in it (GET /query/directory). */
    aliasLookup(alias: string): Promise<{ roomId: string; servers: string[] } | undefined>;
  };
  now?: () => number;
}

export interface FederationArea {
  client: FederationClient;
  keys: RemoteKeyStore;
  auth: FederationAuthenticator;
  transport: FederationTransport;
  routers: Router[];
  /** Joins, leaves, knocks and invites across servers (when `rooms` was given). */
  membership?: MembershipFlows;
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
  const routers = [
    keyRoutes({ serverName, signingKey: key, ownKeys, keys, now }),
    sendRoutes({ auth, receiver, txns, bodyLimit: config.limits.json_body_bytes, now }),
  ];
  let membership: MembershipFlows | undefined;
  if (deps.rooms) {
    const { aliasLookup, ...rooms } = deps.rooms;
    membership = createMembershipFlows({
      ...rooms,
      serverName,
      signingKey: key,
      keys,
      client,
      log,
      now,
      supportedVersions: supportedRoomVersions(KNOWN_ROOM_VERSIONS),
    });
    const bodyLimit = config.limits.json_body_bytes;
    routers.push(
      joinRoutes({ auth, resident: membership.resident, bodyLimit }),
      leaveRoutes({ auth, resident: membership.resident, bodyLimit }),
      knockRoutes({ auth, resident: membership.resident, bodyLimit }),
      inviteRoutes({ auth, invites: membership.invites, bodyLimit }),
      queryDirectoryRoutes({ auth, serverName, bodyLimit, lookup: aliasLookup }),
    );
  }
  return { client, keys, auth, transport, routers, membership, close: () => transport.close() };
}
