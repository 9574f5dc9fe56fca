import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "./harness.js";
import { api, createRoom, enc, invite, join, newUser, send, sync, timelineIds, type J, type TestUser } from "./sync-helpers.js";

// Client-server API "Syncing" over raw HTTP: tokens, initial and incremental
// responses, gaps and prev_batch, membership sections, filters, long-polling.

let hs: TestServer;
let alice: TestUser;
let bob: TestUser;
let carol: TestUser;

beforeAll(async () => {
  hs = await startTestServer({ registration: { enabled: true }, password_policy: { scrypt_cost: 1024 } });
  alice = await newUser(hs, "alice");
  bob = await newUser(hs, "bob");
  carol = await newUser(hs, "carol");
}, 60_000);
afterAll(() => hs?.close());

describe("tokens and parameters", () => {
  it("rejects garbage and foreign since tokens with 400 M_INVALID_PARAM", async () => {
    for (const since of ["garbage", "s72594_4483_1934", "s1_1_2", "t12-34", "s1_1_2_3_4_5_6_x"]) {
      const r = await hs.request<J>("GET", `/_matrix/client/v3/sync?since=${enc(since)}`, { token: alice.token });
      expect(r.status, since).toBe(400);
      expect(r.json.errcode).toBe("M_INVALID_PARAM");
    }
  });

  it("rejects a bad timeout, set_presence and full_state", async () => {
    for (const q of ["timeout=abc", "timeout=-5", "set_presence=busy", "full_state=yes"]) {
      const r = await hs.request<J>("GET", `/_matrix/client/v3/sync?${q}`, { token: alice.token });
      expect(r.status, q).toBe(400);
      expect(r.json.errcode).toBe("M_INVALID_PARAM");
    }
  });

  it("requires authentication", async () => {
    const r = await hs.request<J>("GET", "/_matrix/client/v3/sync");
    expect(r.status).toBe(401);
    expect(r.json.errcode).toBe("M_MISSING_TOKEN");
  });

  it("unknown or malformed filters are refused", async () => {
    const unknown = await hs.request<J>("GET", "/_matrix/client/v3/sync?filter=987654", { token: alice.token });
    expect(unknown.status).toBe(404);
    expect(unknown.json.errcode).toBe("M_NOT_FOUND");
    const bad = await hs.request<J>("GET", `/_matrix/client/v3/sync?filter=${enc("{not json")}`, { token: alice.token });
    expect(bad.status).toBe(400);
    expect(bad.json.errcode).toBe("M_INVALID_PARAM");
  });
});

