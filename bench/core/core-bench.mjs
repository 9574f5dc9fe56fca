#!/usr/bin/env node
// Micro-benchmarks of the pure event core (src/core), run against the build:
//   npm run build && node bench/core/core-bench.mjs [--scale tiny] [--json]
// Measures ed25519 sign/verify, canonical JSON throughput, event id
// computation and state resolution of two conflicted state sets of a room
// with 10,000 members and 500 conflicted events (v2 on room v10, v2.1 on v12).
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import os from "node:os";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const entry = path.join(root, "dist/core/index.js");
if (!existsSync(entry)) {
  console.error("dist/core not found: run `npm run build` first");
  process.exit(1);
}
const core = await import(pathToFileURL(entry).href);
const { values } = parseArgs({ options: { scale: { type: "string", default: "full" }, json: { type: "boolean", default: false } } });
const tiny = values.scale === "tiny";
const SCALE = tiny
  ? { ops: 300, members: 500, conflicted: 50, seconds: 0.2 }
  : { ops: 5000, members: 10000, conflicted: 500, seconds: 1 };

/** Runs fn repeatedly for at least `seconds`; returns ops per second. */
function rate(fn, seconds = SCALE.seconds) {
  for (let i = 0; i < 50; i++) fn(i); // warm-up
  let n = 0;
  const start = process.hrtime.bigint();
  const limit = BigInt(Math.round(seconds * 1e9));
  let elapsed = 0n;
  while (elapsed < limit) {
    for (let i = 0; i < 100; i++) fn(n++);
    elapsed = process.hrtime.bigint() - start;
  }
  return n / (Number(elapsed) / 1e9);
}

const key = core.signingKeyFromSeed(new Uint8Array(32).fill(1), "bench");
const vk = core.verifyKeyOf(key);
const v10 = core.requireRoomVersion("10");
const v12 = core.requireRoomVersion("12");

function messageEvent(i) {
  return {
    room_id: "!benchroom:bench.example",
    sender: `@user${i % 97}:bench.example`,
    type: "m.room.message",
    origin_server_ts: 1700000000000 + i,
    depth: 10 + i,
    content: { msgtype: "m.text", body: `Message number ${i} with some text, unicode ✓ 日本語 and "quotes"`, "m.mentions": {} },
    prev_events: ["$Rqnc-F-dvnEYJTyHq_iKxU2bZ1CI92-kuZq3a5lr5Zg"],
    auth_events: ["$Rqnc-F-dvnEYJTyHq_iKxU2bZ1CI92-kuZq3a5lr5Za", "$Rqnc-F-dvnEYJTyHq_iKxU2bZ1CI92-kuZq3a5lr5Zb", "$Rqnc-F-dvnEYJTyHq_iKxU2bZ1CI92-kuZq3a5lr5Zc"],
    hashes: { sha256: "ThisHashCoversAllFieldsInCaseThisIsRedactedAA" },
    signatures: {},
    unsigned: { age_ts: 1700000000000 },
  };
}

const events = Array.from({ length: 256 }, (_, i) => messageEvent(i));
const results = {};

// Ed25519 over a typical redacted event's canonical bytes.
const payload = core.canonicalJsonBytes(core.redact(events[0], v10));
const sig = core.ed25519Sign(key, payload);
results.ed25519_sign_per_s = rate(() => core.ed25519Sign(key, payload));
results.ed25519_verify_per_s = rate(() => core.ed25519Verify(vk, payload, sig));
// Whole-event hash and sign (content hash + redact + canonical + sign).
results.hash_and_sign_event_per_s = rate((i) => core.hashAndSign(events[i & 255], "bench.example", key, v10));
const signed = core.hashAndSign(events[0], "bench.example", key, v10);
results.verify_event_signatures_per_s = rate(() => core.verifyEventSignatures(signed, v10, () => vk));

// Canonical JSON throughput (output bytes).
let bytes = 0;
const encRate = rate((i) => { bytes += core.encodeCanonicalJson(events[i & 255]).length; });
const avgLen = events.reduce((s, e) => s + Buffer.byteLength(core.encodeCanonicalJson(e)), 0) / events.length;
results.canonical_json_mb_per_s = (encRate * avgLen) / 1e6;
results.canonical_json_event_bytes = Math.round(avgLen);
results.event_ids_per_s = rate((i) => core.computeEventId(events[i & 255], v10));

