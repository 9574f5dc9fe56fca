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
  hsName = `127.0.0.1:${port}`;
  hs = await startFederated(tls, port);
  peer = await startGraphPeer(tls);
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
