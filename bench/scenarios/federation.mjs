// Federation between two server processes, A and B, over HTTPS on loopback
// (a self-signed certificate made here; names 127.0.0.1:PORT):
// - send latency: A's client sends, B's waiting /sync has it (p50/p99);
// - /send intake: PDUs per second B accepts in transactions of 50 from one
//   origin (built and signed here with A's key, as A's events);
// - big-room join: the time for B's user to join a room held by A with many
//   members and events (make_join + send_join + state and auth chain checks).
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Agent, request } from "undici";
import { makeCertificate, startFederatedBenchServer } from "../lib/federation.mjs";
import { summarize } from "../lib/stats.mjs";
import { jsonClient, ok, pooled, registerUser, registerUsers } from "../lib/users.mjs";

const SCALES = {
  messages: { tiny: 10, small: 100, medium: 300 },
  pdus: { tiny: 100, small: 2000, medium: 10000 },
  // The target room is 5,000 members and 20,000 events (medium).
  members: { tiny: 20, small: 1000, medium: 5000 },
  events: { tiny: 50, small: 5000, medium: 20000 },
};

const enc = encodeURIComponent;

/** A's signing key, read from its data directory (`ed25519 <version> <seed>`). */
function signingKeyOf(dataDir, core) {
  const [, version, seed] = readFileSync(path.join(dataDir, "signing.key"), "utf8").trim().split(/\s+/);
  return core.signingKeyFromSeed(Buffer.from(seed, "base64"), version);
}

const syncPath = (since, timeout) => {
  const q = new URLSearchParams({ timeout: String(timeout), filter: JSON.stringify({ room: { timeline: { limit: 50 } } }) });
  if (since) q.set("since", since);
  return `/_matrix/client/v3/sync?${q}`;
};

