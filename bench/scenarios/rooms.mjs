// Rooms: send latency, concurrent throughput across rooms, the per-room
// persist rate, room creation + join, and storage bytes per state change.
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { databaseCpuMs, pgClient, serverCpuMs } from "../lib/server.mjs";
import { summarize } from "../lib/stats.mjs";
import { jsonClient, ok, pooled, registerUser, registerUsers } from "../lib/users.mjs";

const SCALES = {
  sends: { tiny: 20, small: 500, medium: 2000 },
  // rooms x senders, each sender sending `each` messages into each of its rooms
  grid: { tiny: { rooms: 4, senders: 4, each: 3 }, small: { rooms: 20, senders: 20, each: 5 }, medium: { rooms: 20, senders: 20, each: 25 } },
  oneRoom: { tiny: 40, small: 300, medium: 3000 },
  creates: { tiny: 10, small: 60, medium: 300 },
  // More topic changes than the snapshot interval (100), so a full snapshot is included.
  topics: { tiny: 20, small: 120, medium: 1000 },
  joins: { tiny: 10, small: 30, medium: 300 },
};

let txn = 0;
const enc = encodeURIComponent;
const sendPath = (roomId) => `/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/r${process.pid}_${++txn}`;
const message = (body) => ({ msgtype: "m.text", body });

async function createRoom(call, token, body = {}) {
  const r = await call("POST", "/_matrix/client/v3/createRoom", { token, body });
  if (r.status === 404 || r.status === 405) return undefined; // rooms not served yet
  if (r.status !== 200) throw new Error(`createRoom: ${r.status} ${JSON.stringify(r.json)}`);
  return r.json.room_id;
}

const join = (call, token, roomId) => ok(call("POST", `/_matrix/client/v3/join/${enc(roomId)}`, { token, body: {} }), "join");

export const sendLatency = {
  name: "send_latency",
  description: "PUT /rooms/{id}/send/m.room.message/{txn}, sequential, one sender, one room",
  async run({ server, scale }) {
    const n = SCALES.sends[scale];
    const { call, close } = jsonClient(server.baseUrl, 1);
    try {
      const u = await registerUser(call, "send");
      const roomId = await createRoom(call, u.token, { preset: "private_chat" });
      if (!roomId) return { skipped: "rooms are not served" };
      for (let i = 0; i < 5; i++) await ok(call("PUT", sendPath(roomId), { token: u.token, body: message(`warm ${i}`) }), "send"); // warm-up
      const samples = [];
      const cpu0 = serverCpuMs(server.pid);
      for (let i = 0; i < n; i++) {
        const t = performance.now();
        await ok(call("PUT", sendPath(roomId), { token: u.token, body: message(`m${i}`) }), "send");
        samples.push(performance.now() - t);
      }
      const cpuPerEvent = Math.round(((serverCpuMs(server.pid) - cpu0) / n) * 100) / 100;
      const s = summarize(samples);
      return { figures: { p50_ms: s.p50, p95_ms: s.p95, p99_ms: s.p99, max_ms: s.max, server_cpu_ms_per_event: cpuPerEvent }, n };
    } finally {
      await close();
    }
  },
};

// Rooms and members shared by throughput_20x20 and persist_rate on one server:
// `senders` users, each joined to every one of `rooms` public rooms.
const grids = new WeakMap();
async function grid(server, scale) {
  if (!grids.has(server)) {
    grids.set(
      server,
      (async () => {
        const { rooms: nRooms, senders: nSenders } = SCALES.grid[scale];
        const { call, close } = jsonClient(server.baseUrl, 8);
        try {
          const users = await registerUsers(call, "grid", nSenders);
          const rooms = [];
          for (let r = 0; r < nRooms; r++) {
            const roomId = await createRoom(call, users[0].token, { preset: "public_chat" });
            if (!roomId) return undefined;
            rooms.push(roomId);
          }
          await pooled(rooms.length * (users.length - 1), 8, async (i) => {
            const roomId = rooms[i % rooms.length];
            await join(call, users[1 + Math.floor(i / rooms.length)].token, roomId);
          });
          return { users, rooms };
        } finally {
          await close();
        }
      })(),
    );
  }
  return grids.get(server);
}

/** Every (room, sender) pair sends `each` messages, all pairs at once; answers elapsed seconds. */
async function sendGrid(server, users, rooms, each) {
  const pairs = rooms.length * users.length;
  const { call, close } = jsonClient(server.baseUrl, Math.min(pairs, 200));
  const samples = [];
  try {
    const started = performance.now();
    await Promise.all(
      rooms.flatMap((roomId) =>
        users.map(async (u) => {
          for (let i = 0; i < each; i++) {
            const t = performance.now();
            await ok(call("PUT", sendPath(roomId), { token: u.token, body: message(`g${i}`) }), "send");
            samples.push(performance.now() - t);
          }
        }),
      ),
    );
    return { secs: (performance.now() - started) / 1000, latency: summarize(samples) };
  } finally {
    await close();
  }
}

