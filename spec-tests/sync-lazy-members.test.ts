import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TestServer } from "./harness.js";
import { api, createRoom, enc, join, type J, newUser, sendMany, startConformanceServer, stateMembers, sync, type TestUser } from "./sync-helpers.js";

// Filtering, "Lazy-loading room members": /sync and /messages send only the
// member events of the senders shown, plus membership changes the client missed.
let hs: TestServer;
let alice: TestUser;
let bob: TestUser;
let charlie: TestUser;
let dave: TestUser;

const LL = { room: { state: { lazy_load_members: true }, timeline: { limit: 10 } } };
const LL_REDUNDANT = { room: { state: { lazy_load_members: true, include_redundant_members: true }, timeline: { limit: 10 } } };

beforeAll(async () => {
  hs = await startConformanceServer();
  [alice, bob, charlie, dave] = await Promise.all(["alice", "bob", "charlie", "dave"].map((n) => newUser(hs, n)));
}, 60_000);
afterAll(() => hs?.close());

/** A named room (no heroes needed) that bob and charlie joined. */
async function roomWithBobAndCharlie(): Promise<string> {
  const room = await createRoom(hs, alice, { preset: "public_chat", name: "A room name" });
  await join(hs, bob, room);
  await join(hs, charlie, room);
  return room;
}

const leave = async (u: TestUser, room: string) => expect((await api(hs, "POST", `/rooms/${enc(room)}/leave`, u.token, {})).status).toBe(200);

