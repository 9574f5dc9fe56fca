// Simplified sliding sync (MSC4186): the first response for a user in many
// rooms, and delivery latency into a waiting sliding sync.
import { summarize } from "../lib/stats.mjs";
import { jsonClient, ok, pooled, registerUser, registerUsers } from "../lib/users.mjs";

const SCALES = {
  rooms: { tiny: 20, small: 300, medium: 1000 },
  messages: { tiny: 20, small: 100, medium: 300 },
};

const PATH = "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync";
const LIST = {
  all: {
    ranges: [[0, 19]],
    timeline_limit: 1,
    required_state: [
      ["m.room.create", ""],
      ["m.room.name", ""],
      ["m.room.member", "$ME"],
    ],
  },
};

async function available(call, token) {
  const r = await call("POST", PATH, { token, body: { lists: LIST } });
  return r.status === 200;
}

let txn = 0;
const sendMessage = (call, token, roomId, body) =>
  ok(call("PUT", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/send/m.room.message/s${++txn}`, { token, body: { msgtype: "m.text", body } }), "send");

export const slidingInitial = {
  name: "sliding_initial",
  description: "first sliding sync response (top 20 of N rooms, timeline 1, required state) for a user in N rooms",
  async run({ server, scale }) {
    const n = SCALES.rooms[scale];
    const { pool, call } = jsonClient(server.baseUrl, 4);
    try {
      const u = await registerUser(call, "slide");
      if (!(await available(call, u.token))) return { skipped: "sliding sync is not served" };
      const create = (i) =>
        ok(call("POST", "/_matrix/client/v3/createRoom", { token: u.token, body: { preset: "public_chat", name: `room ${i}` } }), "createRoom");
      // A keep-alive connection closed as a request went out is tried again; the list count is checked against /joined_rooms.
      await pooled(n, 4, (i) => create(i).catch((err) => (err?.code === "ECONNRESET" || err?.code === "UND_ERR_SOCKET" ? create(i) : Promise.reject(err))));
      const joined = (await ok(call("GET", "/_matrix/client/v3/joined_rooms", { token: u.token }), "joined_rooms")).joined_rooms.length;
      const samples = [];
      for (let i = 0; i < 5; i++) {
        const t0 = performance.now();
        const res = await ok(call("POST", PATH, { token: u.token, body: { conn_id: `b${i}`, lists: LIST } }), "sliding sync");
        samples.push(performance.now() - t0);
        if (res.lists.all.count !== joined || Object.keys(res.rooms).length !== Math.min(20, n))
          throw new Error(`sliding sync listed ${res.lists.all.count} rooms, sent ${Object.keys(res.rooms).length}`);
      }
      const s = summarize(samples);
      return { figures: { rooms: n, p50_ms: s.p50, max_ms: s.max }, n: samples.length };
    } finally {
      await pool.close();
    }
  },
};

export const slidingLatency = {
  name: "sliding_latency",
  description: "send -> delivery into a waiting sliding sync of another member (sequential messages)",
  async run({ server, scale }) {
    const n = SCALES.messages[scale];
    const { pool, call } = jsonClient(server.baseUrl, 4);
    try {
      const [a, b] = await registerUsers(call, "slat", 2, 2);
      if (!(await available(call, b.token))) return { skipped: "sliding sync is not served" };
      const room = await ok(call("POST", "/_matrix/client/v3/createRoom", { token: a.token, body: { preset: "public_chat" } }), "createRoom");
      const roomId = room.room_id;
      await ok(call("POST", `/_matrix/client/v3/join/${encodeURIComponent(roomId)}`, { token: b.token, body: {} }), "join");
      const body = (pos, timeout) => ({ conn_id: "lat", pos, timeout, lists: LIST });
      let pos = (await ok(call("POST", PATH, { token: b.token, body: body(undefined, 0) }), "sliding sync")).pos;
      const samples = [];
      for (let i = 0; i < n; i++) {
        const waiting = ok(call("POST", PATH, { token: b.token, body: body(pos, 30_000) }), "sliding sync");
        await new Promise((r) => setTimeout(r, 5)); // let the long-poll start waiting
        const t0 = performance.now();
        const { event_id } = await sendMessage(call, a.token, roomId, `m${i}`);
        let res = await waiting;
        while (!res.rooms?.[roomId]?.timeline?.some((e) => e.event_id === event_id)) {
          pos = res.pos;
          res = await ok(call("POST", PATH, { token: b.token, body: body(pos, 30_000) }), "sliding sync");
        }
        samples.push(performance.now() - t0);
        pos = res.pos;
      }
      const s = summarize(samples);
      return { figures: { p50_ms: s.p50, p99_ms: s.p99, max_ms: s.max }, n };
    } finally {
      await pool.close();
    }
  },
};
