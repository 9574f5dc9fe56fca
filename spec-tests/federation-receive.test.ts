import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getRoomVersion, type JsonObject, type Pdu } from "../src/core/index.js";
import { signRequestHeader } from "../src/federation/x-matrix.js";
import { TestServer as RemoteServer, type Built } from "../test/support/remote-server.js";
import { coreKey, fedRequest, freePort, makeTestCertificate, removeTestCertificate, startFederated, type TlsFiles } from "./federation-helpers.js";
import { PeerRoom, startGraphPeer, type GraphPeer } from "./federation-peer.js";
import type { TestServer } from "./harness.js";
import { api, createRoom, enc, newUser, sync, timelineIds, type J, type TestUser } from "./sync-helpers.js";

// One instance of this server and an HTTPS stand-in peer that serves a room graph
// (server-server "Backfilling and retrieving missing events", "Transactions").

const rv = getRoomVersion("10")!;
let tls: TlsFiles;
let hs: TestServer;
let hsName: string;
let peer: GraphPeer;
/** A second origin, for transactions that must not wait behind the first's. */
let peer2: GraphPeer;
let alice: TestUser;
let roomId: string;
let room: PeerRoom;
let create: Built;
let pl: Built;
let jr: Built;
let joinBob: Built;
let bob: string;
/** The room's newest event, as the peer builds on it. */
let head: Built;
let bobMember: Built;

async function stored(eventId: string): Promise<Built> {
  const [row] = await hs.server.sql.query<{ pdu: string; depth: number }>("SELECT pdu, depth FROM events WHERE event_id = $1", [eventId]);
  return { pdu: JSON.parse(row!.pdu) as Pdu, id: eventId, depth: Number(row!.depth) };
}

async function sendTxn(pdus: unknown[], txnId = `t${Math.random().toString(36).slice(2)}`, extra: JsonObject = {}) {
  const uri = `/_matrix/federation/v1/send/${txnId}`;
  const body = { origin: peer.name, origin_server_ts: Date.now(), pdus, ...extra } as JsonObject;
  return fedRequest(hs, "PUT", uri, { body, authorization: signRequestHeader(peer.remote.key, peer.name, hsName, "PUT", uri, body) });
}

function withoutKey(o: JsonObject, key: string): JsonObject {
  const copy = { ...o };
  delete copy[key];
  return copy;
}

function message(body: string, prev = head, sender = bob, member = bobMember): Built {
  const b = peer.remote.event(rv, roomId, { type: "m.room.message", sender, content: { msgtype: "m.text", body }, prev: [prev], auth: [create, pl, member] });
  return room.add(b);
}

/** What must not change when the peer misbehaves: current state, forward extremities, served events. */
async function snapshot(): Promise<J> {
  const state = (await api<J[]>(hs, "GET", `/rooms/${enc(roomId)}/state`, alice.token)).json.map((e) => e.event_id).sort();
  const fx = (
    await hs.server.sql.query<{ event_id: string }>("SELECT event_id FROM room_forward_extremities WHERE room_id = $1 ORDER BY event_id", [roomId])
  ).map((r) => r.event_id);
  const [n] = await hs.server.sql.query<{ n: number }>(
    "SELECT count(*)::int8 AS n FROM events WHERE room_id = $1 AND NOT outlier AND rejected_reason IS NULL AND NOT soft_failed",
    [roomId],
  );
  return { state, fx, served: Number(n!.n) };
}

beforeAll(async () => {
  tls = makeTestCertificate();
  const port = await freePort();
  hsName = `localhost:${port}`;
  hs = await startFederated(tls, port);
  peer = await startGraphPeer(tls);
  peer2 = await startGraphPeer(tls);
  room = new PeerRoom(peer);
  alice = await newUser(hs, "alice");
  roomId = await createRoom(hs, alice, { preset: "public_chat", room_version: "10" });
  const state = (await api<J[]>(hs, "GET", `/rooms/${enc(roomId)}/state`, alice.token)).json;
  for (const e of state) room.add(await stored(e.event_id as string));
  const idOf = (type: string) => state.find((e) => e.type === type && e.state_key === "")!.event_id as string;
  create = await stored(idOf("m.room.create"));
  pl = await stored(idOf("m.room.power_levels"));
  jr = await stored(idOf("m.room.join_rules"));
  const [fx] = await hs.server.sql.query<{ event_id: string }>("SELECT event_id FROM room_forward_extremities WHERE room_id = $1", [roomId]);
  const last = await stored(fx!.event_id);
  peer.events.set(last.id, last.pdu);
  bob = peer.remote.user("bob");
  joinBob = room.add(
    peer.remote.event(rv, roomId, { type: "m.room.member", sender: bob, stateKey: bob, content: { membership: "join" }, prev: [last], auth: [create, pl, jr] }),
  );
  bobMember = joinBob;
  const r = await sendTxn([joinBob.pdu]);
  expect(r.json.pdus).toEqual({ [joinBob.id]: {} });
  head = joinBob;
}, 120_000);