describe("initial and incremental sync", () => {
  let roomId: string;
  it("an initial sync has the room's state, timeline, summary and every top-level field", async () => {
    roomId = await createRoom(hs, alice, { name: "Initial", topic: "t" });
    const res = await sync(hs, alice);
    expect(res.next_batch).toMatch(/^s1_/);
    for (const k of ["presence", "account_data", "to_device"]) expect(Array.isArray(res[k].events), k).toBe(true);
    expect(res.device_lists).toEqual({ changed: [], left: [] });
    expect(typeof res.device_one_time_keys_count).toBe("object");
    expect(Array.isArray(res.device_unused_fallback_key_types)).toBe(true);
    const room = res.rooms.join[roomId];
    expect(room).toBeDefined();
    const all = [...room.state.events, ...room.timeline.events] as J[];
    const types = new Set(all.map((e) => e.type));
    for (const t of ["m.room.create", "m.room.member", "m.room.power_levels", "m.room.name", "m.room.topic"]) expect(types.has(t), t).toBe(true);
    // State and timeline never overlap, and state is what held before the timeline.
    const stateIds = new Set((room.state.events as J[]).map((e) => e.event_id));
    for (const e of room.timeline.events as J[]) expect(stateIds.has(e.event_id)).toBe(false);
    expect(room.summary["m.joined_member_count"]).toBe(1);
    expect(room.summary["m.invited_member_count"]).toBe(0);
    expect(room.unread_notifications).toEqual({ notification_count: 0, highlight_count: 0 });
    expect(typeof room.timeline.prev_batch).toBe("string");
    // Client event format as /messages serves it (no PDU fields).
    const ev = room.timeline.events[0] as J;
    expect(ev.room_id).toBe(roomId);
    expect(ev.hashes).toBeUndefined();
    expect(ev.unsigned.age).toBeGreaterThanOrEqual(0);
  });

  it("an incremental sync carries only what is new; a quiet room is left out", async () => {
    const first = await sync(hs, alice);
    const quiet = await sync(hs, alice, { since: first.next_batch });
    expect(quiet.rooms.join[roomId]).toBeUndefined();
    const eventId = await send(hs, alice, roomId, "hello");
    const res = await sync(hs, alice, { since: quiet.next_batch });
    expect(timelineIds(res, roomId)).toEqual([eventId]);
    expect(res.rooms.join[roomId].timeline.limited).toBe(false);
    expect(res.rooms.join[roomId].state.events).toEqual([]);
    // The sender's own device gets its transaction id back.
    expect(res.rooms.join[roomId].timeline.events[0].unsigned.transaction_id).toMatch(/^t/);
  });

  it("a second device of the same user sees the message, without the other device's transaction id", async () => {
    const login = await hs.request<J>("POST", "/_matrix/client/v3/login", {
      body: { type: "m.login.password", identifier: { type: "m.id.user", user: "alice" }, password: "correct horse" },
    });
    expect(login.status).toBe(200);
    const second: TestUser = { token: login.json.access_token, userId: alice.userId, deviceId: login.json.device_id };
    const before = await sync(hs, second);
    const waiting = sync(hs, second, { since: before.next_batch, timeout: 10_000 });
    const eventId = await send(hs, alice, roomId, "from device one");
    const res = await waiting;
    expect(timelineIds(res, roomId)).toEqual([eventId]);
    expect(res.rooms.join[roomId].timeline.events[0].unsigned.transaction_id).toBeUndefined();
  });

  it("a long-poll wakes at once when a message is sent, and times out empty otherwise", async () => {
    const base = await sync(hs, alice);
    const t0 = Date.now();
    const empty = await sync(hs, alice, { since: base.next_batch, timeout: 300 });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    expect(empty.rooms.join).toEqual({});
    const t1 = Date.now();
    const waiting = sync(hs, alice, { since: empty.next_batch, timeout: 20_000 });
    await new Promise((r) => setTimeout(r, 100));
    const eventId = await send(hs, alice, roomId, "wake up");
    const res = await waiting;
    expect(Date.now() - t1).toBeLessThan(5_000);
    expect(timelineIds(res, roomId)).toEqual([eventId]);
  });

  it("full_state returns the whole state on an incremental sync", async () => {
    const base = await sync(hs, alice);
    const res = await sync(hs, alice, { since: base.next_batch, full_state: true });
    const types = (res.rooms.join[roomId].state.events as J[]).map((e) => e.type);
    expect(types).toContain("m.room.create");
    expect(res.rooms.join[roomId].timeline.events).toEqual([]);
  });

  it("use_state_after reports the state at the end of the timeline in state_after, never state", async () => {
    const base = await sync(hs, alice);
    const r = await api(hs, "PUT", `/rooms/${enc(roomId)}/state/m.room.topic`, alice.token, { topic: "after" });
    expect(r.status).toBe(200);
    const res = await sync(hs, alice, { since: base.next_batch, use_state_after: true });
    const room = res.rooms.join[roomId];
    expect(room.state).toBeUndefined();
    const topics = (room.state_after.events as J[]).filter((e) => e.type === "m.room.topic");
    expect(topics.map((e) => e.content.topic)).toEqual(["after"]);
    const initial = await sync(hs, alice, { use_state_after: true });
    const types = (initial.rooms.join[roomId].state_after.events as J[]).map((e) => e.type);
    expect(types).toContain("m.room.create");
    expect(types).toContain("m.room.topic");
  });
});

