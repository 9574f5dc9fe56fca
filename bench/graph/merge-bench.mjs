#!/usr/bin/env node
// State resolution over a real event graph, through the room input of the
// built server (dist/): a room of N members on two test servers, two
// branches of B state changes each from one point, then the resolution of
// the two branch tips (what merging them costs), and the bytes of state
// storage that the branches added per event. Prints JSON with --json.
//   node bench/graph/merge-bench.mjs [--members N] [--branch B] [--database-url URL] [--json]
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { performance } from "node:perf_hooks";
import {
  computeReferenceHash,
  createSignedPdu,
  encodeBase64,
  getRoomVersion,
  signingKeyFromSeed,
  verifyKeyOf,
} from "../../dist/core/index.js";
import { GraphState } from "../../dist/rooms/graph-state.js";
import { createRoomsModule } from "../../dist/rooms/module.js";
import { migrate } from "../../dist/storage/migrate.js";
import { openPglite } from "../../dist/storage/pglite.js";
import { openPostgres } from "../../dist/storage/postgres.js";

const { values } = parseArgs({
  options: {
    members: { type: "string", default: "5000" },
    branch: { type: "string", default: "1000" },
    "database-url": { type: "string" },
    json: { type: "boolean", default: false },
  },
});
const members = Number(values.members);
const branchLen = Number(values.branch);
const log = (...a) => { if (!values.json) console.error(...a); };

async function openDb() {
  const url = values["database-url"];
  if (!url) {
    const dir = mkdtempSync(path.join(os.tmpdir(), "merge-bench-"));
    const sql = await openPglite(dir);
    return { sql, dispose: async () => { await sql.close?.(); rmSync(dir, { recursive: true, force: true }); } };
  }
  const name = `merge_bench_${randomBytes(4).toString("hex")}`;
  const admin = await openPostgres({ url, poolSize: 1 });
  await admin.query(`CREATE DATABASE ${name}`);
  const u = new URL(url);
  u.pathname = `/${name}`;
  const sql = await openPostgres({ url: u.toString(), poolSize: 10 });
  return {
    sql,
    dispose: async () => {
      await sql.close?.();
      await admin.query(`DROP DATABASE ${name}`);
      await admin.close?.();
    },
  };
}

class Server {
  constructor(name) {
    this.name = name;
    this.key = signingKeyFromSeed(randomBytes(32), "b1");
    this.ts = 1_700_000_000_000;
  }
  event(rv, roomId, f) {
    const depth = Math.max(0, ...f.prev.map((p) => p.depth)) + 1;
    const { pdu, eventId } = createSignedPdu(
      { roomId, sender: f.sender, type: f.type, stateKey: f.stateKey, content: f.content, prevEvents: f.prev.map((p) => p.id), authEvents: f.auth.map((a) => a.id), depth, originServerTs: this.ts++ },
      rv, this.name, this.key,
      { eventIdLocalpart: randomBytes(9).toString("hex"), referenceHashOf: (id) => { const b = [...f.prev, ...f.auth].find((x) => x.id === id); return b && encodeBase64(computeReferenceHash(b.pdu, rv)); } },
    );
    return { pdu, id: eventId, depth };
  }
}

const db = await openDb();
await migrate(db.sql);
const rooms = await createRoomsModule({ sql: db.sql, serverName: "bench", signingKey: { keyId: "ed25519:b", seed: randomBytes(32) }, defaultRoomVersion: "10" });
const a = new Server("a.bench");
const b = new Server("b.bench");
const keys = (s, k) => [a, b].find((x) => x.name === s && x.key.keyId === k) && verifyKeyOf([a, b].find((x) => x.name === s).key);
const rv = getRoomVersion("10");
const roomId = `!merge:${a.name}`;
const persist = async (e) => {
  const r = await rooms.writer.persist(roomId, e.pdu, { kind: "new", keys });
  if (r.status !== "accepted") throw new Error(`${e.id}: ${r.status} ${r.reason ?? ""}`);
};

