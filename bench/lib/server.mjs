// Starts the built server (dist/main.js) as its own process with production
// settings, so the bench driver (this process) measures it from outside.
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import postgres from "postgres";
import { postgresConnection } from "../../dist/storage/postgres-url.js";

/** A postgres.js client for a database URL in any form the server takes (a socket directory too). */
export function pgClient(url, opts = {}) {
  const target = postgresConnection(url);
  return postgres(target.url, { max: 1, onnotice: () => {}, ...target.options, ...opts });
}

export function rssOf(pid) {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  return m ? Number(m[1]) * 1024 : NaN;
}

/**
 * CPU time (user + system, ms) the server process has used: per event, a figure
 * that other load on the machine disturbs far less than wall-clock latency. On
 * PGlite it includes the database; on PostgreSQL the backends are not counted.
 */
export function serverCpuMs(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime, stime in clock ticks (USER_HZ = 100)
}

/**
 * CPU time (ms) of the PostgreSQL backends serving one database (local server
 * only: read from /proc by their process titles). Backends that exited since an
 * earlier reading are not counted, so take both readings while the pool is open.
 */
export function databaseCpuMs(databaseUrl) {
  if (!databaseUrl) return NaN;
  const name = new URL(databaseUrl).pathname.slice(1);
  let total = 0;
  for (const pid of readdirSync("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const title = readFileSync(`/proc/${pid}/cmdline`, "utf8");
      if (title.startsWith("postgres:") && title.includes(` ${name} `)) total += serverCpuMs(pid);
    } catch {}
  }
  return total;
}

async function createDatabase(url) {
  const name = `hs_bench_${process.pid}_${Date.now()}`;
  const admin = pgClient(url);
  await admin.unsafe(`CREATE DATABASE "${name}"`);
  if (process.env.BENCH_PG_LOG) await admin.unsafe(`ALTER DATABASE "${name}" SET log_min_duration_statement = 0`);
  await admin.end();
  const u = new URL(url);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    async drop() {
      const a = pgClient(url);
      await a.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await a.end();
    },
  };
}

/**
 * @param {{ root: string, engine: "pglite"|"postgres", databaseUrl?: string, config?: object }} opts
 */
export async function startBenchServer(opts) {
  const work = mkdtempSync(path.join(os.tmpdir(), "hs-bench-"));
  let db;
  const database = {};
  if (opts.engine === "postgres") {
    db = await createDatabase(opts.databaseUrl);
    database.url = db.url;
  }
  const config = {
    server_name: "bench.localhost",
    listeners: { client: { bind: "127.0.0.1", port: 0 }, federation: { bind: "127.0.0.1", port: 0 } },
    data_dir: path.join(work, "data"),
    database,
    registration: { enabled: true, shared_secret: "bench-secret", allow_guests: false },
    rate_limits: { enabled: false },
    logging: { level: "info" },
    ...opts.config,
  };
  const file = path.join(work, "config.json.yaml");
  writeFileSync(file, JSON.stringify(config)); // JSON is valid YAML
  const started = performance.now();
  // BENCH_CPU_PROF=dir: the server writes a V8 CPU profile there when it exits
  // (summarise it with `node bench/lib/profile-summary.mjs FILE`).
  const prof = process.env.BENCH_CPU_PROF ? ["--cpu-prof", "--cpu-prof-dir", path.resolve(process.env.BENCH_CPU_PROF)] : [];
  const child = spawn(process.execPath, [...prof, ...startFlags(opts.root), path.join(opts.root, "dist/main.js"), "--config", file], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, NODE_ENV: "production" },
  });
  let stderr = "";
  child.stderr.on("data", (c) => (stderr += c));
  const exited = new Promise((resolve) => child.once("exit", resolve));
  // The "homeserver ready" line names the port; later lines (access logs) are
  // read and dropped so the pipe never blocks the server.
  const clientPort = await new Promise((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (c) => {
      if (out.length < 100_000) out += c;
    });
    exited.then((code) => reject(new Error(`server exited (${code}): ${stderr}`)));
    const poll = setInterval(() => {
      const port = readPort(out);
      if (port) {
        clearInterval(poll);
        resolve(port);
      }
    }, 20);
  });
  const baseUrl = `http://127.0.0.1:${clientPort}`;
  for (;;) {
    try {
      const r = await fetch(`${baseUrl}/_matrix/client/versions`);
      if (r.status === 200) break;
    } catch {}
    await new Promise((r) => setTimeout(r, 20));
  }
  const startupMs = performance.now() - started;
  return {
    baseUrl,
    pid: child.pid,
    startupMs,
    sharedSecret: config.registration.shared_secret,
    // For scenarios that measure storage directly (PGlite keeps its files in data_dir/db).
    dataDir: config.data_dir,
    databaseUrl: database.url,
    serverName: config.server_name,
    async stop() {
      child.kill("SIGTERM");
      await exited;
      if (db) await db.drop();
      rmSync(work, { recursive: true, force: true });
    },
  };
}

/** The node flags `npm start` runs the server with (package.json), so the bench measures the same process. */
function startFlags(root) {
  const start = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")).scripts?.start ?? "";
  const m = /^node((?:\s+--\S+)*)\s+dist\/main\.js/.exec(start);
  return m ? m[1].trim().split(/\s+/).filter(Boolean) : [];
}

function readPort(out) {
  const m = /"client":"http:\/\/127\.0\.0\.1:(\d+)"/.exec(out);
  return m ? Number(m[1]) : undefined;
}