afterAll(async () => {
  await peer?.close();
  await peer2?.close();
  await hs?.close();
  removeTestCertificate(tls);
});

describe("a PDU whose prev_events are unknown", () => {
  it("is preceded by the 5 missing events from get_missing_events, all 6 once and in order in /sync", async () => {
    const since = (await sync(hs, alice, { timeout: 0 })).next_batch as string;
    const gap: Built[] = [];
    for (let i = 1; i <= 5; i++) gap.push((head = message(`gap ${i}`)));
    const last = (head = message("six"));
    const r = await sendTxn([last.pdu]);
    expect(r.status).toBe(200);
    expect(r.json.pdus).toEqual({ [last.id]: {} });
    expect(peer.requests.filter((x) => x.endpoint === "get_missing_events").map((x) => x.arg)).toEqual([last.id]);
    expect(peer.requests.some((x) => x.endpoint === "state_ids")).toBe(false);
    const res = await sync(hs, alice, { since, timeout: 0 });
    expect(timelineIds(res, roomId)).toEqual([...gap.map((g) => g.id), last.id]);
  });

  it("after a gap of 30 events, gets the state at the gap from /state_ids, with the right current state", async () => {
    peer.requests.length = 0;
    const carol = peer.remote.user("carol");
    for (let i = 1; i <= 30; i++) {
      if (i === 5) {
        head = room.add(
          peer.remote.event(rv, roomId, {
            type: "m.room.member",
            sender: carol,
            stateKey: carol,
            content: { membership: "join" },
            prev: [head],
            auth: [create, pl, jr],
          }),
        );
      } else if (i === 12) {
        head = bobMember = room.add(
          peer.remote.event(rv, roomId, {
            type: "m.room.member",
            sender: bob,
            stateKey: bob,
            content: { membership: "join", displayname: "Bobby" },
            prev: [head],
            auth: [create, pl, jr, bobMember],
          }),
        );
      } else head = message(`long gap ${i}`);
    }
    const last = (head = message("thirty-one"));
    const r = await sendTxn([last.pdu]);
    expect(r.json.pdus).toEqual({ [last.id]: {} });
    expect(peer.requests.filter((x) => x.endpoint === "state_ids").length).toBe(1);
    const seen = await api(hs, "GET", `/rooms/${enc(roomId)}/event/${enc(last.id)}`, alice.token);
    expect(seen.status).toBe(200);
    const members = (await api<J[]>(hs, "GET", `/rooms/${enc(roomId)}/state`, alice.token)).json.filter((e) => e.type === "m.room.member");
    const byUser = Object.fromEntries(members.map((m) => [m.state_key as string, m.content as J]));
    expect(byUser[carol]?.membership).toBe("join");
    expect(byUser[bob]?.displayname).toBe("Bobby");
    // The chain after the fetched state is in the room; the next PDU needs no fetching at all.
    peer.requests.length = 0;
    const next = (head = message("thirty-two"));
    expect((await sendTxn([next.pdu])).json.pdus).toEqual({ [next.id]: {} });
    expect(peer.requests).toEqual([]);
  });

  it("from a lying peer (events of another room, bad signatures, wrong state) changes nothing", async () => {
    const before = await snapshot();
    const l1 = message("lie 1");
    const l2 = message("lie 2", l1);
    const p = message("lie 3", l2);
    const foreign = peer.remote.event(rv, "!elsewhere:example.org", {
      type: "m.room.message",
      sender: bob,
      content: { msgtype: "m.text", body: "x" },
      prev: [],
      auth: [],
    });
    peer.lie = (endpoint, body) => {
      if (endpoint === "get_missing_events") {
        // Signatures that do not verify (receipt check 2 drops the events); a changed content alone would only redact them.
        const tampered = (body.events as J[]).map((e) => ({ ...e, signatures: { [peer.name]: { [peer.remote.key.keyId]: "A".repeat(86) } } }));
        return { events: [...tampered, foreign.pdu] as JsonObject[] };
      }
      if (endpoint === "state_ids") return { pdu_ids: [foreign.id, ...(body.pdu_ids as string[])], auth_chain_ids: body.auth_chain_ids as string[] };
      if (endpoint === "event") return { ...body, pdus: [foreign.pdu] as JsonObject[] };
      return body;
    };
    try {
      const r = await sendTxn([p.pdu]);
      expect(r.status).toBe(200);
      expect(r.json.pdus).toEqual({ [p.id]: {} });
    } finally {
      peer.lie = undefined;
    }
    expect(await snapshot()).toEqual(before);
    for (const id of [l1.id, l2.id, p.id]) expect((await api(hs, "GET", `/rooms/${enc(roomId)}/event/${enc(id)}`, alice.token)).status).toBe(404);
    const [row] = await hs.server.sql.query("SELECT event_id FROM events WHERE event_id = $1", [foreign.id]);
    expect(row).toBeUndefined();
    // The honest answer later fills the gap: nothing the lies left behind is in the way.
    head = message("honest", p);
    expect((await sendTxn([head.pdu])).json.pdus).toEqual({ [head.id]: {} });
    for (const id of [l1.id, l2.id, p.id, head.id]) expect((await api(hs, "GET", `/rooms/${enc(roomId)}/event/${enc(id)}`, alice.token)).status).toBe(200);
  });
});