const ua = `@alice:${a.name}`;
const create = a.event(rv, roomId, { type: "m.room.create", sender: ua, stateKey: "", content: { room_version: "10", creator: ua }, prev: [], auth: [] });
const joinA = a.event(rv, roomId, { type: "m.room.member", sender: ua, stateKey: ua, content: { membership: "join" }, prev: [create], auth: [create] });
const pl = a.event(rv, roomId, { type: "m.room.power_levels", sender: ua, stateKey: "", content: { users: { [ua]: 100 }, state_default: 50, events_default: 0 }, prev: [joinA], auth: [create, joinA] });
const jr = a.event(rv, roomId, { type: "m.room.join_rules", sender: ua, stateKey: "", content: { join_rule: "public" }, prev: [pl], auth: [create, pl, joinA] });
for (const e of [create, joinA, pl, jr]) await persist(e);
let head = jr;
const joins = [];
let t0 = performance.now();
for (let i = 0; i < members; i++) {
  const u = `@u${i}:${b.name}`;
  const j = b.event(rv, roomId, { type: "m.room.member", sender: u, stateKey: u, content: { membership: "join", displayname: `u${i}` }, prev: [head], auth: [create, pl, jr] });
  await persist(j);
  joins.push(j);
  head = j;
}
const joinMs = performance.now() - t0;
log(`${members} joins in ${(joinMs / 1000).toFixed(1)} s`);

// Two branches from `head`: profile changes of overlapping member sets, and a
// power-levels change on one side, so the conflicted set and the auth
// difference are both large.
const stateBytes = async () => {
  const [r] = await db.sql.query(
    "SELECT (SELECT coalesce(sum(pg_column_size(g.*)), 0) FROM state_groups g) + (SELECT coalesce(sum(pg_column_size(e.*)), 0) FROM state_group_entries e) AS n",
  );
  return Number(r.n);
};
const bytesBefore = await stateBytes();
const tips = [];
t0 = performance.now();
for (const side of [0, 1]) {
  let prev = head;
  for (let i = 0; i < branchLen; i++) {
    const idx = side === 0 ? i % members : (i + Math.floor(branchLen / 2)) % members;
    const u = `@u${idx}:${b.name}`;
    const e = side === 1 && i === 0
      ? a.event(rv, roomId, { type: "m.room.power_levels", sender: ua, stateKey: "", content: { users: { [ua]: 100 }, state_default: 50, events_default: 0, ban: 60 }, prev: [prev], auth: [create, pl, joinA] })
      : b.event(rv, roomId, { type: "m.room.member", sender: u, stateKey: u, content: { membership: "join", displayname: `${side ? "right" : "left"} ${i}` }, prev: [prev], auth: [create, pl, jr, joins[idx]] });
    // The second branch goes in as backfill-free history: stored with its state, not resolved against the first on every event.
    const r = await rooms.writer.persist(roomId, e.pdu, { kind: side === 0 ? "new" : "backfill", keys });
    if (r.status !== "accepted" && r.status !== "backfilled") throw new Error(`${r.status} ${r.reason ?? ""}`);
    prev = e;
  }
  tips.push(prev);
}
const branchMs = performance.now() - t0;
const bytesPerEvent = (await stateBytes() - bytesBefore) / (2 * branchLen);

const graph = new GraphState(rooms.store, rooms.repos.events, rooms.repos.state);
const tipRows = [...(await rooms.store.getEvents(tips.map((t) => t.id))).values()];
const states = await graph.statesAfter(tipRows);
const runs = [];
let resolved;
for (let i = 0; i < 3; i++) {
  t0 = performance.now();
  resolved = await graph.resolve(rv, states);
  runs.push(performance.now() - t0);
}
runs.sort((x, y) => x - y);
const results = {
  members,
  branch_events: branchLen,
  joins_per_s: Math.round(members / (joinMs / 1000)),
  branch_events_per_s: Math.round((2 * branchLen) / (branchMs / 1000)),
  merge_resolution_ms: Math.round(runs[1] * 10) / 10,
  merge_resolution_first_ms: Math.round(Math.max(...runs) * 10) / 10,
  resolved_state_size: resolved.state.size,
  state_bytes_per_branch_event: Math.round(bytesPerEvent),
};
if (values.json) console.log(JSON.stringify({ results }));
else console.table(results);
await db.dispose();
