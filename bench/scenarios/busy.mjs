// A busy team server: many clients long-polling /sync across many rooms while
// a few members talk, and the initial sync of a user in 1,000 rooms.
import { setMaxListeners } from "node:events";
import { Pool } from "undici";
import { serverCpuMs } from "../lib/server.mjs";
import { summarize } from "../lib/stats.mjs";
import { jsonClient, ok, pooled, registerUsers } from "../lib/users.mjs";

const SCALES = {
  // users x polls each = waiting clients; every user is in `roomsEach` of `rooms` rooms.
  busy: {
    tiny: { users: 10, polls: 3, rooms: 5, roomsEach: 2, senders: 2, messages: 3 },
    small: { users: 200, polls: 10, rooms: 100, roomsEach: 3, senders: 10, messages: 10 },
    medium: { users: 400, polls: 5, rooms: 100, roomsEach: 5, senders: 10, messages: 30 },
  },
  initialRooms: { tiny: 20, small: 1000, medium: 1000 },
};

const enc = encodeURIComponent;
const syncPath = (since, timeout, filter) => {
  const q = new URLSearchParams();
  if (since) q.set("since", since);
  q.set("timeout", String(timeout));
  q.set("filter", JSON.stringify(filter));
  return `/_matrix/client/v3/sync?${q}`;
};
const FILTER = { room: { timeline: { limit: 5 }, state: { lazy_load_members: true } } };
let txn = 0;

export const syncBusyTeam = {
  name: "sync_busy_team",
  description: "2,000 clients long-polling /sync in 100 rooms while 10 senders talk: send -> delivery to every waiting member",
  async run({ server, scale }) {
    const c = SCALES.busy[scale];
    const { call, close } = jsonClient(server.baseUrl, 8);
    const clients = c.users * c.polls;
    const waitPool = new Pool(server.baseUrl, { connections: clients + 20, pipelining: 1, headersTimeout: 120_000, bodyTimeout: 120_000 });
    const controller = new AbortController();
    setMaxListeners(0, controller.signal);
    try {
      const users = await registerUsers(call, "busy", c.users, 8);
      const rooms = [];
      for (let r = 0; r < c.rooms; r++) {
        const res = await call("POST", "/_matrix/client/v3/createRoom", { token: users[0].token, body: { preset: "public_chat" } });
        if (res.status !== 200) return { skipped: "rooms are not served" };
        rooms.push(res.json.room_id);
      }
      // User i is in rooms i, i+1, ... (mod rooms): every room has about users x roomsEach / rooms members.
      const membersOf = rooms.map(() => new Set([0]));
      const joins = [];
      for (let i = 1; i < users.length; i++) {
        for (let k = 0; k < c.roomsEach; k++) {
          const r = (i + k * 7) % rooms.length;
          if (!membersOf[r].has(i)) {
            membersOf[r].add(i);
            joins.push([i, r]);
          }
        }
      }
      await pooled(joins.length, 8, async (j) => {
        const [i, r] = joins[j];
        await ok(call("POST", `/_matrix/client/v3/join/${enc(rooms[r])}`, { token: users[i].token, body: {} }), "join");
      });
      const roomsOf = users.map(() => []);
      membersOf.forEach((set, r) => {
        for (const i of set) roomsOf[i].push(r);
      });
      // Initial syncs, then one catch-up round so the waits start quiet (joins, presence).
      const since = [];
      await pooled(users.length, 8, async (i) => {
        since[i] = (await ok(call("GET", syncPath(undefined, 0, FILTER), { token: users[i].token }), "sync")).next_batch;
      });
      await new Promise((r) => setTimeout(r, 500));
      await pooled(users.length, 8, async (i) => {
        since[i] = (await ok(call("GET", syncPath(since[i], 0, FILTER), { token: users[i].token }), "sync")).next_batch;
      });

      const sentAt = new Map();
      const latencies = [];
      let expected = 0;
      let delivered = 0;
      let onDelivered = () => {};
      const poll = async (i) => {
        let from = since[i];
        for (;;) {
          let json;
          try {
            const res = await waitPool.request({ method: "GET", path: syncPath(from, 60_000, FILTER), headers: { authorization: `Bearer ${users[i].token}` }, signal: controller.signal });
            json = await res.body.json();
          } catch {
            return; // aborted at the end
          }
          const now = performance.now();
          for (const room of Object.values(json.rooms?.join ?? {})) {
            for (const e of room.timeline?.events ?? []) {
              const t = sentAt.get(e.content?.body);
              if (t === undefined) continue;
              latencies.push(now - t);
              delivered++;
            }
          }
          onDelivered();
          from = json.next_batch;
        }
      };
      const polls = [];
      for (let i = 0; i < users.length; i++) for (let p = 0; p < c.polls; p++) polls.push(poll(i));
      await new Promise((r) => setTimeout(r, 1000 + clients)); // every long-poll is waiting

      const cpu0 = serverCpuMs(server.pid);
      const started = performance.now();
      const sendSamples = [];
      await Promise.all(
        users.slice(0, c.senders).map(async (u, s) => {
          for (let m = 0; m < c.messages; m++) {
            const r = roomsOf[s][m % roomsOf[s].length];
            const body = `busy ${s} ${m}`;
            expected += membersOf[r].size * c.polls; // every member's clients, the sender's own too
            const t = performance.now();
            sentAt.set(body, t);
            await ok(call("PUT", `/_matrix/client/v3/rooms/${enc(rooms[r])}/send/m.room.message/busy${process.pid}_${++txn}`, { token: u.token, body: { msgtype: "m.text", body } }), "send");
            sendSamples.push(performance.now() - t);
            await new Promise((res) => setTimeout(res, 50)); // a conversation, not a flood
          }
        }),
      );
      await Promise.race([
        new Promise((resolve) => {
          onDelivered = () => delivered >= expected && resolve();
          onDelivered();
        }),
        new Promise((resolve) => setTimeout(resolve, 30_000)),
      ]);
      const secs = (performance.now() - started) / 1000;
      const cpu = serverCpuMs(server.pid) - cpu0;
      const l = summarize(latencies);
      const s = summarize(sendSamples);
      const messages = c.senders * c.messages;
      return {
        figures: {
          clients,
          rooms: rooms.length,
          messages,
          deliveries: delivered,
          missing: expected - delivered,
          delivery_p50_ms: l.p50,
          delivery_p99_ms: l.p99,
          delivery_max_ms: l.max,
          send_p50_ms: s.p50,
          send_p99_ms: s.p99,
          deliveries_per_s: Math.round(delivered / secs),
          server_cpu_ms_per_message: Math.round((cpu / messages) * 10) / 10,
        },
        n: delivered,
      };
    } finally {
      controller.abort();
      await waitPool.close().catch(() => {});
      await close();
    }
  },
};

