// Scale-out: 1, 2 and 3 server processes on one PostgreSQL (instance_name set,
// so even "1" runs the cross-process parts), plus one process without
// instance_name as the baseline. 20 senders in 10 rooms send through all the
// processes in turn; one /sync reader per room long-polls through all the
// processes in turn. Figures: messages per second over the send phase, the
// send-to-sync delay (from the send request to the reader's /sync answer that
// carries it), and the CPU each side used (server processes vs PostgreSQL),
// which shows where the limit is on this machine. PostgreSQL only.
import { spawn } from "node:child_process";
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { pgClient } from "../lib/server.mjs";
import { summarize } from "../lib/stats.mjs";
import { jsonClient, ok, registerUser } from "../lib/users.mjs";

const MESSAGES_PER_SENDER = { tiny: 5, small: 25, medium: 60 };
const SENDERS = 20;
const ROOMS = 10;

const TICK = 100; // clock ticks per second in /proc

function cpuSeconds(pid) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    return (Number(f[11]) + Number(f[12])) / TICK;
  } catch {
    return 0;
  }
}

/** CPU seconds of every PostgreSQL process on this machine (the server runs locally here). */
function postgresCpu() {
  let total = 0;
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/comm`, "utf8").trim() === "postgres") total += cpuSeconds(d);
    } catch {}
  }
  return total;
}

async function startCluster(root, databaseUrl, n, instanced, first = 0) {
  const work = mkdtempSync(path.join(os.tmpdir(), "hs-bench-cluster-"));
  const procs = [];
  const prof = process.env.BENCH_CPU_PROF ? ["--cpu-prof", "--cpu-prof-dir", path.resolve(process.env.BENCH_CPU_PROF)] : [];
  for (let i = first; i < first + n; i++) {
    const file = path.join(work, `w${i}.yaml`);
    writeFileSync(
      file,
      JSON.stringify({
        server_name: "bench.localhost",
        ...(instanced ? { instance_name: `w${i}` } : {}),
        listeners: { client: { bind: "127.0.0.1", port: 0 }, federation: null },
        data_dir: path.join(work, "data"),
        database: { url: databaseUrl, pool_size: 10 },
        registration: { enabled: true },
        rate_limits: { enabled: false },
        logging: { level: "info" },
      }),
    );
    const child = spawn(process.execPath, [...prof, path.join(root, "dist/main.js"), "--config", file], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, NODE_ENV: "production" },
    });
    let stderr = "";
    child.stderr.on("data", (c) => (stderr += c));
    const exited = new Promise((resolve) => child.once("exit", resolve));
    const port = await new Promise((resolve, reject) => {
      let out = "";
      const logTo = process.env.BENCH_SERVER_LOG_DIR;
      child.stdout.on("data", (c) => {
        if (logTo) appendFileSync(path.join(logTo, `w${i}-${child.pid}.log`), c);
        if (out.length < 100_000) out += c;
        const m = /"client":"http:\/\/127\.0\.0\.1:(\d+)"/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      exited.then((code) => reject(new Error(`server exited (${code}): ${stderr}`)));
    });
    procs.push({ child, exited, url: `http://127.0.0.1:${port}` });
  }
  return {
    procs,
    async stop() {
      for (const p of procs) p.child.kill("SIGTERM");
      await Promise.all(procs.map((p) => p.exited));
      rmSync(work, { recursive: true, force: true });
    },
  };
}

