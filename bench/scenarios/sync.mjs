// /sync: delivery latency into a waiting long-poll, fan-out to many waiting
// clients in one room, initial sync of a user in many rooms, and the memory
// a waiting /sync request holds.
import { setMaxListeners } from "node:events";
import { Pool } from "undici";
import { mb, summarize } from "../lib/stats.mjs";
import { rssOf, serverCpuMs } from "../lib/server.mjs";
import { jsonClient, ok, registerUser, registerUsers } from "../lib/users.mjs";

const SCALES = {
  fanout: { tiny: 20, small: 200, medium: 500 },
  rooms: { tiny: 20, small: 300, medium: 1000 },
  waiting: { tiny: 100, small: 1000, medium: 3000 },
  messages: { tiny: 20, small: 100, medium: 300 },
};






const syncPath = (since, timeout, filter) => {
  const q = new URLSearchParams();
  if (since) q.set("since", since);
  if (timeout) q.set("timeout", String(timeout));
  if (filter) q.set("filter", JSON.stringify(filter));
  return `/_matrix/client/v3/sync?${q}`;
};

async function roomsAvailable(call, token) {
  const r = await call("POST", "/_matrix/client/v3/createRoom", { token, body: {} });
  return r.status === 200 ? r.json.room_id : undefined;
}

let txn = 0;
const sendMessage = (call, token, roomId, body) =>
  ok(call("PUT", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/send/m.room.message/b${++txn}`, { token, body: { msgtype: "m.text", body } }), "send");

export const syncLatency = {
  name: "sync_latency",
  description: "send -> delivery into a waiting /sync of another member (sequential messages)",
  async run({ server, scale }) {
    const n = SCALES.messages[scale];
    const { pool, call } = jsonClient(server.baseUrl, 4);
    try {
      const [a, b] = await registerUsers(call, "lat", 2, 2);
      const roomId = await roomsAvailable(call, a.token);
      if (!roomId) return { skipped: "rooms are not served" };
      await ok(call("PUT", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/state/m.room.join_rules`, { token: a.token, body: { join_rule: "public" } }), "join rules");
      await ok(call("POST", `/_matrix/client/v3/join/${encodeURIComponent(roomId)}`, { token: b.token, body: {} }), "join");
      let since = (await ok(call("GET", syncPath(undefined, 0), { token: b.token }), "sync")).next_batch;
      const samples = [];
      for (let i = 0; i < n; i++) {
        const waiting = ok(call("GET", syncPath(since, 30_000), { token: b.token }), "sync");
        await new Promise((r) => setTimeout(r, 5)); // let the long-poll start waiting
        const t0 = performance.now();
        const { event_id } = await sendMessage(call, a.token, roomId, `m${i}`);
        let res = await waiting;
        // The wake may come from the join/earlier state; read on until the message is there.
        while (!res.rooms?.join?.[roomId]?.timeline?.events?.some((e) => e.event_id === event_id)) {
          since = res.next_batch;
          res = await ok(call("GET", syncPath(since, 30_000), { token: b.token }), "sync");
        }
        samples.push(performance.now() - t0);
        since = res.next_batch;
      }
      const s = summarize(samples);
      return { figures: { p50_ms: s.p50, p99_ms: s.p99, max_ms: s.max }, n };
    } finally {
      await pool.close();
    }
  },
};