describe("gaps: limited timelines and prev_batch", () => {
  it("a client that was away gets limited: true and recovers every message exactly once through /messages", async () => {
    const roomId = await createRoom(hs, alice, { preset: "public_chat" });
    await join(hs, bob, roomId);
    const lastSeen = await send(hs, alice, roomId, "before the gap");
    const base = await sync(hs, bob);
    expect(timelineIds(base, roomId)).toContain(lastSeen);
    const sent: string[] = [];
    for (let i = 0; i < 100; i++) sent.push(await send(hs, alice, roomId, `m${i}`));
    const res = await sync(hs, bob, { since: base.next_batch, filter: { room: { timeline: { limit: 5 } } } });
    const tl = res.rooms.join[roomId].timeline;
    expect(tl.limited).toBe(true);
    expect(tl.events.map((e: J) => e.event_id)).toEqual(sent.slice(-5));
    const seen = [...tl.events.map((e: J) => e.event_id as string)];
    let from = tl.prev_batch as string;
    let reachedGapStart = false;
    for (let page = 0; page < 20 && !reachedGapStart; page++) {
      const r = await api(hs, "GET", `/rooms/${enc(roomId)}/messages?dir=b&limit=30&from=${enc(from)}`, bob.token);
      expect(r.status, JSON.stringify(r.json)).toBe(200);
      for (const e of r.json.chunk as J[]) {
        if (e.event_id === lastSeen) {
          reachedGapStart = true;
          break;
        }
        seen.unshift(e.event_id);
      }
      if (!r.json.end) break;
      from = r.json.end;
    }
    expect(reachedGapStart).toBe(true);
    expect(seen).toEqual(sent);
    expect(new Set(seen).size).toBe(100);
  });

  it("messages sent while responses are being assembled arrive in the next response, never skipped or repeated", async () => {
    const roomId = await createRoom(hs, alice);
    const base = await sync(hs, alice);
    const filter = { room: { timeline: { limit: 200, types: ["m.room.message"] } } };
    const sent: string[] = [];
    let done = false;
    const sender = (async () => {
      for (let i = 0; i < 40; i++) {
        sent.push(await send(hs, alice, roomId, `race ${i}`));
        if (i % 3 === 0) await new Promise((r) => setImmediate(r));
      }
      done = true;
    })();
    const received: string[] = [];
    let since = base.next_batch as string;
    for (let rounds = 0; rounds < 500; rounds++) {
      const res = await sync(hs, alice, { since, timeout: done ? 0 : 2_000, filter });
      expect(res.rooms.join[roomId]?.timeline.limited ?? false).toBe(false);
      received.push(...timelineIds(res, roomId));
      since = res.next_batch;
      if (done && received.length >= sent.length) break;
    }
    await sender;
    const last = await sync(hs, alice, { since, filter });
    received.push(...timelineIds(last, roomId));
    expect(received).toEqual(sent);
  });
});