async function runOnce(root, adminUrl, n, instanced, perSender) {
  const name = `hs_bench_scale_${process.pid}_${Date.now()}`;
  const admin = pgClient(adminUrl);
  await admin.unsafe(`CREATE DATABASE "${name}"`);
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  // The first process migrates the fresh database; the others start once it is ready.
  const first = await startCluster(root, u.toString(), 1, instanced);
  const rest = n > 1 ? await startCluster(root, u.toString(), n - 1, instanced, 1) : undefined;
  const procs = [...first.procs, ...(rest?.procs ?? [])];
  // Enough connections that no request queues behind the long-polls.
  const clients = procs.map((p) => jsonClient(p.url, 64));
  let turn = 0;
  // Each request to the next process, as a round-robin load balancer does.
  const call = (method, p, opts) => clients[turn++ % clients.length].call(method, p, opts);
  try {
    const users = [];
    for (let i = 0; i < SENDERS; i++) users.push(await registerUser(call, "so"));
    const readers = [];
    const rooms = [];
    for (let r = 0; r < ROOMS; r++) {
      const reader = await registerUser(call, "sor");
      const { room_id } = await ok(call("POST", "/_matrix/client/v3/createRoom", { token: reader.token, body: { preset: "public_chat" } }), "createRoom");
      rooms.push(room_id);
      readers.push(reader);
    }
    for (let i = 0; i < SENDERS; i++)
      await ok(call("POST", `/_matrix/client/v3/join/${encodeURIComponent(rooms[i % ROOMS])}`, { token: users[i].token, body: {} }), "join");

    const sentAt = new Map();
    const sendMs = [];
    const delays = [];
    const expected = SENDERS * perSender;
    let received = 0;
    let stopped = false;
    let allIn;
    const done = new Promise((resolve) => (allIn = resolve));
    const filter = JSON.stringify({ room: { timeline: { limit: 500 } } });
    const seen = new Set();
    let duplicates = 0;
    // Every reader has its starting token before the first send.
    const starts = await Promise.all(
      readers.map(
        async (reader) =>
          (await ok(call("GET", `/_matrix/client/v3/sync?timeout=0&filter=${encodeURIComponent(filter)}`, { token: reader.token }), "sync")).next_batch,
      ),
    );
    const loops = readers.map(async (reader, r) => {
      let since = starts[r];
      while (!stopped) {
        const res = await call("GET", `/_matrix/client/v3/sync?timeout=5000&since=${encodeURIComponent(since)}&filter=${encodeURIComponent(filter)}`, {
          token: reader.token,
        });
        if (res.status !== 200) continue;
        const now = performance.now();
        since = res.json.next_batch;
        for (const e of res.json.rooms?.join?.[rooms[r]]?.timeline?.events ?? []) {
          const t = sentAt.get(e.content?.body);
          if (t === undefined) continue;
          if (seen.has(e.event_id)) {
            duplicates++;
            continue;
          }
          seen.add(e.event_id);
          delays.push(now - t);
          if (++received === expected) allIn();
        }
      }
    });

    const nodeCpu0 = procs.reduce((s, p) => s + cpuSeconds(p.child.pid), 0);
    const pgCpu0 = postgresCpu();
    const started = performance.now();
    await Promise.all(
      users.map(async (user, i) => {
        for (let m = 0; m < perSender; m++) {
          const body = `b${i}-${m}`;
          const t0 = performance.now();
          sentAt.set(body, t0);
          await ok(
            call("PUT", `/_matrix/client/v3/rooms/${encodeURIComponent(rooms[i % ROOMS])}/send/m.room.message/t${m}`, {
              token: user.token,
              body: { msgtype: "m.text", body },
            }),
            "send",
          );
          sendMs.push(performance.now() - t0);
        }
      }),
    );
    const sendSeconds = (performance.now() - started) / 1000;
    await Promise.race([done, new Promise((r) => setTimeout(r, 30_000))]);
    const wall = (performance.now() - started) / 1000;
    const nodeCpu = procs.reduce((s, p) => s + cpuSeconds(p.child.pid), 0) - nodeCpu0;
    const pgCpu = postgresCpu() - pgCpu0;
    stopped = true;
    await Promise.all(loops.map((l) => Promise.race([l, new Promise((r) => setTimeout(r, 6000))])));
    const d = summarize(delays);
    const sd = summarize(sendMs);
    return {
      msgsPerSec: Math.round(expected / sendSeconds),
      delivered: `${received}/${expected}`,
      duplicates,
      sendP50: Math.round(sd.p50),
      sendP99: Math.round(sd.p99),
      p50: Math.round(d.p50),
      p99: Math.round(d.p99),
      // Share of the machine's CPU time (cores x wall time) each side used.
      nodeCpuPct: Math.round((nodeCpu / (wall * os.cpus().length)) * 100),
      pgCpuPct: Math.round((pgCpu / (wall * os.cpus().length)) * 100),
    };
  } finally {
    for (const c of clients) await c.close();
    await rest?.stop();
    await first.stop();
    await admin.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await admin.end();
  }
}

export const scaleOut = {
  name: "scale-out",
  description: "20 senders / 10 rooms over 1, 2, 3 processes on one PostgreSQL: msgs/s, send-to-sync p50/p99 ms, CPU split",
  needsServer: false,
  perEngine: true,
  last: true,
  async run({ root, scale, engine }) {
    if (engine !== "postgres") return { skipped: "PostgreSQL only (the embedded database serves one process)" };
    const adminUrl = process.env.BENCH_DATABASE_URL;
    const perSender = MESSAGES_PER_SENDER[scale];
    const figures = {};
    // At tiny scale (CI) one cluster of two keeps the scenario from rotting without costing a minute.
    const runs = (process.env.BENCH_SCALE_OUT_RUNS ?? (scale === "tiny" ? "n2" : "single,n1,n2,n3"))
      .split(",")
      .map((l) => [l, l === "single" ? 1 : Number(l.slice(1)), l !== "single"]);
    const detail = {};
    for (const [label, n, instanced] of runs) {
      const r = await runOnce(root, adminUrl, n, instanced, perSender);
      detail[label] = r;
      figures[`${label}_msgs_s`] = r.msgsPerSec;
      figures[`${label}_p99_ms`] = r.p99;
    }
    return { figures, detail };
  },
};