describe("lazy-loaded members in /sync", () => {
  it("filters take only booleans for lazy_load_members and include_redundant_members", async () => {
    for (const state of [{ lazy_load_members: "true" }, { lazy_load_members: 1 }, { include_redundant_members: "true" }, { include_redundant_members: 1 }]) {
      const r = await api(hs, "POST", `/user/${enc(alice.userId)}/filter`, alice.token, { room: { state } });
      expect(r.status, JSON.stringify(state)).toBe(400);
    }
  });

  it("an initial sync carries the timeline senders' members and the user's own, all other state", async () => {
    const room = await roomWithBobAndCharlie();
    await sendMany(hs, bob, room, 10);
    await sendMany(hs, charlie, room, 10);
    const res = await sync(hs, alice, { filter: LL });
    expect(stateMembers(res, room)).toEqual({ [alice.userId]: "join", [charlie.userId]: "join" });
    const types = (res.rooms.join[room].state.events as J[]).map((e) => e.type);
    expect(types).toEqual(expect.arrayContaining(["m.room.create", "m.room.power_levels", "m.room.join_rules", "m.room.name"]));
  });

  it("an incremental sync carries the members of new senders only, and nothing once seen", async () => {
    const room = await roomWithBobAndCharlie();
    await sendMany(hs, bob, room, 10);
    const first = await sync(hs, alice, { filter: LL });
    expect(stateMembers(first, room)).toEqual({ [alice.userId]: "join", [bob.userId]: "join" });
    await sendMany(hs, charlie, room, 1);
    await sendMany(hs, bob, room, 1);
    const second = await sync(hs, alice, { filter: LL, since: first.next_batch });
    expect(second.rooms.join[room].timeline.limited).toBe(false);
    expect(second.rooms.join[room].state.events.map((e: J) => [e.type, e.state_key])).toEqual([["m.room.member", charlie.userId]]);
    const third = await sync(hs, alice, { filter: LL, since: second.next_batch });
    expect(third.rooms?.join?.[room]).toBeUndefined();
  });

  it("a gapped sync carries every membership change of the gap and the members of new senders", async () => {
    const room = await roomWithBobAndCharlie();
    await sendMany(hs, bob, room, 10);
    const first = await sync(hs, alice, { filter: LL });
    expect(stateMembers(first, room)).toEqual({ [alice.userId]: "join", [bob.userId]: "join" });
    await join(hs, dave, room);
    await sendMany(hs, charlie, room, 12);
    const second = await sync(hs, alice, { filter: LL, since: first.next_batch });
    expect(second.rooms.join[room].timeline.limited).toBe(true);
    // Dave joined in the gap and said nothing; charlie speaks in the timeline.
    expect(stateMembers(second, room)).toEqual({ [charlie.userId]: "join", [dave.userId]: "join" });
    await leave(dave, room);
    await sendMany(hs, charlie, room, 12);
    const third = await sync(hs, alice, { filter: LL, since: second.next_batch });
    expect(third.rooms.join[room].timeline.limited).toBe(true);
    // Charlie's member event was sent already; dave's leave happened in the gap.
    expect(stateMembers(third, room)).toEqual({ [dave.userId]: "leave" });
  });

  it("old leaves show in gapped syncs and leaves in non-gapped ones", async () => {
    const room = await roomWithBobAndCharlie();
    await sendMany(hs, charlie, room, 1, "hello");
    await sendMany(hs, bob, room, 10);
    const first = await sync(hs, alice, { filter: LL });
    expect(stateMembers(first, room)).toEqual({ [alice.userId]: "join", [bob.userId]: "join" });
    await leave(charlie, room);
    await sendMany(hs, bob, room, 10);
    const gapped = await sync(hs, alice, { filter: LL, since: first.next_batch });
    expect(gapped.rooms.join[room].timeline.limited).toBe(true);
    expect(stateMembers(gapped, room)).toEqual({ [charlie.userId]: "leave" });

    const room2 = await roomWithBobAndCharlie();
    await sendMany(hs, charlie, room2, 1, "hello");
    await sendMany(hs, bob, room2, 10);
    const start = await sync(hs, alice, { filter: LL });
    await leave(charlie, room2);
    await sendMany(hs, bob, room2, 5);
    const next = await sync(hs, alice, { filter: LL, since: start.next_batch });
    expect(next.rooms.join[room2].timeline.limited).toBe(false);
    expect(stateMembers(next, room2)).toEqual({ [charlie.userId]: "leave" });
  });

  it("include_redundant_members repeats the senders' members; each device keeps its own record", async () => {
    const room = await roomWithBobAndCharlie();
    await sendMany(hs, bob, room, 10);
    await sendMany(hs, charlie, room, 5);
    const plain = await sync(hs, alice, { filter: LL });
    const redundant = await sync(hs, alice, { filter: LL_REDUNDANT });
    const all = { [alice.userId]: "join", [bob.userId]: "join", [charlie.userId]: "join" };
    expect(stateMembers(plain, room)).toEqual(all);
    expect(stateMembers(redundant, room)).toEqual(all);
    await sendMany(hs, bob, room, 1, "again");
    await sendMany(hs, charlie, room, 1, "again");
    const plainNext = await sync(hs, alice, { filter: LL, since: plain.next_batch });
    expect(stateMembers(plainNext, room)).toEqual({});
    const redundantNext = await sync(hs, alice, { filter: LL_REDUNDANT, since: redundant.next_batch });
    expect(stateMembers(redundantNext, room)).toEqual({ [bob.userId]: "join", [charlie.userId]: "join" });

    // Another device of the same user was sent nothing yet in this room.
    const login = await hs.request<J>("POST", "/_matrix/client/v3/login", {
      body: { type: "m.login.password", identifier: { type: "m.id.user", user: "alice" }, password: "correct horse" },
    });
    expect(login.status, JSON.stringify(login.json)).toBe(200);
    const other: TestUser = { token: login.json.access_token, userId: alice.userId, deviceId: login.json.device_id };
    const fresh = await sync(hs, other, { filter: { room: { ...LL.room, timeline: { limit: 0 } } } });
    await sendMany(hs, bob, room, 1, "third");
    const otherNext = await sync(hs, other, { filter: LL, since: fresh.next_batch });
    expect(stateMembers(otherNext, room)).toEqual({ [bob.userId]: "join" });
  });
});

describe("lazy-loaded members in /messages", () => {
  it("answers the senders' member events in `state`", async () => {
    const room = await roomWithBobAndCharlie();
    await sendMany(hs, bob, room, 3);
    await sendMany(hs, charlie, room, 3);
    const filter = JSON.stringify({ lazy_load_members: true });
    const r = await api(hs, "GET", `/rooms/${enc(room)}/messages?dir=b&limit=3&filter=${enc(filter)}`, alice.token);
    expect(r.status).toBe(200);
    expect((r.json.chunk as J[]).every((e) => e.sender === charlie.userId)).toBe(true);
    expect((r.json.state as J[]).map((e) => [e.type, e.state_key, e.content.membership])).toEqual([["m.room.member", charlie.userId, "join"]]);
    const without = await api(hs, "GET", `/rooms/${enc(room)}/messages?dir=b&limit=3`, alice.token);
    expect(without.json.state).toBeUndefined();
  });
});
