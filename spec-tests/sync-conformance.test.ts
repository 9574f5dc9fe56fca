import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type J, registerSession, type Session } from "./accounts-helpers.js";
import type { TestServer } from "./harness.js";
import { enc, startConformanceServer } from "./sync-helpers.js";

// /sync behaviour that conformance suites check around joins.
let hs: TestServer;
let alice: Session;
let bob: Session;

const v3 = <T = J>(method: string, path: string, token: string | undefined, body?: unknown) =>
  hs.request<T>(method, `/_matrix/client/v3${path}`, { token, body });
const sync = async (u: Session, q: Record<string, string> = {}) => {
  const r = await v3("GET", `/sync?${new URLSearchParams(q)}`, u.token);
  expect(r.status, JSON.stringify(r.json)).toBe(200);
  return r.json;
};

async function createRoom(u: Session, body: J = {}): Promise<string> {
  const r = await v3("POST", "/createRoom", u.token, body);
  expect(r.status, JSON.stringify(r.json)).toBe(200);
  return r.json.room_id as string;
}

beforeAll(async () => {
  hs = await startConformanceServer();
  [alice, bob] = await Promise.all([registerSession(hs, "alice"), registerSession(hs, "bob")]);
}, 60_000);
afterAll(() => hs?.close());

describe("joins in incremental syncs", () => {
  it("a newly joined room's timeline is complete or limited", async () => {
    const filter = JSON.stringify({ room: { timeline: { types: ["m.room.message"], limit: 10 }, state: { types: [] } } });
    const room = await createRoom(alice, { preset: "public_chat" });
    for (let i = 0; i < 4; i++) await v3("PUT", `/rooms/${enc(room)}/send/m.room.message/a${i}`, alice.token, { msgtype: "m.text", body: `test1-${i}` });
    const first = await sync(bob, { filter });
    for (let i = 0; i < 4; i++) await v3("PUT", `/rooms/${enc(room)}/send/m.room.message/b${i}`, alice.token, { msgtype: "m.text", body: `test2-${i}` });
    await v3("POST", `/join/${enc(room)}`, bob.token, {});
    const next = await sync(bob, { filter, since: first.next_batch });
    const tl = next.rooms.join[room].timeline;
    expect(tl.events.every((e: J) => e.type === "m.room.message")).toBe(true);
    const bodies = tl.events.map((e: J) => e.content.body);
    // Either all eight messages with limited false, or fewer with limited true.
    if (bodies.length === 8) expect(tl.limited).toBe(false);
    else expect(tl.limited).toBe(true);
    expect(bodies.at(-1)).toBe("test2-3");
  });

  it("presence of the users a client starts sharing a room with comes with the join", async () => {
    const room = await createRoom(alice, { preset: "public_chat" });
    await v3("PUT", `/presence/${enc(alice.userId)}/status`, alice.token, { presence: "online" });
    const before = await sync(bob);
    await v3("POST", `/join/${enc(room)}`, bob.token, {});
    const after = await sync(bob, { since: before.next_batch });
    const others = (after.presence.events as J[]).filter((e) => e.sender !== bob.userId);
    expect(others.map((e) => e.sender)).toEqual([alice.userId]);
    expect(others[0]!.content.presence).toBe("online");
    const quiet = await sync(bob, { since: after.next_batch });
    expect(quiet.presence?.events ?? []).toEqual([]);

    // The other side: alice learns the presence of a new member who never synced.
    const carol = await registerSession(hs, "carol");
    const aliceBefore = await sync(alice);
    await v3("POST", `/join/${enc(room)}`, carol.token, {});
    const aliceAfter = await sync(alice, { since: aliceBefore.next_batch });
    const seen = (aliceAfter.presence.events as J[]).filter((e) => e.sender === carol.userId);
    expect(seen).toHaveLength(1);
    expect(seen[0]!.content.presence).toBe("offline");
  });

  it("current state appears in the timeline of a rejoined room with joined-only history", async () => {
    const dan = await registerSession(hs, "dan");
    const erin = await registerSession(hs, "erin");
    const room = await createRoom(alice, { preset: "public_chat" });
    await v3("POST", `/join/${enc(room)}`, dan.token, {});
    await v3("PUT", `/rooms/${enc(room)}/state/m.room.history_visibility`, alice.token, { history_visibility: "joined" });
    await v3("POST", `/rooms/${enc(room)}/invite`, alice.token, { user_id: erin.userId });
    const base = await sync(dan);
    await v3("POST", `/rooms/${enc(room)}/leave`, dan.token, {});
    await v3("POST", `/join/${enc(room)}`, erin.token, {});
    await v3("PUT", `/rooms/${enc(room)}/send/m.room.message/hidden`, alice.token, { msgtype: "m.text", body: "while dan was away" });
    await v3("POST", `/join/${enc(room)}`, dan.token, {});
    const next = await sync(dan, { since: base.next_batch });
    const events = next.rooms.join[room].timeline.events as J[];
    expect(events.some((e) => e.type === "m.room.member" && e.state_key === erin.userId && e.content.membership === "join")).toBe(true);
    // Messages stay hidden as history visibility says.
    expect(events.some((e) => e.content?.body === "while dan was away")).toBe(false);
  });

  it("event_format: federation serves the timeline as PDUs", async () => {
    const f = await v3("POST", `/user/${enc(alice.userId)}/filter`, alice.token, { event_format: "federation", room: { timeline: { limit: 1 } } });
    const room = await createRoom(alice);
    const sent = await v3("PUT", `/rooms/${enc(room)}/send/m.room.message/fed`, alice.token, { msgtype: "m.text", body: "Test message" });
    const body = await sync(alice, { filter: f.json.filter_id });
    const tl = body.rooms.join[room].timeline;
    expect(tl.events).toHaveLength(1);
    const e = tl.events[0];
    for (const k of ["event_id", "content", "room_id", "sender", "origin_server_ts", "type", "prev_events", "auth_events", "depth", "hashes", "signatures"])
      expect(e, k).toHaveProperty(k);
    expect(e.event_id).toBe(sent.json.event_id);
    expect(e.content.body).toBe("Test message");
    // The client format has none of the PDU fields.
    const plain = await sync(alice, { filter: JSON.stringify({ room: { timeline: { limit: 1 } } }) });
    expect(plain.rooms.join[room].timeline.events[0]).not.toHaveProperty("prev_events");
  });

  it("peeking (MSC2753): world-readable rooms only, by id or alias, in the peeking device's sync alone", async () => {
    const room = await createRoom(alice, { preset: "public_chat", room_alias_name: "peekable" });
    const closed = await createRoom(alice, { preset: "public_chat" });
    for (const hv of ["shared", "invited", "joined"]) {
      await v3("PUT", `/rooms/${enc(closed)}/state/m.room.history_visibility`, alice.token, { history_visibility: hv });
      const r = await v3("POST", `/peek/${enc(closed)}`, bob.token, {});
      expect([r.status, r.json.errcode], hv).toEqual([403, "M_FORBIDDEN"]);
    }
    await v3("PUT", `/rooms/${enc(room)}/state/m.room.history_visibility`, alice.token, { history_visibility: "world_readable" });
    const peeker = await registerSession(hs, "peeker");
    const otherDevice = await hs.request<J>("POST", "/_matrix/client/v3/login", {
      body: { type: "m.login.password", identifier: { type: "m.id.user", user: peeker.userId }, password: "correct horse" },
    });
    const other: Session = { token: otherDevice.json.access_token, userId: peeker.userId, deviceId: otherDevice.json.device_id };
    const base = await sync(peeker);
    const otherBase = await sync(other);
    const p = await v3("POST", `/peek/${enc("#peekable:localhost")}`, peeker.token, {});
    expect(p.status, JSON.stringify(p.json)).toBe(200);
    expect(p.json.room_id).toBe(room);
    await v3("PUT", `/rooms/${enc(room)}/send/m.room.message/peek1`, alice.token, { msgtype: "m.text", body: "something to peek" });
    const first = await sync(peeker, { since: base.next_batch, filter: JSON.stringify({ room: { timeline: { limit: 30 } } }) });
    const peeked = first.rooms.peek[room];
    expect(peeked.timeline.events[0].type, JSON.stringify(peeked.timeline.events.map((e: J) => e.type))).toBe("m.room.create");
    expect(peeked.timeline.events.at(-1).content.body).toBe("something to peek");
    expect(typeof peeked.timeline.prev_batch).toBe("string");
    expect(Object.keys(first.rooms.join)).toEqual([]);
    const quiet = await sync(peeker, { since: first.next_batch });
    expect(quiet.rooms.peek?.[room]).toBeUndefined();
    await v3("PUT", `/rooms/${enc(room)}/send/m.room.message/peek2`, alice.token, { msgtype: "m.text", body: "something else to peek" });
    const second = await sync(peeker, { since: quiet.next_batch });
    expect(second.rooms.peek[room].timeline.events.map((e: J) => e.content.body)).toEqual(["something else to peek"]);
    // The other device of the same user does not peek.
    const otherSync = await sync(other, { since: otherBase.next_batch });
    expect(otherSync.rooms.peek).toBeUndefined();
    // Unpeeking ends it.
    expect((await v3("POST", `/rooms/${enc(room)}/unpeek`, peeker.token, {})).status).toBe(200);
    await v3("PUT", `/rooms/${enc(room)}/send/m.room.message/peek3`, alice.token, { msgtype: "m.text", body: "after unpeek" });
    const after = await sync(peeker, { since: second.next_batch });
    expect(after.rooms.peek).toBeUndefined();
  });
});
