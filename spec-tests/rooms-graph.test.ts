import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getRoomVersion, type JsonObject, type Pdu } from "../src/core/index.js";
import { keysOf, TestServer as RemoteServer, type Built } from "../test/support/remote-server.js";
import { startTestServer, type TestServer } from "./harness.js";
import { api, createRoom, enc, newUser, sync, timelineIds, type J, type TestUser } from "./sync-helpers.js";

/**
 * A room on this server joined by users of two other servers, whose PDUs are
 * signed with those servers' keys and given to the room input the way the
 * federation receive path does; clients then see the result over HTTP.
 */
let hs: TestServer;
let alice: TestUser;
const b = new RemoteServer("b.test");
const c = new RemoteServer("c.test");
const keys = keysOf(b, c);
const rv = getRoomVersion("10")!;

beforeAll(async () => {
  hs = await startTestServer({ registration: { enabled: true }, password_policy: { scrypt_cost: 1024 } });
  alice = await newUser(hs, "alice");
}, 60_000);
afterAll(() => hs?.close());

async function stored(eventId: string): Promise<Built> {
  const [row] = await hs.server.sql.query<{ pdu: string; depth: number }>("SELECT pdu, depth FROM events WHERE event_id = $1", [eventId]);
  return { pdu: JSON.parse(row!.pdu) as Pdu, id: eventId, depth: Number(row!.depth) };
}

/** The room's current state events this test cites as auth events. */
async function authOf(roomId: string): Promise<{ create: Built; pl: Built; jr: Built; head: Built }> {
  const state = (await api<J[]>(hs, "GET", `/rooms/${enc(roomId)}/state`, alice.token)).json;
  const id = (type: string) => state.find((e) => e.type === type && e.state_key === "")!.event_id as string;
  const [x] = await hs.server.sql.query<{ event_id: string }>("SELECT event_id FROM room_forward_extremities WHERE room_id = $1", [roomId]);
  return { create: await stored(id("m.room.create")), pl: await stored(id("m.room.power_levels")), jr: await stored(id("m.room.join_rules")), head: await stored(x!.event_id) };
}

const persist = (roomId: string, e: Built) => hs.server.roomInput.persist(roomId, e.pdu, { kind: "new", keys });

async function roomWithRemotes(): Promise<{ roomId: string; a: Awaited<ReturnType<typeof authOf>>; joinB: Built; joinC: Built; ub: string; uc: string }> {
  const roomId = await createRoom(hs, alice, { preset: "public_chat", room_version: "10" });
  const a = await authOf(roomId);
  const ub = b.user("bob");
  const uc = c.user("carol");
  const joinB = b.event(rv, roomId, { type: "m.room.member", sender: ub, stateKey: ub, content: { membership: "join" }, prev: [a.head], auth: [a.create, a.pl, a.jr] });
  expect((await persist(roomId, joinB)).status).toBe("accepted");
  const joinC = c.event(rv, roomId, { type: "m.room.member", sender: uc, stateKey: uc, content: { membership: "join" }, prev: [joinB], auth: [a.create, a.pl, a.jr] });
  expect((await persist(roomId, joinC)).status).toBe("accepted");
  return { roomId, a, joinB, joinC, ub, uc };
}