export const syncInitialMany = {
  name: "sync_initial_1000",
  description: "initial /sync of a user in 1,000 rooms (timeline limit 10)",
  async run({ server, scale }) {
    const n = SCALES.initialRooms[scale];
    const { call, close } = jsonClient(server.baseUrl, 4);
    try {
      const [u] = await registerUsers(call, "thousand", 1);
      let created = 0;
      await pooled(n, 4, async () => {
        const r = await call("POST", "/_matrix/client/v3/createRoom", { token: u.token, body: { name: `room ${++created}` } });
        if (r.status !== 200) throw new Error(`createRoom: ${r.status}`);
        await ok(call("PUT", `/_matrix/client/v3/rooms/${enc(r.json.room_id)}/send/m.room.message/k${process.pid}_${++txn}`, { token: u.token, body: { msgtype: "m.text", body: "hello" } }), "send");
      });
      const filter = { room: { timeline: { limit: 10 } } };
      const samples = [];
      let bytes = 0;
      for (let i = 0; i < 3; i++) {
        const t0 = performance.now();
        const res = await ok(call("GET", `/_matrix/client/v3/sync?filter=${enc(JSON.stringify(filter))}`, { token: u.token }), "sync");
        samples.push(performance.now() - t0);
        const got = Object.keys(res.rooms.join).length;
        if (got !== n) throw new Error(`initial sync had ${got} rooms, expected ${n}`);
        bytes = JSON.stringify(res).length;
      }
      const s = summarize(samples);
      return { figures: { rooms: n, median_ms: s.p50, max_ms: s.max, response_kb: Math.round(bytes / 1024) }, n: samples.length };
    } finally {
      await close();
    }
  },
};