export const throughput20x20 = {
  name: "throughput_20x20",
  description: "20 rooms x 20 senders sending at once (a fixed count each): events/s",
  async run({ server, scale }) {
    const g = await grid(server, scale);
    if (!g) return { skipped: "rooms are not served" };
    const { each } = SCALES.grid[scale];
    const total = g.rooms.length * g.users.length * each;
    const cpu0 = serverCpuMs(server.pid);
    const dbCpu0 = databaseCpuMs(server.databaseUrl);
    const { secs, latency } = await sendGrid(server, g.users, g.rooms, each);
    const cpuPerEvent = Math.round(((serverCpuMs(server.pid) - cpu0) / total) * 100) / 100;
    // PostgreSQL's own processes (PGlite's work is inside the server's figure).
    const dbCpuPerEvent = Math.round(((databaseCpuMs(server.databaseUrl) - dbCpu0) / total) * 100) / 100;
    g.measured = { events: total, secs };
    return {
      figures: {
        rooms: g.rooms.length,
        senders: g.users.length,
        events_per_s: Math.round(total / secs),
        per_room_events_per_s: Math.round(total / secs / g.rooms.length),
        send_p50_ms: latency.p50,
        send_p99_ms: latency.p99,
        server_cpu_ms_per_event: cpuPerEvent,
        ...(server.databaseUrl ? { db_cpu_ms_per_event: dbCpuPerEvent } : {}),
      },
      n: total,
    };
  },
};

export const persistRate = {
  name: "persist_rate",
  description: "events persisted per second: one room with 20 concurrent senders, and across 20 rooms",
  async run({ server, scale }) {
    const g = await grid(server, scale);
    if (!g) return { skipped: "rooms are not served" };
    // One room: every sender at once into the same room (the per-room writer is serial).
    const oneTotal = SCALES.oneRoom[scale];
    const each = Math.ceil(oneTotal / g.users.length);
    const one = await sendGrid(server, g.users, [g.rooms[0]], each);
    const oneEvents = each * g.users.length;
    // Across all rooms: the grid of throughput_20x20, seen per room (measured here
    // only when that scenario did not run on this server).
    if (!g.measured) {
      const gridEach = SCALES.grid[scale].each;
      const { secs } = await sendGrid(server, g.users, g.rooms, gridEach);
      g.measured = { events: g.rooms.length * g.users.length * gridEach, secs };
    }
    const { events: allEvents, secs: allSecs } = g.measured;
    return {
      figures: {
        one_room_events_per_s: Math.round(oneEvents / one.secs),
        one_room_send_p50_ms: one.latency.p50,
        rooms: g.rooms.length,
        all_rooms_events_per_s: Math.round(allEvents / allSecs),
        per_room_events_per_s: Math.round(allEvents / allSecs / g.rooms.length),
      },
      n: oneEvents,
    };
  },
};

export const createRoomJoin = {
  name: "create_room_join",
  description: "POST /createRoom (public_chat) then /join by a second user, sequential",
  async run({ server, scale }) {
    const n = SCALES.creates[scale];
    const { call, close } = jsonClient(server.baseUrl, 2);
    try {
      const [a, b] = await registerUsers(call, "create", 2, 2);
      const creates = [];
      const joins = [];
      const both = [];
      for (let i = 0; i < n; i++) {
        const t0 = performance.now();
        const roomId = await createRoom(call, a.token, { preset: "public_chat", name: `bench ${i}` });
        if (!roomId) return { skipped: "rooms are not served" };
        const t1 = performance.now();
        await join(call, b.token, roomId);
        const t2 = performance.now();
        creates.push(t1 - t0);
        joins.push(t2 - t1);
        both.push(t2 - t0);
      }
      const c = summarize(creates);
      const j = summarize(joins);
      const s = summarize(both);
      return {
        figures: { create_p50_ms: c.p50, create_p99_ms: c.p99, join_p50_ms: j.p50, join_p99_ms: j.p99, total_p50_ms: s.p50, total_p99_ms: s.p99 },
        n,
      };
    } finally {
      await close();
    }
  },
};

// Tables that hold room state (state groups, current state, memberships) and,
// separately, the events themselves, since each state change is also an event.
const STATE_TABLES = ["state_groups", "state_group_entries", "current_state", "room_memberships", "current_membership_delta"];
const EVENT_TABLES = ["events", "event_edges", "event_auth_edges", "event_auth_chain"];
const ALL_TABLES = [...STATE_TABLES, ...EVENT_TABLES];

