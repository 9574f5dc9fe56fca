import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { encodeCanonicalJson, getRoomVersion, verifyKeyOf, type JsonObject, type Pdu } from "../src/core/index.js";
import { keysOf, type Built } from "../test/support/remote-server.js";
import { coreKey, eventually, freePort, makeTestCertificate, removeTestCertificate, startFederated, type TlsFiles } from "./federation-helpers.js";
import { startPeer, type Peer } from "./federation-txn-peer.js";
import type { TestServer } from "./harness.js";
import { api, createRoom, enc, newUser, send, type J, type TestUser } from "./sync-helpers.js";

// One instance A (HTTPS, named 127.0.0.1:PORT) and a stand-in peer whose users
// join A's rooms by PDUs signed with the peer's key, given to A's room input.
// The peer records every transaction A sends it (server-server "Transactions").

const rv = getRoomVersion("10")!;
let tls: TlsFiles;
let a: TestServer;
let nameA: string;
let alice: TestUser;
let peer: Peer;
const BACKOFF = { min_backoff_ms: 150, max_backoff_ms: 1200 };

beforeAll(async () => {
  tls = makeTestCertificate();
  const port = await freePort();
  nameA = `localhost:${port}`;
  a = await startFederated(tls, port, { sender: BACKOFF });
  alice = await newUser(a, "alice");
  peer = await startPeer(tls);
  peer.trust(nameA, verifyKeyOf(coreKey(a)));
}, 120_000);

// A failed test leaves the peer answering for the next.
afterEach(async () => {
  peer.mode = "ok";
  await peer.up();
});

afterAll(async () => {
  await peer?.close();
  await a?.close();
  removeTestCertificate(tls);
});

async function stored(eventId: string): Promise<Built> {
  const [row] = await a.server.sql.query<{ pdu: string; depth: number }>("SELECT pdu, depth FROM events WHERE event_id = $1", [eventId]);
  return { pdu: JSON.parse(row!.pdu) as Pdu, id: eventId, depth: Number(row!.depth) };
}

/** A public room of alice's that `local` of the peer joined (its signed join given to A's room input). */
async function roomWithPeer(local = "bob"): Promise<{ roomId: string; userId: string }> {
  const roomId = await createRoom(a, alice, { preset: "public_chat", room_version: "10" });
  const state = (await api<J[]>(a, "GET", `/rooms/${enc(roomId)}/state`, alice.token)).json;
  const id = (type: string) => state.find((e) => e.type === type && e.state_key === "")!.event_id as string;
  const [head] = await a.server.sql.query<{ event_id: string }>("SELECT event_id FROM room_forward_extremities WHERE room_id = $1", [roomId]);
  const userId = peer.remote.user(local);
  const joinEv = peer.remote.event(rv, roomId, {
    type: "m.room.member",
    sender: userId,
    stateKey: userId,
    content: { membership: "join" },
    prev: [await stored(head!.event_id)],
    auth: [await stored(id("m.room.create")), await stored(id("m.room.power_levels")), await stored(id("m.room.join_rules"))],
  });
  const r = await a.server.roomInput.persist(roomId, joinEv.pdu, { kind: "new", keys: keysOf(peer.remote) });
  expect(r.status).toBe("accepted");
  return { roomId, userId };
}

/** Bodies of the m.room.message PDUs of `roomId` the peer accepted, in arrival order. */
function bodiesIn(roomId: string): string[] {
  return peer
    .pdus()
    .filter((p) => p.room_id === roomId && p.type === "m.room.message")
    .map((p) => (p.content as J).body as string);
}

