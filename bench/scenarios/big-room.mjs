// One big room: N local members (tiny 200, small 2,000, medium 10,000), joined
// through an application service so setup needs no password hashing, and a few
// ordinary members long-polling /sync. Measures what grows with the member count:
// the per-message send path (push rules are evaluated for every local member),
// delivery to the waiting members, /members, an initial /sync with and without
// lazy-loaded members, a join once the room is big, and the server's memory.
// The server gets an appservice registration, so this scenario starts its own.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Pool } from "undici";
import { databaseCpuMs, rssOf, serverCpuMs, startBenchServer } from "../lib/server.mjs";
import { mb, summarize } from "../lib/stats.mjs";
import { jsonClient, ok, pooled, registerUser } from "../lib/users.mjs";

const MEMBERS = { tiny: 200, small: 2000, medium: 10000 };
// BENCH_BIG_ROOM_SENDS: more messages, e.g. so a CPU profile is mostly the send path.
const SENDS = { tiny: 20, small: 100, medium: 100 };
const WAITERS = 3;
const LATE_JOINS = 10;

const AS_TOKEN = "bench-bigroom-as-token";
const enc = encodeURIComponent;
const syncPath = (since, timeout, filter) => {
  const q = new URLSearchParams();
  if (since) q.set("since", since);
  if (timeout !== undefined) q.set("timeout", String(timeout));
  if (filter) q.set("filter", JSON.stringify(filter));
  return `/_matrix/client/v3/sync?${q}`;
};
const LAZY = { room: { timeline: { limit: 10 }, state: { lazy_load_members: true } } };
const FULL = { room: { timeline: { limit: 10 } } };

async function timed(fn) {
  const t0 = performance.now();
  const out = await fn();
  return { ms: Math.round((performance.now() - t0) * 10) / 10, out };
}