async function measureTables(query) {
  const out = {};
  for (const t of ALL_TABLES) {
    // bytes: table + indexes + TOAST on disk (page-granular); row_bytes: the tuples alone (exact).
    const [row] = await query(
      `SELECT pg_total_relation_size('${t}')::int8 AS bytes, count(*)::int8 AS rows, coalesce(sum(pg_column_size(x.*)), 0)::int8 AS row_bytes FROM ${t} x`,
    );
    out[t] = { bytes: Number(row.bytes), rows: Number(row.rows), rowBytes: Number(row.row_bytes) };
  }
  return out;
}

/**
 * Table sizes and row counts. PostgreSQL: read directly. PGlite: the server
 * holds its data directory, so a copy taken while it is idle is opened (the
 * copy recovers like after a crash, losing no committed write).
 */
async function snapshotTables(server) {
  if (server.databaseUrl) {
    const db = pgClient(server.databaseUrl);
    try {
      await db.unsafe("VACUUM ANALYZE"); // settle free space so sizes compare
      return await measureTables((text) => db.unsafe(text));
    } finally {
      await db.end();
    }
  }
  const { PGlite } = await import("@electric-sql/pglite");
  const copy = mkdtempSync(path.join(os.tmpdir(), "hs-bench-pglite-"));
  try {
    cpSync(path.join(server.dataDir, "db"), copy, { recursive: true });
    rmSync(path.join(copy, "postmaster.pid"), { force: true });
    const db = await PGlite.create(copy);
    try {
      await db.exec("VACUUM ANALYZE");
      return await measureTables(async (text) => (await db.query(text)).rows);
    } finally {
      await db.close();
    }
  } finally {
    rmSync(copy, { recursive: true, force: true });
  }
}

function perChange(before, after, changes) {
  const bytes = (tables) => tables.reduce((sum, t) => sum + after[t].bytes - before[t].bytes, 0);
  const rows = (tables) => tables.reduce((sum, t) => sum + after[t].rows - before[t].rows, 0);
  const rowBytes = (tables) => tables.reduce((sum, t) => sum + after[t].rowBytes - before[t].rowBytes, 0);
  const r = (x) => Math.round(x * 100) / 100;
  return {
    state_bytes: Math.round(bytes(STATE_TABLES) / changes),
    state_row_bytes: Math.round(rowBytes(STATE_TABLES) / changes),
    state_rows: r(rows(STATE_TABLES) / changes),
    event_bytes: Math.round(bytes(EVENT_TABLES) / changes),
  };
}

export const stateBytes = {
  name: "state_bytes",
  description: "storage bytes (and rows) per state change: topic changes, then member joins",
  async run({ server, scale }) {
    // A client per phase: a snapshot can outlast the server's keep-alive timeout,
    // and a pooled socket closed by the server mid-reuse fails the next request.
    const phase = async (fn) => {
      const { call, close } = jsonClient(server.baseUrl, 4);
      try {
        return await fn(call);
      } finally {
        await close();
      }
    };
    const setup = await phase(async (call) => {
      const owner = await registerUser(call, "state");
      const roomId = await createRoom(call, owner.token, { preset: "public_chat" });
      return roomId && { owner, roomId, joiners: await registerUsers(call, "stjoin", SCALES.joins[scale]) };
    });
    if (!setup) return { skipped: "rooms are not served" };
    const { owner, roomId, joiners } = setup;
    await new Promise((r) => setTimeout(r, 200));
    const t0 = await snapshotTables(server);
    const topics = SCALES.topics[scale];
    await phase(async (call) => {
      for (let i = 0; i < topics; i++) {
        await ok(call("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.topic`, { token: owner.token, body: { topic: `topic ${i}` } }), "topic");
      }
    });
    const t1 = await snapshotTables(server);
    await phase(async (call) => {
      for (const u of joiners) await join(call, u.token, roomId);
    });
    const t2 = await snapshotTables(server);
    const topic = perChange(t0, t1, topics);
    const member = perChange(t1, t2, joiners.length);
    return {
      figures: {
        topic_state_bytes: topic.state_bytes,
        topic_state_row_bytes: topic.state_row_bytes,
        topic_state_rows: topic.state_rows,
        join_state_bytes: member.state_bytes,
        join_state_row_bytes: member.state_row_bytes,
        join_state_rows: member.state_rows,
        topic_event_bytes: topic.event_bytes,
      },
      detail: { topics, joins: joiners.length, before: t0, after_topics: t1, after_joins: t2 },
      n: topics + joiners.length,
    };
  },
};