// ---- state resolution: 10k members, two branches, 500 conflicted events ----
function buildRoom(rv, members, conflicted) {
  const byId = new Map();
  let ts = 1700000000000;
  const creator = "@alice:bench.example";
  const user = (i) => `@u${i}:s${i % 50}.example`;
  const add = (fields, authIds, prevIds) => {
    const pdu = {
      type: fields.type,
      sender: fields.sender,
      content: fields.content,
      origin_server_ts: ts++,
      depth: 1,
      auth_events: authIds,
      prev_events: prevIds,
      hashes: { sha256: "x" },
      signatures: {},
    };
    if (fields.stateKey !== undefined) pdu.state_key = fields.stateKey;
    if (!(rv.roomIdIsCreateEventHash && fields.type === "m.room.create")) pdu.room_id = roomId;
    const id = core.computeEventId(pdu, rv);
    const ev = core.toRoomEvent(pdu, id, rv);
    byId.set(id, ev);
    return ev;
  };
  let roomId = "!bench:bench.example";
  const createContent = { room_version: rv.id };
  const create = add({ type: "m.room.create", sender: creator, stateKey: "", content: createContent }, [], []);
  if (rv.roomIdIsCreateEventHash) roomId = `!${create.eventId.slice(1)}`;
  const withCreate = (ids) => (rv.createEventInAuthEvents ? [create.eventId, ...ids] : ids);
  const aj = add({ type: "m.room.member", sender: creator, stateKey: creator, content: { membership: "join" } }, withCreate([]), [create.eventId]);
  const users0 = rv.creatorsHaveInfinitePower ? {} : { [creator]: 100 };
  const pl0 = add({ type: "m.room.power_levels", sender: creator, stateKey: "", content: { users: users0 } }, withCreate([aj.eventId]), [aj.eventId]);
  const jr = add({ type: "m.room.join_rules", sender: creator, stateKey: "", content: { join_rule: "public" } }, withCreate([aj.eventId, pl0.eventId]), [pl0.eventId]);
  const state = new Map();
  const put = (e) => state.set(core.stateMapKey(e.type, e.stateKey), e.eventId);
  [create, aj, pl0, jr].forEach(put);
  let prev = jr.eventId;
  const memberOf = new Map();
  for (let i = 0; i < members; i++) {
    const u = user(i);
    const e = add({ type: "m.room.member", sender: u, stateKey: u, content: { membership: "join", displayname: `User ${i}` } }, withCreate([pl0.eventId, jr.eventId]), [prev]);
    memberOf.set(u, e.eventId);
    put(e);
    prev = e.eventId;
  }
  // Two branches from the same point, each with conflicted/2 events.
  const half = conflicted / 2;
  const branch = (tag) => {
    const s = new Map(state);
    const mem = new Map(memberOf);
    let p = prev;
    let plId = pl0.eventId;
    const users = { ...users0, "@u1:s1.example": 50 };
    const pl = add({ type: "m.room.power_levels", sender: creator, stateKey: "", content: { users, kick: tag === "A" ? 40 : 50 } }, withCreate([aj.eventId, plId]), [p]);
    s.set(core.stateMapKey(pl.type, ""), pl.eventId);
    plId = pl.eventId;
    p = pl.eventId;
    const selfChanges = Math.floor((half - 1) * 0.8);
    for (let i = 0; i < half - 1; i++) {
      let e;
      if (i < selfChanges) {
        // Self-sent membership changes: displayname on A, leave on B (not power events).
        const u = user(100 + i);
        const content = tag === "A" ? { membership: "join", displayname: `Renamed ${i}` } : { membership: "leave" };
        e = add({ type: "m.room.member", sender: u, stateKey: u, content }, withCreate([plId, mem.get(u), ...(tag === "A" ? [jr.eventId] : [])]), [p]);
      } else {
        // Kicks on A, bans on B (power events, sorted by the power ordering).
        const u = user(Math.floor(SCALE.members / 2) + i);
        e = add({ type: "m.room.member", sender: creator, stateKey: u, content: { membership: tag === "A" ? "leave" : "ban" } }, withCreate([plId, aj.eventId, mem.get(u)]), [p]);
      }
      mem.set(e.stateKey, e.eventId);
      s.set(core.stateMapKey(e.type, e.stateKey), e.eventId);
      p = e.eventId;
    }
    return s;
  };
  const a = branch("A");
  const b = branch("B");
  return { byId, a, b };
}

async function benchStateRes(rv, withIndex) {
  const { byId, a, b } = buildRoom(rv, SCALE.members, SCALE.conflicted);
  const chainMemo = new Map();
  const chainOf = (id) => {
    let c = chainMemo.get(id);
    if (c !== undefined) return c;
    c = new Set();
    for (const aid of byId.get(id)?.authEvents ?? []) {
      c.add(aid);
      for (const x of chainOf(aid)) c.add(x);
    }
    chainMemo.set(id, c);
    return c;
  };
  const deps = {
    fetchEvents: async (ids) => { const m = new Map(); for (const id of ids) { const e = byId.get(id); if (e) m.set(id, e); } return m; },
    ...(withIndex ? { authChain: async (ids) => { const out = new Set(); for (const id of ids) for (const x of chainOf(id)) out.add(x); return out; } } : {}),
  };
  const conflicted = core.splitConflicts([a, b]).conflicted;
  let n = 0;
  for (const s of conflicted.values()) n += s.size;
  const runs = tiny ? 2 : 3;
  const times = [];
  let resolved;
  for (let r = 0; r < runs; r++) {
    chainMemo.clear();
    const t0 = process.hrtime.bigint();
    resolved = await core.resolveState(rv, [a, b], deps);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  times.sort((x, y) => x - y);
  return { ms: times[Math.floor(times.length / 2)], conflictedEvents: n, stateSize: a.size, resolvedSize: resolved.size };
}

results.state_res_v2_room10 = await benchStateRes(v10, false);
results.state_res_v2_room10_indexed_chains = await benchStateRes(v10, true);
results.state_res_v21_room12 = await benchStateRes(v12, false);

const meta = { scale: values.scale, node: process.version, cpus: os.cpus().length, cpu: os.cpus()[0]?.model ?? "?" };
if (values.json) {
  console.log(JSON.stringify({ meta, results }, null, 2));
} else {
  const fmt = (x) => (typeof x === "number" ? (x >= 100 ? Math.round(x).toLocaleString("en-US") : x.toFixed(2)) : JSON.stringify(x));
  console.log(`core micro-benchmarks (scale ${meta.scale}, node ${meta.node}, ${meta.cpus} cpus)`);
  for (const [k, v] of Object.entries(results)) {
    if (typeof v === "object") {
      console.log(`${k.padEnd(38)} ${fmt(v.ms)} ms  (${v.stateSize} state entries, ${v.conflictedEvents} conflicted events, resolved ${v.resolvedSize})`);
    } else {
      console.log(`${k.padEnd(38)} ${fmt(v)}`);
    }
  }
}
