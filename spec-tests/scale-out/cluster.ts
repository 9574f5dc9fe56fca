import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { stringify } from "yaml";
import { createPgTestDatabase, testDatabaseUrl } from "../../test/support/databases.js";
import { httpRequest, type ApiResponse, type RequestOptions } from "../harness.js";
import { spawnServer, type ServerProcess } from "../process.js";

/**
 * Scale-out under test: N server processes (the built server, as `npm start`
 * runs it) on one PostgreSQL database, sharing one data_dir, each with its own
 * instance_name, behind a round-robin proxy that sends every request to the
 * next live process, as a load balancer with no stickiness does.
 */
export interface TestCluster {
  /** The proxy's base URL: what clients use. */
  url: string;
  /** The cluster's database. */
  databaseUrl: string;
  /** Each process's own client URL (undefined once killed). */
  processes: Array<{ base: string; url: string | undefined; server: ServerProcess; configFile: string }>;
  request<T = Record<string, unknown>>(method: string, urlPath: string, opts?: RequestOptions): Promise<ApiResponse<T>>;
  /** Straight to process `i`, bypassing the proxy. */
  requestTo<T = Record<string, unknown>>(i: number, method: string, urlPath: string, opts?: RequestOptions): Promise<ApiResponse<T>>;
  /** SIGKILLs process `i`; the proxy stops sending to it once a connection to it is refused. */
  kill(i: number): Promise<void>;
  close(): Promise<void>;
}

export async function startCluster(n: number, overrides: Record<string, unknown> = {}): Promise<TestCluster> {
  const pgUrl = testDatabaseUrl();
  if (!pgUrl) throw new Error("scale-out tests need TEST_DATABASE_URL (PostgreSQL)");
  const db = await createPgTestDatabase(pgUrl);
  const dataDir = mkdtempSync(path.join(os.tmpdir(), "hs-cluster-"));
  const processes: TestCluster["processes"] = [];
  const start = async (i: number) => {
    const file = path.join(dataDir, `w${i}.yaml`);
    writeFileSync(
      file,
      stringify({
        server_name: "localhost",
        instance_name: `w${i}`,
        data_dir: dataDir,
        database: { url: db.url, pool_size: 4 },
        listeners: { client: { bind: "127.0.0.1", port: 0 }, federation: null },
        registration: { enabled: true },
        rate_limits: { enabled: false },
        password_policy: { scrypt_cost: 1024 },
        // "info": the ready line the harness waits for is logged at info.
        logging: { level: process.env.TEST_LOG_LEVEL ?? "info" },
        ...overrides,
      }),
    );
    const server = spawnServer(["--config", file]);
    const { client } = await server.ready;
    processes[i] = { base: client, url: client, server, configFile: file };
  };
  // The first one alone: it creates the signing key the others read.
  await start(0);
  await Promise.all(Array.from({ length: n - 1 }, (_, i) => start(i + 1)));

  let next = 0;
  const proxy = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      const attempt = (tries: number) => {
        const live = processes.filter((p) => p.url !== undefined);
        if (live.length === 0 || tries > processes.length) {
          res.writeHead(502).end();
          return;
        }
        const target = live[next++ % live.length]!;
        const u = new URL(target.url!);
        const up = http.request(
          { host: u.hostname, port: u.port, method: req.method, path: req.url, headers: { ...req.headers, host: u.host } },
          (upRes) => {
            res.writeHead(upRes.statusCode ?? 502, upRes.headers);
            upRes.pipe(res);
          },
        );
        // Like a load balancer's "next upstream on error": a process that does not answer
        // the connection gets the request's next try elsewhere (all but POST are idempotent).
        up.on("error", (err: NodeJS.ErrnoException) => {
          if (err.code === "ECONNREFUSED") target.url = undefined;
          if (res.headersSent) return res.destroy();
          if (err.code === "ECONNREFUSED" || req.method !== "POST") attempt(tries + 1);
          else res.writeHead(502).end();
        });
        up.end(body);
      };
      attempt(0);
    });
  });
  await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;

  return {
    url,
    databaseUrl: db.url,
    processes,
    request: (method, urlPath, opts) => httpRequest(url, method, urlPath, opts),
    requestTo: (i, method, urlPath, opts) => httpRequest(processes[i]!.base, method, urlPath, opts),
    async kill(i) {
      const p = processes[i]!;
      p.server.child.kill("SIGKILL");
      await p.server.exited;
    },
    async close() {
      proxy.closeAllConnections();
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
      await Promise.all(
        processes.map(async (p) => {
          if (p.server.child.exitCode !== null || p.server.child.signalCode !== null) return;
          p.server.child.kill("SIGTERM");
          await p.server.exited;
        }),
      );
      await db.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
