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
import { BackfillRepo } from "../storage/backfill-repo.js";
import { EventsRepo } from "../storage/events-repo.js";
import { FederationClient } from "./client.js";
import { AuthedInput } from "./inbound/authed-input.js";
import { Backfiller } from "./inbound/backfill.js";
import { GapFiller } from "./inbound/gap-filler.js";
import { RemoteEvents } from "./inbound/remote-events.js";
import { StateAtPrevs } from "./inbound/state-at-prevs.js";
import { storedGraph } from "./inbound/stored-graph.js";
import { joinedServers } from "./outbound.js";
import { notariesFromConfig, RemoteKeyStore } from "./key-store.js";
import { FederationAuthenticator } from "./request-auth.js";
import { keyRoutes } from "./routes/keys.js";
import { sendRoutes } from "./routes/send.js";
import { ownKeyResponse } from "./server-keys.js";
import { TransactionReceiver, type RoomInput } from "./transactions.js";
import { FederationTransport } from "./transport.js";

export interface FederationAreaDeps {
  config: Config;
  sql: Sql;
  log: Logger;
  signingKey: { keyId: string; seed: Uint8Array };
  roomInput: RoomInput;
  roomVersion(roomId: string): Promise<RoomVersion | undefined>;
  now?: () => number;
}

export interface FederationArea {
  client: FederationClient;
  keys: RemoteKeyStore;
  auth: FederationAuthenticator;
  transport: FederationTransport;
  routers: Router[];
  /** Asks servers in a room for history before what this server has (client /messages). */
  backfiller: Pick<Backfiller, "backfill">;
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
  const graph = storedGraph(new EventsRepo(deps.sql));
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
  const receiver = new TransactionReceiver({ input: deps.roomInput, keys, client, roomVersion: deps.roomVersion, log, gaps });
  const txns = new FederationTxnRepo(deps.sql);
  const ownKeys = (): JsonObject => ownKeyResponse(serverName, key, fed.old_verify_keys, now());
  const routers = [
    keyRoutes({ serverName, signingKey: key, ownKeys, keys, now }),
    sendRoutes({ auth, receiver, txns, bodyLimit: config.limits.json_body_bytes, now }),
  ];
  return { client, keys, auth, transport, routers, backfiller, close: () => transport.close() };
}