describe("a gap that cannot be filled", () => {
  it("costs one attempt per transaction, leaves the PDUs waiting and the room unchanged", async () => {
    const before = await snapshot();
    const nowhere: Built = { pdu: {} as Pdu, id: `$${"Nowhere".repeat(6)}A`, depth: head.depth };
    const q1 = peer.remote.event(rv, roomId, {
      type: "m.room.message",
      sender: bob,
      content: { msgtype: "m.text", body: "q1" },
      prev: [nowhere],
      auth: [create, pl, bobMember],
    });
    const q2 = peer.remote.event(rv, roomId, {
      type: "m.room.message",
      sender: bob,
      content: { msgtype: "m.text", body: "q2" },
      prev: [q1],
      auth: [create, pl, bobMember],
    });
    const q3 = peer.remote.event(rv, roomId, {
      type: "m.room.message",
      sender: bob,
      content: { msgtype: "m.text", body: "q3" },
      prev: [q2],
      auth: [create, pl, bobMember],
    });
    peer.requests.length = 0;
    const r = await sendTxn([q1.pdu, q2.pdu, q3.pdu]);
    expect(r.json.pdus).toEqual({ [q1.id]: {}, [q2.id]: {}, [q3.id]: {} });
    expect(peer.requests.map((x) => x.endpoint)).toEqual(["get_missing_events", "state_ids"]);
    expect(await snapshot()).toEqual(before);
  });
});