describe("membership sections", () => {
  it("an invite shows under invite with stripped state, then under join once joined", async () => {
    const roomId = await createRoom(hs, alice, { name: "Invitation" });
    const base = await sync(hs, carol);
    const waiting = sync(hs, carol, { since: base.next_batch, timeout: 10_000 });
    await invite(hs, alice, roomId, carol.userId);
    const res = await waiting;
    const inv = res.rooms.invite[roomId];
    expect(inv).toBeDefined();
    const events = inv.invite_state.events as J[];
    expect(events.find((e) => e.type === "m.room.name")?.content.name).toBe("Invitation");
    const own = events.find((e) => e.type === "m.room.member" && e.state_key === carol.userId);
    expect(own?.content.membership).toBe("invite");
    expect(own?.sender).toBe(alice.userId);
    await join(hs, carol, roomId);
    const joined = await sync(hs, carol, { since: res.next_batch });
    expect(joined.rooms.invite[roomId]).toBeUndefined();
    const room = joined.rooms.join[roomId];
    expect(room).toBeDefined();
    // A newly joined room comes with its full state.
    const types = [...room.state.events, ...room.timeline.events].map((e: J) => e.type);
    expect(types).toContain("m.room.create");
    expect(room.summary["m.joined_member_count"]).toBe(2);
  });

  it("a left room appears under leave once, ending with the leave; include_leave brings it back", async () => {
    const roomId = await createRoom(hs, alice, { preset: "public_chat" });
    await join(hs, carol, roomId);
    const base = await sync(hs, carol);
    expect(base.rooms.join[roomId]).toBeDefined();
    const r = await api(hs, "POST", `/rooms/${enc(roomId)}/leave`, carol.token, {});
    expect(r.status).toBe(200);
    await send(hs, alice, roomId, "after carol left");
    const res = await sync(hs, carol, { since: base.next_batch });
    expect(res.rooms.join[roomId]).toBeUndefined();
    const left = res.rooms.leave[roomId];
    expect(left).toBeDefined();
    const tl = left.timeline.events as J[];
    expect(tl[tl.length - 1]).toMatchObject({ type: "m.room.member", state_key: carol.userId, content: { membership: "leave" } });
    expect(tl.some((e) => e.content.body === "after carol left")).toBe(false);
    const again = await sync(hs, carol, { since: res.next_batch });
    expect(again.rooms.leave[roomId]).toBeUndefined();
    const initial = await sync(hs, carol);
    expect(initial.rooms.leave[roomId]).toBeUndefined();
    const withLeave = await sync(hs, carol, { filter: { room: { include_leave: true } } });
    expect(withLeave.rooms.leave[roomId]).toBeDefined();
  });

  it("a knock shows under knock with the room's stripped state", async () => {
    const roomId = await createRoom(hs, alice, { name: "Knock knock", initial_state: [{ type: "m.room.join_rules", state_key: "", content: { join_rule: "knock" } }] });
    const base = await sync(hs, carol);
    const k = await api(hs, "POST", `/knock/${enc(roomId)}`, carol.token, { reason: "let me in" });
    expect(k.status, JSON.stringify(k.json)).toBe(200);
    const res = await sync(hs, carol, { since: base.next_batch });
    const events = res.rooms.knock[roomId]?.knock_state.events as J[];
    expect(events.find((e) => e.type === "m.room.join_rules")?.content.join_rule).toBe("knock");
    expect(events.find((e) => e.type === "m.room.member" && e.state_key === carol.userId)?.content.membership).toBe("knock");
    // The room's members see the knock in the timeline.
    const aliceSync = await sync(hs, alice, { filter: { room: { rooms: [roomId] } } });
    expect((aliceSync.rooms.join[roomId].timeline.events as J[]).some((e) => e.type === "m.room.member" && e.content.membership === "knock")).toBe(true);
  });

  it("the room summary names heroes when the room has no name", async () => {
    const roomId = await createRoom(hs, alice, { preset: "public_chat" });
    await join(hs, bob, roomId);
    const res = await sync(hs, bob);
    expect(res.rooms.join[roomId].summary["m.heroes"]).toEqual([alice.userId]);
    expect(res.rooms.join[roomId].summary["m.joined_member_count"]).toBe(2);
  });
});

