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
  const server = await startServer(config, { ...start, log: createLogger(config.logging.level) });
  let closed = false;
  return {
    server,
    url: server.clientUrl,
    federationUrl: server.federationUrl,
    dataDir,
    engine: server.sql.engine,
    request: (method, urlPath, opts) => httpRequest(server.clientUrl, method, urlPath, opts),
    async close() {
      if (closed) return;
      closed = true;
      await server.close();
      if (dropDb) await dropDb();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