describe("/messages past the start of a room", () => {
  it("backfills the history before our join from the peer, once", async () => {
    const peerRoom = new PeerRoom(peer);
    const host = peer.remote.user("host");
    const rid = `!hist${Date.now()}:${peer.name}`;
    const cr = peerRoom.add(
      peer.remote.event(rv, rid, { type: "m.room.create", sender: host, stateKey: "", content: { room_version: "10", creator: host }, prev: [], auth: [] }),
    );
    const jh = peerRoom.add(
      peer.remote.event(rv, rid, { type: "m.room.member", sender: host, stateKey: host, content: { membership: "join" }, prev: [cr], auth: [cr] }),
    );
    const plh = peerRoom.add(
      peer.remote.event(rv, rid, { type: "m.room.power_levels", sender: host, stateKey: "", content: { users: { [host]: 100 } }, prev: [jh], auth: [cr, jh] }),
    );
    const jrh = peerRoom.add(
      peer.remote.event(rv, rid, { type: "m.room.join_rules", sender: host, stateKey: "", content: { join_rule: "public" }, prev: [plh], auth: [cr, plh, jh] }),
    );
    let h = jrh;
    for (let i = 1; i <= 5; i++) {
      h = peerRoom.add(
        peer.remote.event(rv, rid, { type: "m.room.message", sender: host, content: { msgtype: "m.text", body: `old ${i}` }, prev: [h], auth: [cr, plh, jh] }),
      );
    }
    // Our user's join as send_join would store it: the room's state as outliers, the join on it.
    const dave = await newUser(hs, "dave");
    const us = new RemoteServer(hsName);
    (us as unknown as { key: unknown }).key = coreKey(hs);
    const join = us.event(rv, rid, {
      type: "m.room.member",
      sender: dave.userId,
      stateKey: dave.userId,
      content: { membership: "join" },
      prev: [h],
      auth: [cr, plh, jrh],
    });
    for (const e of [cr, jh, plh, jrh]) await hs.server.roomInput.persist(rid, e.pdu, { kind: "outlier", roomVersion: "10" });
    const jr1 = await hs.server.roomInput.persist(rid, join.pdu, { kind: "new", stateBefore: [cr.id, jh.id, plh.id, jrh.id], roomVersion: "10" });
    expect(jr1.status, JSON.stringify(jr1)).toBe("accepted");

    peer.requests.length = 0;
    const page = await api(hs, "GET", `/rooms/${enc(rid)}/messages?dir=b&limit=20`, dave.token);
    expect(page.status).toBe(200);
    const chunk = page.json.chunk as J[];
    const bodies = chunk.filter((e) => e.type === "m.room.message").map((e) => (e.content as J).body);
    expect(bodies).toEqual(["old 5", "old 4", "old 3", "old 2", "old 1"]);
    expect(chunk[0]!.event_id).toBe(join.id);
    expect(chunk.map((e) => e.type)).toContain("m.room.create");
    expect(peer.requests.filter((x) => x.endpoint === "backfill").map((x) => x.arg)).toEqual([h.id]);
    // The start of the room is reached: paging on asks nobody.
    const again = await api(hs, "GET", `/rooms/${enc(rid)}/messages?dir=b&limit=20&from=${enc(page.json.end as string)}`, dave.token);
    expect(again.status).toBe(200);
    expect(peer.requests.filter((x) => x.endpoint === "backfill").length).toBe(1);
  });
});