describe("filters", () => {
  it("timeline types, senders, rooms and not_rooms filter what is returned", async () => {
    const r1 = await createRoom(hs, alice, { preset: "public_chat" });
    const r2 = await createRoom(hs, alice);
    await join(hs, bob, r1);
    await send(hs, alice, r1, "from alice");
    await send(hs, bob, r1, "from bob");
    const onlyBob = await sync(hs, alice, { filter: { room: { rooms: [r1], timeline: { senders: [bob.userId], types: ["m.room.message"] } } } });
    expect(Object.keys(onlyBob.rooms.join)).toEqual([r1]);
    expect((onlyBob.rooms.join[r1].timeline.events as J[]).map((e) => e.content.body)).toEqual(["from bob"]);
    const notR1 = await sync(hs, alice, { filter: { room: { not_rooms: [r1] } } });
    expect(notR1.rooms.join[r1]).toBeUndefined();
    expect(notR1.rooms.join[r2]).toBeDefined();
  });

  it("event_fields keeps only the listed fields of room events", async () => {
    const roomId = await createRoom(hs, alice);
    await send(hs, alice, roomId, "fields");
    const res = await sync(hs, alice, { filter: { event_fields: ["type", "content.body"], room: { rooms: [roomId], timeline: { limit: 1 } } } });
    expect(res.rooms.join[roomId].timeline.events).toEqual([{ type: "m.room.message", content: { body: "fields" } }]);
  });

  it("a stored filter is applied by id", async () => {
    const roomId = await createRoom(hs, alice);
    for (let i = 0; i < 4; i++) await send(hs, alice, roomId, `n${i}`);
    const f = await api(hs, "POST", `/user/${enc(alice.userId)}/filter`, alice.token, { room: { timeline: { limit: 2 } } });
    expect(f.status).toBe(200);
    const res = await sync(hs, alice, { filter: f.json.filter_id });
    expect(res.rooms.join[roomId].timeline.events).toHaveLength(2);
    expect(res.rooms.join[roomId].timeline.limited).toBe(true);
  });

  it("lazy_load_members sends only the members the timeline needs", async () => {
    const roomId = await createRoom(hs, alice, { preset: "public_chat", name: "LL" });
    await join(hs, bob, roomId);
    await join(hs, carol, roomId);
    for (let i = 0; i < 3; i++) await send(hs, bob, roomId, `ll${i}`);
    const filter = { room: { state: { lazy_load_members: true }, timeline: { limit: 3 } } };
    const res = await sync(hs, alice, { filter });
    const room = res.rooms.join[roomId];
    const members = (room.state.events as J[]).filter((e) => e.type === "m.room.member").map((e) => e.state_key);
    expect(members).toContain(bob.userId);
    expect(members).not.toContain(carol.userId);
    expect((room.state.events as J[]).some((e) => e.type === "m.room.name")).toBe(true);
    const full = await sync(hs, alice, { filter: { room: { timeline: { limit: 3 } } } });
    const allMembers = (full.rooms.join[roomId].state.events as J[]).filter((e) => e.type === "m.room.member").map((e) => e.state_key);
    expect(allMembers).toContain(carol.userId);
  });
});