export const syncFanout = {
  name: "sync_fanout",
  description: "one message to N clients long-polling /sync in one room: time until the last has it",
  async run({ server, scale }) {
    const n = SCALES.fanout[scale];
    const { pool, call } = jsonClient(server.baseUrl, 8);
    const waitPool = new Pool(server.baseUrl, { connections: n + 5, pipelining: 1, headersTimeout: 120_000, bodyTimeout: 120_000 });
    try {
      const owner = await registerUser(call, "fanowner");
      const roomId = await roomsAvailable(call, owner.token);
      if (!roomId) return { skipped: "rooms are not served" };
      await ok(call("PUT", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/state/m.room.join_rules`, { token: owner.token, body: { join_rule: "public" } }), "join rules");
      const users = await registerUsers(call, "fan", n);
      for (const u of users) await ok(call("POST", `/_matrix/client/v3/join/${encodeURIComponent(roomId)}`, { token: u.token, body: {} }), "join");
      const filter = { room: { timeline: { limit: 5 }, state: { lazy_load_members: true } } };
      const initial = await Promise.all(users.map(async (u) => (await ok(call("GET", syncPath(undefined, 0, filter), { token: u.token }), "sync")).next_batch));
      // Each first sync marked its user online; catch up on those presence changes
      // so the waits below start quiet and measure the message alone.
      const tokens = [];
      for (const [i, u] of users.entries()) tokens.push((await ok(call("GET", syncPath(initial[i], 0, filter), { token: u.token }), "sync")).next_batch);
      let wakeups = 0;
      const waits = users.map(async (u, i) => {
        let since = tokens[i];
        for (;;) {
          const res = await waitPool.request({ method: "GET", path: syncPath(since, 60_000, filter), headers: { authorization: `Bearer ${u.token}` } });
          const json = await res.body.json();
          wakeups++;
          if (json.rooms?.join?.[roomId]?.timeline?.events?.some((e) => e.content?.body === "fan-out")) return performance.now();
          since = json.next_batch;
        }
      });
      await new Promise((r) => setTimeout(r, 1000)); // every long-poll is waiting
      const cpu0 = serverCpuMs(server.pid);
      const t0 = performance.now();
      await sendMessage(call, owner.token, roomId, "fan-out");
      const done = await Promise.all(waits);
      const cpu = Math.round(serverCpuMs(server.pid) - cpu0);
      const times = done.map((t) => t - t0);
      const s = summarize(times);
      return { figures: { clients: n, last_received_ms: s.max, p50_ms: s.p50, responses: wakeups, server_cpu_ms: cpu }, n };
    } finally {
      await waitPool.close();
      await pool.close();
    }
  },
};

export const syncInitial = {
  name: "sync_initial",
  description: "initial /sync of a user in N rooms (timeline limit 10)",
  async run({ server, scale }) {
    const n = SCALES.rooms[scale];
    const { pool, call } = jsonClient(server.baseUrl, 4);
    try {
      const u = await registerUser(call, "many");
      const first = await roomsAvailable(call, u.token);
      if (!first) return { skipped: "rooms are not served" };
      const rooms = [first];
      let next = 1;
      await Promise.all(
        Array.from({ length: 4 }, async () => {
          while (next < n) {
            next++;
            const r = await ok(call("POST", "/_matrix/client/v3/createRoom", { token: u.token, body: { name: `room ${next}` } }), "createRoom");
            rooms.push(r.room_id);
            await sendMessage(call, u.token, r.room_id, "hello");
          }
        }),
      );
      const filter = { room: { timeline: { limit: 10 } } };
      const samples = [];
      for (let i = 0; i < 3; i++) {
        const t0 = performance.now();
        const res = await ok(call("GET", syncPath(undefined, 0, filter), { token: u.token }), "sync");
        samples.push(performance.now() - t0);
        const got = Object.keys(res.rooms.join).length;
        if (got !== n) throw new Error(`initial sync had ${got} rooms, expected ${n}`);
      }
      const s = summarize(samples);
      return { figures: { rooms: n, median_ms: s.p50, max_ms: s.max }, n: samples.length };
    } finally {
      await pool.close();
    }
  },
};

export const syncWaitingRss = {
  name: "sync_waiting_rss",
  description: "server RSS growth per 1,000 /sync requests waiting at once",
  async run({ server, scale }) {
    const n = SCALES.waiting[scale];
    const { pool, call } = jsonClient(server.baseUrl, 4);
    const waitPool = new Pool(server.baseUrl, { connections: n + 5, pipelining: 1, headersTimeout: 300_000, bodyTimeout: 300_000 });
    try {
      const users = await registerUsers(call, "idle", 20);
      const tokens = await Promise.all(users.map(async (u) => (await ok(call("GET", syncPath(undefined, 0), { token: u.token }), "sync")).next_batch));
      await new Promise((r) => setTimeout(r, 1000));
      const before = rssOf(server.pid);
      const controller = new AbortController();
      setMaxListeners(0, controller.signal); // one signal cancels every waiting request
      const waits = [];
      for (let i = 0; i < n; i++) {
        const u = users[i % users.length];
        waits.push(
          waitPool
            .request({ method: "GET", path: syncPath(tokens[i % users.length], 120_000), headers: { authorization: `Bearer ${u.token}` }, signal: controller.signal })
            .then((r) => r.body.text())
            .catch(() => undefined),
        );
      }
      await new Promise((r) => setTimeout(r, 3000 + n)); // all requests arrive and settle into waiting
      const during = rssOf(server.pid);
      const answered = await Promise.race([Promise.any(waits).then(() => true), new Promise((r) => setTimeout(() => r(false), 10))]);
      if (answered) throw new Error("a /sync answered before it was released: the requests were not all waiting");
      controller.abort();
      await Promise.all(waits);
      return { figures: { waiting: n, rss_before_mb: mb(before), rss_waiting_mb: mb(during), mb_per_1000: Math.round(((during - before) / n) * 1000 / 1024 / 1024 * 10) / 10 }, n };
    } finally {
      await waitPool.close().catch(() => {});
      await pool.close();
    }
  },
};