describe("rooms over a graph, seen by clients", () => {
  it("a remote event that waits for its prev_events is not in /sync until they arrive, then both are, in order", async () => {
    const r = await roomWithRemotes();
    const first = await sync(hs, alice, { timeout: 0 });
    const m1 = b.event(rv, r.roomId, { type: "m.room.message", sender: r.ub, content: { msgtype: "m.text", body: "one" }, prev: [r.joinC], auth: [r.a.create, r.a.pl, r.joinB] });
    const m2 = b.event(rv, r.roomId, { type: "m.room.message", sender: r.ub, content: { msgtype: "m.text", body: "two" }, prev: [m1], auth: [r.a.create, r.a.pl, r.joinB] });
    expect((await persist(r.roomId, m2)).status).toBe("waiting");
    const mid = await sync(hs, alice, { since: first.next_batch as string, timeout: 0 });
    expect(timelineIds(mid, r.roomId)).toEqual([]);
    expect((await api(hs, "GET", `/rooms/${enc(r.roomId)}/event/${enc(m2.id)}`, alice.token)).status).toBe(404);
    expect((await persist(r.roomId, m1)).status).toBe("accepted");
    const after = await sync(hs, alice, { since: mid.next_batch as string, timeout: 0 });
    expect(timelineIds(after, r.roomId)).toEqual([m1.id, m2.id]);
  });

  it("soft-failed and rejected events never reach clients; the ban that soft-failed a message holds", async () => {
    const r = await roomWithRemotes();
    const first = await sync(hs, alice, { timeout: 0 });
    // alice bans carol over HTTP; carol's server then sends a message that does not know of the ban.
    const ban = await api(hs, "POST", `/rooms/${enc(r.roomId)}/ban`, alice.token, { user_id: r.uc, reason: "spam" });
    expect(ban.status).toBe(200);
    const late = c.event(rv, r.roomId, { type: "m.room.message", sender: r.uc, content: { msgtype: "m.text", body: "sneaky" }, prev: [r.joinC], auth: [r.a.create, r.a.pl, r.joinC] });
    expect((await persist(r.roomId, late)).status).toBe("soft_failed");
    // A message from a user who never joined is rejected.
    const stranger = c.user("mallory");
    const bad = c.event(rv, r.roomId, { type: "m.room.message", sender: stranger, content: { msgtype: "m.text", body: "x" }, prev: [r.joinC], auth: [r.a.create, r.a.pl] });
    expect((await persist(r.roomId, bad)).status).toBe("rejected");

    const s = await sync(hs, alice, { since: first.next_batch as string, timeout: 0 });
    const ids = timelineIds(s, r.roomId);
    expect(ids).not.toContain(late.id);
    expect(ids).not.toContain(bad.id);
    const msgs = (await api<J>(hs, "GET", `/rooms/${enc(r.roomId)}/messages?dir=b&limit=50`, alice.token)).json;
    const history = (msgs.chunk as J[]).map((e) => e.event_id);
    expect(history).not.toContain(late.id);
    expect(history).not.toContain(bad.id);
    for (const id of [late.id, bad.id]) expect((await api(hs, "GET", `/rooms/${enc(r.roomId)}/event/${enc(id)}`, alice.token)).status).toBe(404);
    const members = (await api<J>(hs, "GET", `/rooms/${enc(r.roomId)}/members`, alice.token)).json;
    const carol = (members.chunk as J[]).find((e) => e.state_key === r.uc)!;
    expect((carol.content as JsonObject).membership).toBe("ban");
    // alice's next message is built on the ban, not on the soft-failed event.
    const sent = await api<J>(hs, "PUT", `/rooms/${enc(r.roomId)}/send/m.room.message/after-ban`, alice.token, { msgtype: "m.text", body: "ok" });
    const pdu = (await stored(sent.json.event_id as string)).pdu;
    expect(pdu.prev_events).not.toContain(late.id);
  });

  it("concurrent branches merge: /sync and /messages hold every event once, each after its prev_events; the fork's state is resolved", async () => {
    const r = await roomWithRemotes();
    const first = await sync(hs, alice, { timeout: 0 });
    // Two branches from carol's join, each in order, arriving interleaved; carol leaves at the end of hers.
    const all: Built[] = [];
    const branchB: Built[] = [];
    const branchC: Built[] = [];
    let pb: Built = r.joinC;
    let pc: Built = r.joinC;
    for (let i = 0; i < 3; i++) {
      pb = b.event(rv, r.roomId, { type: "m.room.message", sender: r.ub, content: { msgtype: "m.text", body: `B${i}` }, prev: [pb], auth: [r.a.create, r.a.pl, r.joinB] });
      pc = c.event(rv, r.roomId, { type: "m.room.message", sender: r.uc, content: { msgtype: "m.text", body: `C${i}` }, prev: [pc], auth: [r.a.create, r.a.pl, r.joinC] });
      branchB.push(pb);
      branchC.push(pc);
    }
    const leaveC = c.event(rv, r.roomId, { type: "m.room.member", sender: r.uc, stateKey: r.uc, content: { membership: "leave" }, prev: [pc], auth: [r.a.create, r.a.pl, r.joinC] });
    branchC.push(leaveC);
    for (let i = 0; i < 4; i++) {
      if (branchC[i]) all.push(branchC[i]!);
      if (branchB[i]) all.push(branchB[i]!);
    }
    for (const e of all) expect((await persist(r.roomId, e)).status).toBe("accepted");
    // alice's message merges both branches.
    const merged = await api<J>(hs, "PUT", `/rooms/${enc(r.roomId)}/send/m.room.message/merge`, alice.token, { msgtype: "m.text", body: "merge" });
    expect(merged.status).toBe(200);
    const mergeId = merged.json.event_id as string;
    expect(((await stored(mergeId)).pdu.prev_events as string[]).sort()).toEqual([pb.id, leaveC.id].sort());

    const s = await sync(hs, alice, { since: first.next_batch as string, timeout: 0, filter: { room: { timeline: { limit: 50 } } } });
    const tl = timelineIds(s, r.roomId);
    const msgs = (await api<J>(hs, "GET", `/rooms/${enc(r.roomId)}/messages?dir=b&limit=100`, alice.token)).json;
    const history = (msgs.chunk as J[]).map((e) => e.event_id as string).reverse();
    const expected = [...all.map((e) => e.id), mergeId];
    for (const id of expected) {
      expect(tl.filter((x) => x === id), `sync ${id}`).toHaveLength(1);
      expect(history.filter((x) => x === id), `messages ${id}`).toHaveLength(1);
    }
    for (const seq of [tl, history]) {
      for (const e of [...all, await stored(mergeId)]) {
        for (const p of e.pdu.prev_events as string[]) if (seq.includes(p)) expect(seq.indexOf(p)).toBeLessThan(seq.indexOf(e.id));
      }
    }
    // carol's leave (in her branch) is in the resolved current state and in the member list.
    const members = (await api<J>(hs, "GET", `/rooms/${enc(r.roomId)}/joined_members`, alice.token)).json;
    expect(Object.keys(members.joined as J).sort()).toEqual([alice.userId, r.ub].sort());
  });
});