describe("account data, to-device and ephemeral events over HTTP", () => {
  it("global and room account data appear and wake a waiting sync", async () => {
    const roomId = await createRoom(hs, bob);
    const base = await sync(hs, bob);
    const waiting = sync(hs, bob, { since: base.next_batch, timeout: 10_000 });
    const r = await api(hs, "PUT", `/user/${enc(bob.userId)}/account_data/org.example.settings`, bob.token, { a: 1 });
    expect(r.status).toBe(200);
    const res = await waiting;
    expect(res.account_data.events).toEqual([{ type: "org.example.settings", content: { a: 1 } }]);
    const t = await api(hs, "PUT", `/user/${enc(bob.userId)}/rooms/${enc(roomId)}/tags/u.work`, bob.token, { order: 0.5 });
    expect(t.status).toBe(200);
    const res2 = await sync(hs, bob, { since: res.next_batch });
    expect(res2.rooms.join[roomId].account_data.events).toEqual([{ type: "m.tag", content: { tags: { "u.work": { order: 0.5 } } } }]);
  });

  it("read markers set m.fully_read room account data and an m.read receipt", async () => {
    const roomId = await createRoom(hs, alice, { preset: "public_chat" });
    await join(hs, bob, roomId);
    const eventId = await send(hs, alice, roomId, "read me");
    const base = await sync(hs, alice);
    const r = await api(hs, "POST", `/rooms/${enc(roomId)}/read_markers`, bob.token, { "m.fully_read": eventId, "m.read": eventId });
    expect(r.status).toBe(200);
    const bobSync = await sync(hs, bob);
    expect(bobSync.rooms.join[roomId].account_data.events).toContainEqual({ type: "m.fully_read", content: { event_id: eventId } });
    const res = await sync(hs, alice, { since: base.next_batch });
    const receipt = (res.rooms.join[roomId].ephemeral.events as J[]).find((e) => e.type === "m.receipt");
    expect(receipt?.content[eventId]["m.read"][bob.userId].ts).toEqual(expect.any(Number));
  });

  it("threaded receipts carry their thread_id", async () => {
    const roomId = await createRoom(hs, alice);
    const root = await send(hs, alice, roomId, "thread root");
    const base = await sync(hs, alice);
    const r = await api(hs, "POST", `/rooms/${enc(roomId)}/receipt/m.read/${enc(root)}`, alice.token, { thread_id: "main" });
    expect(r.status).toBe(200);
    const res = await sync(hs, alice, { since: base.next_batch });
    const receipt = (res.rooms.join[roomId].ephemeral.events as J[]).find((e) => e.type === "m.receipt");
    expect(receipt?.content[root]["m.read"][alice.userId]).toEqual({ ts: expect.any(Number), thread_id: "main" });
  });

  it("private receipts reach only their owner", async () => {
    const roomId = await createRoom(hs, alice, { preset: "public_chat" });
    await join(hs, bob, roomId);
    const eventId = await send(hs, alice, roomId, "private");
    const aBase = await sync(hs, alice);
    const bBase = await sync(hs, bob);
    const r = await api(hs, "POST", `/rooms/${enc(roomId)}/receipt/m.read.private/${enc(eventId)}`, bob.token, {});
    expect(r.status).toBe(200);
    const own = await sync(hs, bob, { since: bBase.next_batch });
    expect((own.rooms.join[roomId].ephemeral.events as J[])[0].content[eventId]["m.read.private"][bob.userId]).toBeDefined();
    const other = await sync(hs, alice, { since: aBase.next_batch });
    expect(other.rooms.join[roomId]).toBeUndefined();
  });

  it("to-device messages are delivered once and removed after the next sync acknowledges them", async () => {
    const base = await sync(hs, carol);
    const r = await api(hs, "PUT", `/sendToDevice/m.test/txn-${Date.now()}`, alice.token, { messages: { [carol.userId]: { [carol.deviceId]: { hi: 1 } } } });
    expect(r.status).toBe(200);
    const res = await sync(hs, carol, { since: base.next_batch });
    expect(res.to_device.events).toEqual([{ sender: alice.userId, type: "m.test", content: { hi: 1 } }]);
    const again = await sync(hs, carol, { since: base.next_batch });
    expect(again.to_device.events).toHaveLength(1); // not acknowledged yet: same token, same message
    const next = await sync(hs, carol, { since: res.next_batch });
    expect(next.to_device.events).toEqual([]);
    const replay = await sync(hs, carol, { since: base.next_batch });
    expect(replay.to_device.events).toEqual([]);
  });
});