describe("malformed transactions", () => {
  const uriOf = (id: string) => `/_matrix/federation/v1/send/${id}`;
  /** A raw body with a well-formed X-Matrix header (signed over another body: limits come before the signature). */
  const raw = (id: string, text: string) =>
    fedRequest(hs, "PUT", uriOf(id), { rawBody: text, authorization: signRequestHeader(peer.remote.key, peer.name, hsName, "PUT", uriOf(id), {}) });
  const signed = (id: string, body: JsonObject) =>
    fedRequest(hs, "PUT", uriOf(id), { body, authorization: signRequestHeader(peer.remote.key, peer.name, hsName, "PUT", uriOf(id), body) });

  it("answers 4xx to bodies that are not transactions, and leaves the room as it was", async () => {
    const before = await snapshot();
    const ts = Date.now();
    const cases: Array<[string, Promise<{ status: number; json: J }>, number, string]> = [
      ["pdus of the wrong type", signed("m1", { origin: peer.name, origin_server_ts: ts, pdus: "nope" }), 400, "M_BAD_JSON"],
      ["no pdus", signed("m2", { origin: peer.name, origin_server_ts: ts }), 400, "M_BAD_JSON"],
      ["edus of the wrong type", signed("m3", { origin: peer.name, origin_server_ts: ts, pdus: [], edus: 5 }), 400, "M_BAD_JSON"],
      ["origin_server_ts a string", signed("m4", { origin: peer.name, origin_server_ts: "now", pdus: [] }), 400, "M_BAD_JSON"],
      [
        "1,000 PDUs",
        signed("m5", { origin: peer.name, origin_server_ts: ts, pdus: Array.from({ length: 1000 }, () => head.pdu as JsonObject) }),
        400,
        "M_BAD_JSON",
      ],
      [
        "101 EDUs",
        signed("m6", { origin: peer.name, origin_server_ts: ts, pdus: [], edus: Array.from({ length: 101 }, () => ({ edu_type: "m.typing", content: {} })) }),
        400,
        "M_BAD_JSON",
      ],
      ["a 10 MB body", raw("m7", JSON.stringify({ origin: peer.name, pdus: [], pad: "x".repeat(10 * 1024 * 1024) })), 413, "M_TOO_LARGE"],
      ["not JSON", raw("m8", "{pdus: ["), 400, "M_NOT_JSON"],
      // Canonical JSON (what requests are signed over) has no floats and no integers beyond 2^53: no signature can verify.
      [
        "a depth of 2^60",
        raw("m10", `{"origin":"${peer.name}","pdus":[${JSON.stringify(head.pdu).replace(/"depth":\d+/, '"depth":1152921504606846976')}]}`),
        401,
        "M_UNAUTHORIZED",
      ],
      ["a float in a PDU", raw("m11", `{"origin":"${peer.name}","pdus":[{"room_id":"${roomId}","depth":1.5}]}`), 401, "M_UNAUTHORIZED"],
      ["100,000 levels of nesting", raw("m9", `{"pdus":[${"[".repeat(100_000)}${"]".repeat(100_000)}]}`), 401, "M_UNAUTHORIZED"],
    ];
    for (const [what, res, status, errcode] of cases) {
      const r = await res;
      expect([what, r.status, r.json?.errcode]).toEqual([what, status, errcode]);
    }
    expect(await snapshot()).toEqual(before);
  });

  it("answers 200 with an error per malformed PDU, and leaves the room as it was", async () => {
    const before = await snapshot();
    const good = message("fine after the bad ones");
    const build = (content: JsonObject, f: JsonObject = {}) => ({ ...message("x").pdu, content, ...f }) as JsonObject;
    const bad: JsonObject[] = [
      build({ msgtype: "m.text", body: "huge depth" }, { depth: Number.MAX_SAFE_INTEGER }),
      build({ msgtype: "m.text", body: "negative depth" }, { depth: -1 }),
      build({ msgtype: "m.text", body: "type" }, { type: 5 }),
      build({ msgtype: "m.text", body: "prevs" }, { prev_events: "nope" }),
      withoutKey(build({ msgtype: "m.text", body: "no sender" }), "sender"),
      build({ deep: JSON.parse(`${"[".repeat(500)}${"]".repeat(500)}`) }),
      { room_id: roomId },
      { room_id: "!unknown:example.org", type: "m.room.create", state_key: "", content: { room_version: "999" }, event_id: "$unknown:example.org" },
      7 as unknown as JsonObject,
    ];
    // The messages built for the bad PDUs are not part of the room's chain: build the good one on the real head.
    room.add(good);
    const r = await sendTxn([...bad, good.pdu]);
    expect(r.status).toBe(200);
    const results = r.json.pdus as Record<string, J>;
    expect(results[good.id]).toEqual({});
    expect(results["$unknown:example.org"]?.error).toMatch(/unknown room/);
    for (const [id, v] of Object.entries(results)) {
      if (id === good.id) continue;
      expect(typeof v.error, id).toBe("string");
      expect(v.error, id).not.toMatch(/internal/i);
    }
    const after = await snapshot();
    expect(after.state).toEqual(before.state);
    expect(after.served).toBe((before.served as number) + 1);
    head = good;
  });

  it("keeps serving others while a transaction waits on a slow origin; one origin's transactions go in order", async () => {
    const since = (await sync(hs, alice, { timeout: 0 })).next_batch as string;
    const g1 = message("slow gap 1");
    const g2 = (head = message("slow gap 2", g1));
    const next = (head = message("after the slow one", g2));
    peer.delayMs.get_missing_events = 1500;
    const done: string[] = [];
    try {
      const slow = sendTxn([g2.pdu]).then((r) => (done.push("slow"), r));
      await new Promise((r) => setTimeout(r, 200));
      const quick = sendTxn([next.pdu]).then((r) => (done.push("quick"), r));
      // Another origin's transaction is not queued behind this origin's.
      const uri = "/_matrix/federation/v1/send/other-origin";
      const body = { origin: peer2.name, origin_server_ts: Date.now(), pdus: [] };
      const other = await fedRequest(hs, "PUT", uri, { body, authorization: signRequestHeader(peer2.remote.key, peer2.name, hsName, "PUT", uri, body) });
      expect([other.status, other.json]).toEqual([200, { pdus: {} }]);
      expect(done).toEqual([]);
      const t0 = Date.now();
      const versions = await hs.request("GET", "/_matrix/client/versions");
      expect(versions.status).toBe(200);
      await sync(hs, alice, { since, timeout: 0 });
      expect(Date.now() - t0).toBeLessThan(1000);
      expect(done).toEqual([]);
      const [s, q] = await Promise.all([slow, quick]);
      expect(s.json.pdus).toEqual({ [g2.id]: {} });
      expect(q.json.pdus).toEqual({ [next.id]: {} });
      expect(done).toEqual(["slow", "quick"]);
    } finally {
      peer.delayMs.get_missing_events = 0;
    }
    const res = await sync(hs, alice, { since, timeout: 0 });
    expect(timelineIds(res, roomId)).toEqual([g1.id, g2.id, next.id]);
  });
});
