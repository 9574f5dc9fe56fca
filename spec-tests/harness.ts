import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseConfig } from "../src/config/load.js";
import type { ConfigInput } from "../src/config/schema.js";
import { createLogger } from "../src/logging.js";
import { startServer, type RunningServer, type StartOptions } from "../src/server.js";
import { copyPgliteTemplate, createPgTestDatabase, ensurePgliteTemplate, testDatabaseUrl } from "../test/support/databases.js";

export interface ApiResponse<T = Record<string, unknown>> {
  status: number;
  headers: Headers;
  /** Parsed JSON body, or undefined when the body is not JSON. */
  json: T;
  text: string;
}

export interface RequestOptions {
  body?: unknown;
  /** Sent verbatim instead of JSON-encoding `body`. */
  rawBody?: string | Uint8Array;
  token?: string;
  headers?: Record<string, string>;
}

export interface TestServer {
  server: RunningServer;
  /** Client-server API base URL. */
  url: string;
  federationUrl: string | undefined;
  dataDir: string;
  engine: "pglite" | "postgres";
  request<T = Record<string, unknown>>(method: string, urlPath: string, opts?: RequestOptions): Promise<ApiResponse<T>>;
  /** Stops the server and keeps its data directory and database, for `start`. */
  stop(): Promise<void>;
  /**
   * Starts a stopped server again on the same data and database (the client
   * port may change; fixed ports, like a federation port in the server name, stay).
   */
  start(): Promise<void>;
  close(): Promise<void>;
}

export async function httpRequest<T>(base: string, method: string, urlPath: string, opts: RequestOptions = {}): Promise<ApiResponse<T>> {
  const headers: Record<string, string> = { ...opts.headers };
  let body: string | Uint8Array | undefined;
  if (opts.rawBody !== undefined) body = opts.rawBody;
  else if (opts.body !== undefined) {
    body = JSON.stringify(opts.body);
    headers["content-type"] ??= "application/json";
  }
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  const res = await fetch(base + urlPath, { method, headers, body });
  const text = await res.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, json: json as T, text };
}

/**
 * Starts a complete server on ephemeral ports with a fresh database: a copy of
 * the migrated PGlite template, or a new PostgreSQL database when
 * TEST_DATABASE_URL is set.
 */
export async function startTestServer(overrides: ConfigInput = {}, start: Omit<StartOptions, "log"> = {}): Promise<TestServer> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), "hs-test-"));
  const pgUrl = testDatabaseUrl();
  let dropDb: (() => Promise<void>) | undefined;
  let database: ConfigInput["database"] = overrides.database;
  if (!database?.url) {
    if (pgUrl) {
      const db = await createPgTestDatabase(pgUrl);
      dropDb = db.drop;
      database = { ...database, url: db.url, pool_size: 4 };
    } else {
      copyPgliteTemplate(await ensurePgliteTemplate(), path.join(dataDir, "db"));
    }
  }
  const config = parseConfig({
    server_name: "localhost",
    data_dir: dataDir,
    rate_limits: { enabled: false },
    ...overrides,
    database,
    listeners: overrides.listeners ?? {
      client: { bind: "127.0.0.1", port: 0 },
      federation: { bind: "127.0.0.1", port: 0 },
    },
    logging: overrides.logging ?? { level: (process.env.TEST_LOG_LEVEL as "silent") ?? "silent" },
  });
  const log = createLogger(config.logging.level);
  let running: RunningServer | undefined = await startServer(config, { ...start, log });
  let closed = false;
  const hs: TestServer = {
    server: running,
    url: running.clientUrl,
    federationUrl: running.federationUrl,
    dataDir,
    engine: running.sql.engine,
    request: (method, urlPath, opts) => httpRequest(hs.url, method, urlPath, opts),
    async stop() {
      const r = running;
      running = undefined;
      await r?.close();
    },
    async start() {
      if (running) return;
      running = await startServer(config, { ...start, log });
      hs.server = running;
      hs.url = running.clientUrl;
      hs.federationUrl = running.federationUrl;
    },
    async close() {
      if (closed) return;
      closed = true;
      await running?.close();
      running = undefined;
      if (dropDb) await dropDb();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return hs;
}