describe("ignored users", () => {
  it("messages and invites from ignored users are left out; their state events are not", async () => {
    const fred = await newUser(hs, "fred");
    const gina = await newUser(hs, "gina");
    const roomId = await createRoom(hs, fred, { preset: "public_chat" });
    await join(hs, gina, roomId);
    const ig = await api(hs, "PUT", `/user/${enc(gina.userId)}/account_data/m.ignored_user_list`, gina.token, { ignored_users: { [fred.userId]: {} } });
    expect(ig.status).toBe(200);
    const base = await sync(hs, gina);
    await send(hs, fred, roomId, "ignored message");
    const topic = await api(hs, "PUT", `/rooms/${enc(roomId)}/state/m.room.topic`, fred.token, { topic: "still shown" });
    expect(topic.status).toBe(200);
    const other = await createRoom(hs, fred);
    await invite(hs, fred, other, gina.userId);
    const res = await sync(hs, gina, { since: base.next_batch });
    const tl = res.rooms.join[roomId].timeline.events as J[];
    expect(tl.some((e) => e.content.body === "ignored message")).toBe(false);
    expect(tl.some((e) => e.type === "m.room.topic" && e.content.topic === "still shown")).toBe(true);
    expect(res.rooms.invite[other]).toBeUndefined();
  });

  it("syncs over the same window share its rows, never each other's view; an ignore list or redaction changed later is applied", async () => {
    const fred = await newUser(hs, "fred2");
    const gina = await newUser(hs, "gina2");
    const hank = await newUser(hs, "hank2");
    const roomId = await createRoom(hs, fred, { preset: "public_chat" });
    await join(hs, gina, roomId);
    await join(hs, hank, roomId);
    const ig = await api(hs, "PUT", `/user/${enc(gina.userId)}/account_data/m.ignored_user_list`, gina.token, { ignored_users: { [fred.userId]: {} } });
    expect(ig.status).toBe(200);
    const gBase = (await sync(hs, gina)).next_batch as string;
    const hBase = (await sync(hs, hank)).next_batch as string;
    // Both tokens stand at the same room-event position, so both read the window (base, now].
    expect(gBase.split("_")[0]).toBe(hBase.split("_")[0]);
    const msg = await send(hs, fred, roomId, "shared window");
    expect(timelineIds(await sync(hs, hank, { since: hBase }), roomId)).toContain(msg);
    expect(timelineIds(await sync(hs, gina, { since: gBase }), roomId)).not.toContain(msg);
    // Un-ignoring moves only account data: the same window, now shown to gina.
    const un = await api(hs, "PUT", `/user/${enc(gina.userId)}/account_data/m.ignored_user_list`, gina.token, { ignored_users: {} });
    expect(un.status).toBe(200);
    expect(timelineIds(await sync(hs, gina, { since: gBase }), roomId)).toContain(msg);
    const red = await api(hs, "PUT", `/rooms/${enc(roomId)}/redact/${enc(msg)}/r1`, fred.token, { reason: "x" });
    expect(red.status).toBe(200);
    const after = await sync(hs, hank, { since: hBase });
    const shown = (after.rooms.join[roomId].timeline.events as J[]).find((e) => e.event_id === msg);
    expect(shown?.content).toEqual({});
    expect(shown?.unsigned?.redacted_because?.event_id).toBe(red.json.event_id);
  });
});

describe("presence and device lists", () => {
  it("set_presence on /sync sets the user's presence", async () => {
    const u = await newUser(hs, "idler");
    await sync(hs, u, { set_presence: "unavailable" });
    const r = await api(hs, "GET", `/presence/${enc(u.userId)}/status`, u.token);
    expect(r.status).toBe(200);
    expect(r.json.presence).toBe("unavailable");
    await sync(hs, u);
    const online = await api(hs, "GET", `/presence/${enc(u.userId)}/status`, u.token);
    expect(online.json.presence).toBe("online");
    expect(online.json.currently_active).toBe(true);
  });

  it("device_lists names users who start sharing a room, change devices, and stop sharing any room", async () => {
    const dave = await newUser(hs, "dave");
    const erin = await newUser(hs, "erin");
    const roomId = await createRoom(hs, dave, { preset: "public_chat" });
    const base = await sync(hs, dave);
    await join(hs, erin, roomId);
    const joined = await sync(hs, dave, { since: base.next_batch });
    expect(joined.device_lists.changed).toContain(erin.userId);
    const login = await hs.request<J>("POST", "/_matrix/client/v3/login", {
      body: { type: "m.login.password", identifier: { type: "m.id.user", user: "erin" }, password: "correct horse" },
    });
    expect(login.status).toBe(200);
    const newDevice = await sync(hs, dave, { since: joined.next_batch });
    expect(newDevice.device_lists.changed).toEqual([erin.userId]);
    const l = await api(hs, "POST", `/rooms/${enc(roomId)}/leave`, erin.token, {});
    expect(l.status).toBe(200);
    const left = await sync(hs, dave, { since: newDevice.next_batch });
    expect(left.device_lists.left).toEqual([erin.userId]);
    expect(left.device_lists.changed).toEqual([]);
  });
});