export const bigRoom = {
  name: "big_room",
  description: "one room of N members (tiny 200, small 2,000, medium 10,000) joined via an appservice: setup, send/delivery, CPU per event, /members, initial /sync, join, RSS",
  needsServer: false,
  perEngine: true,
  async run({ root, engine, scale }) {
    const n = MEMBERS[scale];
    const sends = Number(process.env.BENCH_BIG_ROOM_SENDS) || SENDS[scale];
    const dir = mkdtempSync(path.join(os.tmpdir(), "hs-bench-bigroom-"));
    const file = path.join(dir, "registration.yaml");
    // url null: the appservice only registers and masquerades; nothing is pushed to it.
    writeFileSync(
      file,
      JSON.stringify({
        id: "bigroom",
        url: null,
        as_token: AS_TOKEN,
        hs_token: "bench-bigroom-hs-token",
        sender_localpart: "_big_bot",
        namespaces: { users: [{ exclusive: true, regex: "@_big_.*" }], aliases: [], rooms: [] },
        rate_limited: false,
      }),
    );
    const server = await startBenchServer({ root, engine, databaseUrl: process.env.BENCH_DATABASE_URL, config: { app_service_config_files: [file] } });
    const { pool, call } = jsonClient(server.baseUrl, 8);
    const waitPool = new Pool(server.baseUrl, { connections: WAITERS + 2, pipelining: 1, headersTimeout: 120_000, bodyTimeout: 120_000 });
    try {
      const owner = await registerUser(call, "bigowner");
      const room = await ok(call("POST", "/_matrix/client/v3/createRoom", { token: owner.token, body: { preset: "public_chat" } }), "createRoom");
      const roomId = room.room_id;
      const waiters = [];
      for (let i = 0; i < WAITERS; i++) {
        const u = await registerUser(call, "bigwait");
        await ok(call("POST", `/_matrix/client/v3/join/${enc(roomId)}`, { token: u.token, body: {} }), "join");
        waiters.push(u);
      }
      const rssIdle = rssOf(server.pid);

      // Setup: N appservice users (no password, no device), each joined by masquerading.
      const stamp = `${process.pid}_${Date.now() % 100000}`;
      const userIds = [];
      const reg = await timed(() =>
        pooled(n, 8, async (i) => {
          const body = { type: "m.login.application_service", username: `_big_${stamp}_${i}`, inhibit_login: true };
          userIds[i] = (await ok(call("POST", "/_matrix/client/v3/register", { token: AS_TOKEN, body }), "as register")).user_id;
        }),
      );
      const joinAs = (userId) => ok(call("POST", `/_matrix/client/v3/join/${enc(roomId)}?user_id=${enc(userId)}`, { token: AS_TOKEN, body: {} }), "as join");
      const cpuJoin0 = serverCpuMs(server.pid);
      const joins = await timed(() => pooled(n, 8, (i) => joinAs(userIds[i])));
      const joinCpuMs = (serverCpuMs(server.pid) - cpuJoin0) / n;
      await new Promise((r) => setTimeout(r, 1000));
      const rssAfterSetup = rssOf(server.pid);
      // BENCH_BIG_ROOM_HEAP=1 (with NODE_OPTIONS=--heapsnapshot-signal=SIGUSR2): a heap snapshot of the set-up room.
      if (process.env.BENCH_BIG_ROOM_HEAP) {
        process.kill(server.pid, "SIGUSR2");
        await new Promise((r) => setTimeout(r, Number(process.env.BENCH_BIG_ROOM_HEAP) * 1000));
      }

      // The waiting members catch up (their joins, the N joins) before the sends.
      const tokens = [];
      for (const u of waiters) {
        let since = (await ok(call("GET", syncPath(undefined, 0, LAZY), { token: u.token }), "sync")).next_batch;
        since = (await ok(call("GET", syncPath(since, 0, LAZY), { token: u.token }), "sync")).next_batch;
        tokens.push(since);
      }

      // Sends: one at a time, every waiting member long-polling; delivery = send start -> the member's /sync has it.
      const sendMs = [];
      const deliveryMs = [];
      let txn = 0;
      const cpu0 = serverCpuMs(server.pid);
      const dbCpu0 = databaseCpuMs(server.databaseUrl);
      for (let i = 0; i < sends; i++) {
        let idOf;
        const eventId = new Promise((r) => (idOf = r));
        const arrivals = Promise.all(
          waiters.map(async (u, w) => {
            let since = tokens[w];
            for (;;) {
              const res = await waitPool.request({ method: "GET", path: syncPath(since, 30_000, LAZY), headers: { authorization: `Bearer ${u.token}` } });
              const json = await res.body.json();
              const at = performance.now();
              since = json.next_batch;
              const id = await eventId;
              if (json.rooms?.join?.[roomId]?.timeline?.events?.some((e) => e.event_id === id)) {
                tokens[w] = since;
                return at;
              }
            }
          }),
        );
        await new Promise((r) => setTimeout(r, 5)); // the long-polls are waiting
        const t0 = performance.now();
        const { event_id } = await ok(call("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/big${++txn}`, { token: owner.token, body: { msgtype: "m.text", body: `big ${i}` } }), "send");
        sendMs.push(performance.now() - t0);
        idOf(event_id);
        for (const t of await arrivals) deliveryMs.push(t - t0);
      }
      const cpuPerEvent = (serverCpuMs(server.pid) - cpu0) / sends;
      const dbCpuPerEvent = (databaseCpuMs(server.databaseUrl) - dbCpu0) / sends;
      await new Promise((r) => setTimeout(r, 1000));
      const rssAfterSends = rssOf(server.pid);

      // GET /members (every member event) and joined_members.
      const members = await timed(() => ok(call("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/members`, { token: owner.token }), "members"));
      if (members.out.chunk.length !== n + WAITERS + 1) throw new Error(`/members had ${members.out.chunk.length}, expected ${n + WAITERS + 1}`);
      const joined = await timed(() => ok(call("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/joined_members`, { token: owner.token }), "joined_members"));

      // A member's initial /sync, lazy-loading members and not (median of 3).
      const initial = async (filter) => {
        const samples = [];
        let bytes = 0;
        for (let i = 0; i < 3; i++) {
          const t0 = performance.now();
          const res = await waitPool.request({ method: "GET", path: syncPath(undefined, 0, filter), headers: { authorization: `Bearer ${waiters[0].token}` } });
          const text = await res.body.text();
          samples.push(performance.now() - t0);
          bytes = text.length;
        }
        return { ms: summarize(samples).p50, kb: Math.round(bytes / 1024) };
      };
      const lazy = await initial(LAZY);
      const full = await initial(FULL);

      // A join once the room is big (sequential, new appservice users).
      const joinSamples = [];
      for (let i = 0; i < LATE_JOINS; i++) {
        const body = { type: "m.login.application_service", username: `_big_${stamp}_late${i}`, inhibit_login: true };
        const { user_id } = await ok(call("POST", "/_matrix/client/v3/register", { token: AS_TOKEN, body }), "as register");
        const t0 = performance.now();
        await joinAs(user_id);
        joinSamples.push(performance.now() - t0);
      }
      const send = summarize(sendMs);
      const delivery = summarize(deliveryMs);
      const lateJoin = summarize(joinSamples);
      const r1 = (x) => Math.round(x * 10) / 10;
      return {
        figures: {
          members: n,
          register_per_s: Math.round(n / (reg.ms / 1000)),
          joins_per_s: Math.round(n / (joins.ms / 1000)),
          join_cpu_ms: r1(joinCpuMs),
          send_p50_ms: send.p50,
          send_p99_ms: send.p99,
          delivery_p50_ms: delivery.p50,
          delivery_p99_ms: delivery.p99,
          server_cpu_ms_per_event: r1(cpuPerEvent),
          // PostgreSQL only: its backends' CPU (PGlite's is inside the server's figure).
          ...(server.databaseUrl ? { db_cpu_ms_per_event: r1(dbCpuPerEvent) } : {}),
          members_ms: members.ms,
          joined_members_ms: joined.ms,
          initial_sync_lazy_ms: lazy.ms,
          initial_sync_lazy_kb: lazy.kb,
          initial_sync_full_ms: full.ms,
          initial_sync_full_kb: full.kb,
          late_join_p50_ms: lateJoin.p50,
          late_join_max_ms: lateJoin.max,
          rss_idle_mb: mb(rssIdle),
          rss_after_setup_mb: mb(rssAfterSetup),
          rss_after_sends_mb: mb(rssAfterSends),
        },
        n: { members: n, sends, waiters: WAITERS, late_joins: LATE_JOINS },
      };
    } finally {
      await waitPool.close().catch(() => {});
      await pool.close();
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
