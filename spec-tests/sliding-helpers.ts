import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "vitest";
import { parseConfig } from "../src/config/load.js";
import type { ConfigInput } from "../src/config/schema.js";
import { createLogger } from "../src/logging.js";
import { startServer, type RunningServer } from "../src/server.js";
import { copyPgliteTemplate, createPgTestDatabase, ensurePgliteTemplate, testDatabaseUrl } from "../test/support/databases.js";
import { httpRequest, type TestServer } from "./harness.js";
import { api, enc, type J, type TestUser } from "./sync-helpers.js";

export const SLIDING = "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync";

/** A test server that can be stopped and started again on the same database and data_dir. */
export interface RestartableServer extends TestServer {
  restart(): Promise<void>;
}

export async function startRestartable(overrides: ConfigInput = {}): Promise<RestartableServer> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), "hs-sliding-"));
  const pgUrl = testDatabaseUrl();
  let dropDb: (() => Promise<void>) | undefined;
  let database: ConfigInput["database"];
  if (pgUrl) {
    const db = await createPgTestDatabase(pgUrl);
    dropDb = db.drop;
    database = { url: db.url, pool_size: 8 };
  } else copyPgliteTemplate(await ensurePgliteTemplate(), path.join(dataDir, "db"));
  const config = parseConfig({
    server_name: "localhost",
    data_dir: dataDir,
    rate_limits: { enabled: false },
    registration: { enabled: true },
    password_policy: { scrypt_cost: 1024 },
    ...overrides,
    database,
    listeners: { client: { bind: "127.0.0.1", port: 0 }, federation: null },
    logging: { level: (process.env.TEST_LOG_LEVEL as "silent") ?? "silent" },
  });
  let server: RunningServer = await startServer(config, { log: createLogger(config.logging.level) });
  const hs: RestartableServer = {
    server,
    url: server.clientUrl,
    federationUrl: undefined,
    dataDir,
    engine: server.sql.engine,
    request: (method, urlPath, opts) => httpRequest(hs.url, method, urlPath, opts),
    async restart() {
      await server.close();
      server = await startServer(config, { log: createLogger(config.logging.level) });
      hs.server = server;
      hs.url = server.clientUrl;
    },
    async close() {
      await server.close();
      if (dropDb) await dropDb();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return hs;
}

export async function slidingSync(hs: TestServer, u: TestUser, body: J, expectStatus = 200): Promise<J> {
  const r = await hs.request<J>("POST", SLIDING, { token: u.token, body });
  expect(r.status, JSON.stringify(r.json)).toBe(expectStatus);
  return r.json;
}

/**
 * Creates `n` rooms for `u`: all but the last `ordered` a few at a time, then
 * those one after another, named `${prefix} i`, so the last `ordered` are
 * known to be the most recent, in index order.
 */
export async function createRooms(hs: TestServer, u: TestUser, n: number, prefix: string, ordered = 20): Promise<string[]> {
  // PGlite has one connection: more requests at once only queue up there.
  const parallel = hs.engine === "pglite" ? 4 : 12;
  const ids: string[] = new Array(n);
  const create = async (i: number, named: boolean) => {
    // public_chat: the fewest events a room can start with (no guest_access); only the ordered ones get a name.
    const r = await api(hs, "POST", "/createRoom", u.token, { preset: "public_chat", ...(named ? { name: `${prefix} ${i}` } : {}) });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    ids[i] = r.json.room_id as string;
  };
  let next = 0;
  const unordered = Math.max(0, n - ordered);
  const worker = async () => {
    for (let i = next++; i < unordered; i = next++) await create(i, false);
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  for (let i = unordered; i < n; i++) await create(i, true);
  return ids;
}

export async function sendText(hs: TestServer, u: TestUser, roomId: string, body: string, txn = `t${Math.random().toString(36).slice(2)}`): Promise<string> {
  const r = await api(hs, "PUT", `/rooms/${enc(roomId)}/send/m.room.message/${txn}`, u.token, { msgtype: "m.text", body });
  expect(r.status, JSON.stringify(r.json)).toBe(200);
  return r.json.event_id as string;
}