/** Sends `bodies` to the room, several at a time (their stream order is A's: see `streamBodies`). */
async function sendAll(hs: TestServer, roomId: string, bodies: string[], concurrency = 1): Promise<void> {
  let i = 0;
  const worker = async () => {
    while (i < bodies.length) await send(hs, alice, roomId, bodies[i++]!);
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

/** Bodies of the room's messages on A, in stream order. */
async function streamBodies(roomId: string): Promise<string[]> {
  const rows = await a.server.sql.query<{ pdu: string }>(
    "SELECT pdu FROM events WHERE room_id = $1 AND type = 'm.room.message' AND stream_ordering > 0 ORDER BY stream_ordering",
    [roomId],
  );
  return rows.map((r) => (JSON.parse(r.pdu) as { content: { body: string } }).content.body);
}

const range = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i + 1}`);

/** Each transaction id was answered 200 at most once: nothing is sent again after success. */
function expectNoResendAfterSuccess(): void {
  const ok = peer.txns.filter((t) => t.status === 200).map((t) => t.txnId);
  expect(new Set(ok).size).toBe(ok.length);
}

describe('Server-server "Transactions": the outbound sender', () => {
  it("sends alice's messages to the peer in order, exactly once, in signed transactions of at most 50 PDUs", async () => {
    const { roomId } = await roomWithPeer();
    const bodies = range("m", 12);
    await sendAll(a, roomId, bodies);
    await eventually(async () => (bodiesIn(roomId).length >= 12 ? true : undefined), 15_000, "12 messages at the peer");
    expect(bodiesIn(roomId)).toEqual(bodies);
    for (const t of peer.txns) {
      expect(t.signed).toBe(true);
      expect(t.origin).toBe(nameA);
      expect(t.body.origin).toBe(nameA);
      expect(typeof t.body.origin_server_ts).toBe("number");
      expect((t.body.pdus as J[]).length).toBeLessThanOrEqual(50);
    }
    // The peer's own join is never sent back to it; A's PDUs are A's events as stored.
    const pdus = peer.pdus().filter((p) => p.room_id === roomId);
    expect(pdus.every((p) => typeof p.sender === "string" && (p.sender as string).endsWith(`:${nameA}`))).toBe(true);
    const first = pdus.find((p) => p.type === "m.room.message")!;
    expect(first.hashes).toBeDefined();
    expect((first.signatures as J)[nameA]).toBeDefined();
    expectNoResendAfterSuccess();
  });

  it("retries a transaction answered 500 with the same id and body, with growing delays, then delivers everything once in transactions of at most 50", async () => {
    const { roomId } = await roomWithPeer("carol");
    const { roomId: second } = await roomWithPeer("carl");
    const localOnly = await createRoom(a, alice, { preset: "public_chat" });
    const before = peer.txns.length;
    peer.mode = "error";
    await send(a, alice, roomId, "first");
    const failed = await eventually(
      async () => {
        const f = peer.txns.slice(before).filter((t) => t.status === 500);
        return f.length >= 4 ? f : undefined;
      },
      15_000,
      "four failed attempts",
    );
    // Stable across retries: one id, one body.
    expect(new Set(failed.map((t) => t.txnId)).size).toBe(1);
    expect(new Set(failed.map((t) => encodeCanonicalJson(t.body as JsonObject))).size).toBe(1);
    const gaps = failed.slice(1).map((t, i) => t.at - failed[i]!.at);
    // At least 150, 300, 600 ms apart (doubling from federation.sender.min_backoff_ms).
    gaps.forEach((g, i) => expect(g).toBeGreaterThanOrEqual(150 * 2 ** i - 10));
    // Sixty more in two rooms (neither 50 behind) while the peer fails; a room without the peer is not sent.
    await sendAll(a, roomId, range("r", 30), 4);
    await send(a, alice, localOnly, "local only");
    await sendAll(a, second, range("s", 30), 4);
    peer.mode = "ok";
    await eventually(async () => (bodiesIn(second).length >= 30 && bodiesIn(roomId).length >= 31 ? true : undefined), 20_000, "61 messages at the peer");
    // In A's order, each exactly once.
    expect(bodiesIn(roomId)).toEqual(await streamBodies(roomId));
    expect(bodiesIn(second)).toEqual(await streamBodies(second));
    expect([...bodiesIn(roomId)].sort()).toEqual(["first", ...range("r", 30)].sort());
    expect([...bodiesIn(second)].sort()).toEqual(range("s", 30).sort());
    expect(peer.pdus().some((p) => p.room_id === localOnly)).toBe(false);
    const sizes = peer.accepted().map((t) => (t.body.pdus as J[]).length);
    expect(Math.max(...sizes)).toBe(50);
    expectNoResendAfterSuccess();
  });

  it("sends a kick to the kicked user's server, and nothing of that room after it", async () => {
    const { roomId, userId } = await roomWithPeer("dave");
    const { roomId: still } = await roomWithPeer("erin");
    await send(a, alice, roomId, "before kick");
    const kick = await api(a, "POST", `/rooms/${enc(roomId)}/kick`, alice.token, { user_id: userId, reason: "test" });
    expect(kick.status).toBe(200);
    await send(a, alice, roomId, "after kick");
    // A later event in a room the peer is still in: once it arrived, everything before it was decided.
    await send(a, alice, still, "marker");
    await eventually(async () => (bodiesIn(still).includes("marker") ? true : undefined), 15_000, "the marker");
    const inRoom = peer.pdus().filter((p) => p.room_id === roomId);
    const kickPdu = inRoom.find((p) => p.type === "m.room.member" && p.state_key === userId);
    expect((kickPdu?.content as J | undefined)?.membership).toBe("leave");
    expect(bodiesIn(roomId)).toEqual(["before kick"]);
  });

  it("coalesces typing and presence queued while the destination fails; drops nothing durable", async () => {
    const { roomId } = await roomWithPeer("fay");
    const out = a.server.federation.outbound;
    const before = peer.txns.length;
    peer.mode = "error";
    await out.sendEdu([peer.name], { edu_type: "m.typing", content: { room_id: roomId, user_id: alice.userId, typing: true } });
    await eventually(async () => (peer.txns.slice(before).some((t) => t.status === 500) ? true : undefined), 10_000, "a failed attempt");
    for (const typing of [true, false, true, false]) {
      await out.sendEdu([peer.name], { edu_type: "m.typing", content: { room_id: roomId, user_id: alice.userId, typing } });
    }
    for (const presence of ["online", "unavailable", "offline"]) {
      await out.sendEdu([peer.name, nameA], { edu_type: "m.presence", content: { push: [{ user_id: alice.userId, presence, last_active_ago: 1 }] } });
    }
    await out.sendEdu(
      [peer.name],
      { edu_type: "m.direct_to_device", content: { sender: alice.userId, type: "x.test", message_id: "d1", messages: {} } },
      { durable: true },
    );
    peer.mode = "ok";
    await eventually(
      async () => (peer.edus().some((e) => e.edu_type === "m.direct_to_device" && (e.content as J).message_id === "d1") ? true : undefined),
      15_000,
      "the to-device EDU",
    );
    const later = peer.accepted().filter((t) => t.at >= peer.txns[before]!.at);
    const edus = later.flatMap((t) => (t.body.edus as J[] | undefined) ?? []);
    const typing = edus.filter((e) => e.edu_type === "m.typing" && (e.content as J).room_id === roomId);
    // The first (already in the failing transaction), then only the latest of the four.
    expect(typing.map((e) => (e.content as J).typing)).toEqual([true, false]);
    const presence = edus.filter((e) => e.edu_type === "m.presence");
    expect(presence).toHaveLength(1);
    expect((presence[0]!.content as J).push).toEqual([{ user_id: alice.userId, presence: "offline", last_active_ago: 1 }]);
    // The durable one is deleted once its transaction got the 200.
    await eventually(
      async () => ((await a.server.sql.query("SELECT id FROM federation_outbound_edus")).length === 0 ? true : undefined),
      5_000,
      "the row deleted",
    );
  });

  it("catches up a room more than 50 events behind with its newest events only", async () => {
    const { roomId } = await roomWithPeer("gus");
    await send(a, alice, roomId, "warm");
    await eventually(async () => (bodiesIn(roomId).includes("warm") ? true : undefined), 15_000, "warm-up");
    await peer.down();
    await sendAll(a, roomId, range("c", 70), 4);
    await peer.up();
    const sent = (await streamBodies(roomId)).slice(1);
    const newest = sent[69]!;
    // The transaction in flight when the peer went down, then the newest 50.
    await eventually(async () => (bodiesIn(roomId).includes(newest) ? true : undefined), 20_000, "the newest message");
    const got = bodiesIn(roomId).slice(1);
    expect(got.slice(-50)).toEqual(sent.slice(20));
    expect(got.length).toBeLessThan(70);
    // What went before the newest 50 is a prefix of the first sends (the retried transaction).
    expect(got.slice(0, -50)).toEqual(sent.slice(0, got.length - 50));
    expectNoResendAfterSuccess();
  });

  it("delivers everything and the durable EDUs once after A restarts while the peer is down", async () => {
    const { roomId } = await roomWithPeer("hal");
    await peer.down();
    await sendAll(a, roomId, range("x", 8));
    // The first attempt is pending (persisted): what is queued from here on waits for its success.
    await eventually(async () => {
      const [row] = await a.server.sql.query<{ pending_to: number | null }>(
        "SELECT pending_to FROM delivery_positions WHERE kind = 'federation' AND destination = $1",
        [peer.name],
      );
      return row?.pending_to != null ? true : undefined;
    });
    await a.server.federation.outbound.sendEdu(
      [peer.name],
      { edu_type: "m.device_list_update", content: { user_id: alice.userId, device_id: "D1", stream_id: 7, prev_id: [], deleted: false } },
      { durable: true },
    );
    await a.server.federation.outbound.sendEdu([peer.name], { edu_type: "m.typing", content: { room_id: roomId, user_id: alice.userId, typing: true } });
    // Closed and started again on the same data directory and database (same name, key and port).
    await a.stop();
    await a.start();
    await peer.up();
    await eventually(async () => (bodiesIn(roomId).length >= 8 ? true : undefined), 20_000, "8 messages after the restart");
    expect(bodiesIn(roomId)).toEqual(range("x", 8));
    await eventually(async () => (peer.edus().some((e) => e.edu_type === "m.device_list_update") ? true : undefined), 10_000, "device list EDU");
    await send(a, alice, roomId, "after restart");
    await eventually(async () => (bodiesIn(roomId).includes("after restart") ? true : undefined), 15_000, "a message after the restart");
    expect(peer.edus().filter((e) => e.edu_type === "m.device_list_update")).toHaveLength(1);
    // In-memory EDUs do not survive a restart.
    expect(peer.edus().filter((e) => e.edu_type === "m.typing" && (e.content as J).room_id === roomId)).toHaveLength(0);
    expectNoResendAfterSuccess();
  });
});