let txn = 0;
const sendMessage = (call, token, roomId, body) =>
  ok(call("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/f${++txn}`, { token, body: { msgtype: "m.text", body } }), "send");

async function joinVia(call, token, roomId, via) {
  return ok(call("POST", `/_matrix/client/v3/join/${enc(roomId)}?server_name=${enc(via)}`, { token, body: {} }), "join over federation");
}

async function sendLatency(a, b, n) {
  const ac = jsonClient(a.baseUrl, 4);
  const bc = jsonClient(b.baseUrl, 4);
  try {
    const alice = await registerUser(ac.call, "fedlat");
    const bob = await registerUser(bc.call, "fedlat");
    const { room_id: roomId } = await ok(
      ac.call("POST", "/_matrix/client/v3/createRoom", { token: alice.token, body: { preset: "public_chat" } }),
      "createRoom",
    );
    await joinVia(bc.call, bob.token, roomId, a.name);
    let since = (await ok(bc.call("GET", syncPath(undefined, 0), { token: bob.token }), "sync")).next_batch;
    const samples = [];
    for (let i = 0; i < n; i++) {
      const waiting = ok(bc.call("GET", syncPath(since, 30_000), { token: bob.token }), "sync");
      await new Promise((r) => setTimeout(r, 5));
      const t0 = performance.now();
      const { event_id } = await sendMessage(ac.call, alice.token, roomId, `m${i}`);
      let res = await waiting;
      while (!res.rooms?.join?.[roomId]?.timeline?.events?.some((e) => e.event_id === event_id)) {
        since = res.next_batch;
        res = await ok(bc.call("GET", syncPath(since, 30_000), { token: bob.token }), "sync");
      }
      samples.push(performance.now() - t0);
      since = res.next_batch;
    }
    return { roomId, alice, bob, latency: summarize(samples) };
  } finally {
    await ac.close();
    await bc.close();
  }
}

/** PDUs built here as A's (alice's) messages, chained, sent to B in transactions of 50. */
async function sendIntake(root, a, b, shared, n) {
  const core = await import(path.join(root, "dist/core/index.js"));
  const { signRequestHeader } = await import(path.join(root, "dist/federation/x-matrix.js"));
  const key = signingKeyOf(a.dataDir, core);
  const bc = jsonClient(b.baseUrl, 2);
  const agent = new Agent({ connect: { rejectUnauthorized: false }, headersTimeout: 120_000, bodyTimeout: 120_000 });
  try {
    const { roomId, alice, bob } = shared;
    const state = await ok(bc.call("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/state`, { token: bob.token }), "state");
    const id = (type, sk) => state.find((e) => e.type === type && e.state_key === sk)?.event_id;
    const create = state.find((e) => e.type === "m.room.create");
    const rv = core.getRoomVersion(create.content.room_version ?? "1");
    const auth = [id("m.room.create", ""), id("m.room.power_levels", ""), id("m.room.member", alice.userId)].filter(Boolean);
    const latest = await ok(bc.call("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/messages?dir=b&limit=1`, { token: bob.token }), "messages");
    let prev = latest.chunk[0].event_id;
    let depth = 100_000;
    const batches = [];
    for (let i = 0; i < n; i += 50) {
      const pdus = [];
      for (let j = i; j < Math.min(n, i + 50); j++) {
        const { pdu, eventId } = core.createSignedPdu(
          {
            roomId,
            sender: alice.userId,
            type: "m.room.message",
            content: { msgtype: "m.text", body: `intake ${j}` },
            prevEvents: [prev],
            authEvents: auth,
            depth: ++depth,
            originServerTs: Date.now(),
          },
          rv,
          a.name,
          key,
          {},
        );
        pdus.push(pdu);
        prev = eventId;
      }
      batches.push(pdus);
    }
    let accepted = 0;
    const t0 = performance.now();
    for (const [k, pdus] of batches.entries()) {
      const uri = `/_matrix/federation/v1/send/bench-${process.pid}-${Date.now()}-${k}`;
      const body = { origin: a.name, origin_server_ts: Date.now(), pdus };
      const res = await request(`${b.federationUrl}${uri}`, {
        dispatcher: agent,
        method: "PUT",
        headers: { "content-type": "application/json", authorization: signRequestHeader(key, a.name, b.name, "PUT", uri, body) },
        body: JSON.stringify(body),
      });
      const json = await res.body.json();
      if (res.statusCode !== 200) throw new Error(`/send answered ${res.statusCode} ${JSON.stringify(json).slice(0, 300)}`);
      accepted += Object.values(json.pdus ?? {}).filter((r) => !r.error).length;
    }
    const seconds = (performance.now() - t0) / 1000;
    return { pdus_per_s: Math.round(accepted / seconds), accepted, sent: n };
  } finally {
    await bc.close();
    await agent.close();
  }
}

/** A room on A with `members` local members and `events` messages, then B's user joins it. */
async function bigRoomJoin(a, b, members, events) {
  const ac = jsonClient(a.baseUrl, 8);
  const bc = jsonClient(b.baseUrl, 2);
  try {
    const owner = await registerUser(ac.call, "bigowner");
    const { room_id: roomId } = await ok(
      ac.call("POST", "/_matrix/client/v3/createRoom", { token: owner.token, body: { preset: "public_chat" } }),
      "createRoom",
    );
    // History first, then the members: the same room (its state and event count), built without every
    // filler message notifying thousands of members (push bookkeeping per member, set-up, not measured).
    const left = Math.max(0, events - members);
    await pooled(left, 8, (i) => sendMessage(ac.call, owner.token, roomId, `filler ${i}`));
    const users = await registerUsers(ac.call, "bigmember", members - 1, 8);
    await pooled(users.length, 8, (i) => ok(ac.call("POST", `/_matrix/client/v3/join/${enc(roomId)}`, { token: users[i].token, body: {} }), "join"));
    const bob = await registerUser(bc.call, "bigjoiner");
    const t0 = performance.now();
    await joinVia(bc.call, bob.token, roomId, a.name);
    const joinMs = performance.now() - t0;
    const joined = await ok(bc.call("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/joined_members`, { token: bob.token }), "joined_members");
    return { join_ms: Math.round(joinMs), members_seen_on_b: Object.keys(joined.joined ?? {}).length };
  } finally {
    await ac.close();
    await bc.close();
  }
}

/** Two federated server processes for one run, stopped (and their files removed) after `fn`. */
async function withPair(root, engine, fn) {
  const dir = mkdtempSync(path.join(os.tmpdir(), "bench-fed-"));
  const tls = makeCertificate(dir);
  const a = await startFederatedBenchServer({ root, engine, tls });
  const b = await startFederatedBenchServer({ root, engine, tls });
  try {
    return await fn(a, b);
  } finally {
    await a.stop();
    await b.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

export const federation = {
  name: "federation",
  description: "two servers over HTTPS: send -> remote waiting /sync (p50/p99), /send intake PDUs/s from one origin",
  needsServer: false,
  perEngine: true,
  run: ({ root, scale, engine }) =>
    withPair(root, engine, async (a, b) => {
      const shared = await sendLatency(a, b, SCALES.messages[scale]);
      const intake = await sendIntake(root, a, b, shared, SCALES.pdus[scale]);
      return {
        figures: {
          send_to_remote_sync_p50_ms: shared.latency.p50,
          send_to_remote_sync_p99_ms: shared.latency.p99,
          send_intake_pdus_per_s: intake.pdus_per_s,
        },
        n: shared.latency.n,
        intake,
      };
    }),
};

export const federationJoin = {
  name: "federation_join",
  description: "two servers over HTTPS: B's user joins a room of A with many members and events (5,000 / 20,000 at medium)",
  needsServer: false,
  perEngine: true,
  run: ({ root, scale, engine }) =>
    withPair(root, engine, async (a, b) => {
      const big = await bigRoomJoin(a, b, SCALES.members[scale], SCALES.events[scale]);
      return {
        figures: { big_room_join_ms: big.join_ms, members: SCALES.members[scale], events: SCALES.events[scale], members_seen_on_b: big.members_seen_on_b },
      };
    }),
};
