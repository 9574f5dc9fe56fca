import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient } from "matrix-js-sdk";
import { logger } from "matrix-js-sdk/lib/logger.js";
import { makeDeviceKeys } from "./e2ee-helpers.js";
import {
  createRooms,
  joinedCount,
  sdkList,
  sdkRecorder,
  sendText,
  SLIDING,
  slidingSync,
  startRestartable,
  type RestartableServer,
} from "./sliding-helpers.js";
import { api, createRoom, enc, invite, join, newUser, type J, type TestUser } from "./sync-helpers.js";

// Simplified sliding sync (MSC4186) over raw HTTP: room lists by activity,
// required_state, room subscriptions, filters, long-polling, pos tokens
// across a restart, and the to_device / e2ee / account_data extensions; the
// room list of a user in 300 rooms also through matrix-js-sdk's SlidingSync.

(logger as unknown as { disableAll(): void }).disableAll();

let hs: RestartableServer;
let alice: TestUser;
let bob: TestUser;
let rooms: string[];
const ROOMS = 300;

const allList = (range: [number, number], extra: J = {}): J => ({
  all: {
    ranges: [range],
    timeline_limit: 1,
    required_state: [
      ["m.room.create", ""],
      ["m.room.member", "$ME"],
    ],
    ...extra,
  },
});

beforeAll(async () => {
  hs = await startRestartable();
  alice = await newUser(hs, "alice");
  bob = await newUser(hs, "bob");
  rooms = await createRooms(hs, alice, ROOMS, "Room");
}, 300_000);
afterAll(() => hs?.close());

describe("room list", () => {
  it("advertises org.matrix.simplified_msc3575", async () => {
    const r = await hs.request<J>("GET", "/_matrix/client/versions");
    expect(r.json.unstable_features["org.matrix.simplified_msc3575"]).toBe(true);
  });

  it("gives a user in 300 rooms the 20 most recent first, with their required state", async () => {
    const total = await joinedCount(hs, alice);
    expect(total).toBeGreaterThanOrEqual(ROOMS);
    const t0 = Date.now();
    const res = await slidingSync(hs, alice, { lists: allList([0, 19]) });
    const took = Date.now() - t0;
    expect(res.lists.all.count).toBe(total);
    const got = Object.keys(res.rooms);
    expect(got.length).toBe(20);
    // The last 20 rooms created are the most recent.
    expect(new Set(got)).toEqual(new Set(rooms.slice(-20)));
    const stamps = got.map((id) => res.rooms[id].bump_stamp as number);
    for (const id of got) {
      const room = res.rooms[id];
      expect(room.initial).toBe(true);
      expect(room.membership).toBe("join");
      expect(room.lists).toEqual(["all"]);
      expect(room.name).toBe(`Room ${rooms.indexOf(id)}`);
      expect(room.heroes).toBeUndefined();
      const types = (room.required_state as J[]).map((e) => `${e.type}|${e.state_key}`).sort();
      expect(types).toEqual(["m.room.create|", `m.room.member|${alice.userId}`]);
      expect(room.timeline.length).toBe(1);
      expect(room.joined_count).toBe(1);
      expect(typeof room.prev_batch).toBe("string");
    }
    // Newer rooms have higher bump stamps.
    const byStamp = [...got].sort((a, b) => res.rooms[a].bump_stamp - res.rooms[b].bump_stamp);
    expect(byStamp).toEqual(rooms.slice(-20));
    expect(new Set(stamps).size).toBe(20);
    expect(took).toBeLessThan(15_000);
  });

  it("through matrix-js-sdk's SlidingSync: the same 20 first with their required state, and a new message moves its room up", async () => {
    const c = createClient({ baseUrl: hs.url, accessToken: alice.token, userId: alice.userId, deviceId: alice.deviceId });
    const r = sdkRecorder(hs.url, c, new Map([["all", sdkList(19)]]));
    try {
      await expect.poll(() => r.responses(), { timeout: 20_000 }).toBeGreaterThanOrEqual(1);
      expect(r.s.getListData("all")?.joinedCount).toBe(await joinedCount(hs, alice));
      const first = r.seen.slice();
      expect(new Set(first.map((x) => x.roomId))).toEqual(new Set(rooms.slice(-20)));
      for (const { roomId, data } of first) {
        expect(data.initial).toBe(true);
        expect(data.required_state.map((e) => e.type).sort()).toEqual(["m.room.create", "m.room.member", "m.room.name"]);
        expect(data.name).toBe(`Room ${rooms.indexOf(roomId)}`);
      }
      const top = Math.max(...first.map((x) => x.data.bump_stamp ?? 0));
      // rooms[2]: no later test here relies on its place in the list.
      const old = rooms[2]!;
      const eventId = await sendText(hs, alice, old, "bump from js-sdk");
      await expect.poll(() => r.seen.some((x) => x.roomId === old), { timeout: 20_000 }).toBe(true);
      const bumped = r.seen.find((x) => x.roomId === old)!.data;
      expect(bumped.bump_stamp).toBeGreaterThan(top);
      expect(bumped.timeline.map((e) => e.event_id)).toEqual([eventId]);
    } finally {
      r.s.stop();
      c.stopClient();
    }
  });

  it("moves a room with a new message to the top of the list in the next response", async () => {
    const first = await slidingSync(hs, alice, { conn_id: "bump", lists: allList([0, 19]) });
    const old = rooms[5]!;
    expect(first.rooms[old]).toBeUndefined();
    const eventId = await sendText(hs, alice, old, "bump me");
    const next = await slidingSync(hs, alice, { conn_id: "bump", pos: first.pos, lists: allList([0, 19]) });
    expect(Object.keys(next.rooms)).toEqual([old]);
    const room = next.rooms[old];
    expect(room.timeline.map((e: J) => e.event_id)).toEqual([eventId]);
    expect(room.initial).toBe(true);
    expect(room.num_live).toBe(1);
    const maxBefore = Math.max(...Object.values(first.rooms as Record<string, J>).map((r) => r.bump_stamp as number));
    expect(room.bump_stamp).toBeGreaterThan(maxBefore);
    // A window of one holds it now.
    const top = await slidingSync(hs, alice, { lists: allList([0, 0]) });
    expect(Object.keys(top.rooms)).toEqual([old]);
    // The next message in the same room comes as an update, not the whole room again.
    const second = await sendText(hs, alice, old, "again");
    const upd = await slidingSync(hs, alice, { conn_id: "bump", pos: next.pos, lists: allList([0, 19]) });
    expect(upd.rooms[old].initial).toBeUndefined();
    expect(upd.rooms[old].timeline.map((e: J) => e.event_id)).toEqual([second]);
    expect(upd.rooms[old].required_state).toEqual([]);
  });

  it("long-polls with timeout and wakes on a new message", async () => {
    const first = await slidingSync(hs, alice, { conn_id: "poll", lists: allList([0, 4]) });
    const quiet = await slidingSync(hs, alice, { conn_id: "poll", pos: first.pos, timeout: 0, lists: allList([0, 4]) });
    expect(quiet.rooms).toEqual({});
    const target = rooms[100]!;
    const t0 = Date.now();
    const waiting = slidingSync(hs, alice, { conn_id: "poll", pos: quiet.pos, timeout: 10_000, lists: allList([0, 4]) });
    await new Promise((r) => setTimeout(r, 300));
    const eventId = await sendText(hs, alice, target, "wake up");
    const woke = await waiting;
    expect(Date.now() - t0).toBeLessThan(9_000);
    expect(woke.rooms[target].timeline.map((e: J) => e.event_id)).toEqual([eventId]);
  });

  it("applies timeline_limit, limited and prev_batch, and room subscriptions", async () => {
    const room = rooms[10]!;
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push(await sendText(hs, alice, room, `m${i}`));
    const res = await slidingSync(hs, alice, { room_subscriptions: { [room]: { timeline_limit: 3, required_state: [["*", "*"]] } } });
    const r = res.rooms[room];
    expect(r.lists).toBeUndefined();
    expect(r.timeline.map((e: J) => e.event_id)).toEqual(ids.slice(1));
    expect(r.limited).toBe(true);
    const state = (r.required_state as J[]).map((e) => e.type as string);
    for (const t of ["m.room.create", "m.room.power_levels", "m.room.join_rules", "m.room.member"]) expect(state).toContain(t);
    const page = await api(hs, "GET", `/rooms/${enc(room)}/messages?dir=b&limit=1&from=${enc(r.prev_batch)}`, alice.token);
    expect(page.status).toBe(200);
    expect(page.json.chunk[0].event_id).toBe(ids[0]);
    // Subscriptions are sticky: a later request without them still follows the room.
    const more = await sendText(hs, alice, room, "later");
    const next = await slidingSync(hs, alice, { pos: res.pos });
    expect(next.rooms[room].timeline.map((e: J) => e.event_id)).toEqual([more]);
    // Rooms the user is not in are ignored.
    const foreign = await createRoom(hs, bob, {});
    const none = await slidingSync(hs, alice, { room_subscriptions: { [foreign]: { timeline_limit: 1, required_state: [["*", "*"]] } } });
    expect(none.rooms[foreign]).toBeUndefined();
  });

  it("lazy-loads members with $LAZY and honours the proposal's include/exclude form", async () => {
    const room = await createRoom(hs, alice, { preset: "public_chat" });
    await join(hs, bob, room);
    const carol = await newUser(hs, "carol");
    await join(hs, carol, room);
    await sendText(hs, bob, room, "from bob");
    const lazy = await slidingSync(hs, alice, {
      room_subscriptions: {
        [room]: {
          timeline_limit: 1,
          required_state: [
            ["m.room.member", "$LAZY"],
            ["m.room.create", ""],
          ],
        },
      },
    });
    const members = (lazy.rooms[room].required_state as J[]).filter((e) => e.type === "m.room.member").map((e) => e.state_key);
    expect(members).toEqual([bob.userId]);
    const proposal = await slidingSync(hs, alice, {
      room_subscriptions: { [room]: { timeline_limit: 0, required_state: { include: [{}], exclude: [{ type: "m.room.member" }] } } },
    });
    const types = new Set((proposal.rooms[room].required_state as J[]).map((e) => e.type));
    expect(types.has("m.room.member")).toBe(false);
    expect(types.has("m.room.create")).toBe(true);
    expect(proposal.rooms[room].joined_count).toBe(3);
  });
});

describe("filters and invites", () => {
  it("shows an invite with is_invite and its invite_state", async () => {
    const room = await createRoom(hs, bob, { name: "Bob's invite" });
    await invite(hs, bob, room, alice.userId);
    const res = await slidingSync(hs, alice, {
      lists: { invites: { ranges: [[0, 9]], timeline_limit: 1, required_state: [], filters: { is_invite: true } } },
    });
    expect(res.lists.invites.count).toBe(1);
    const r = res.rooms[room];
    expect(r.membership).toBe("invite");
    expect(r.timeline).toBeUndefined();
    const own = (r.invite_state as J[]).find((e) => e.type === "m.room.member" && e.state_key === alice.userId);
    expect(own?.sender).toBe(bob.userId);
    expect((r.invite_state as J[]).some((e) => e.type === "m.room.name" && e.content.name === "Bob's invite")).toBe(true);
    expect(r.stripped_state).toEqual(r.invite_state);
    // The same list without the filter shows joined rooms too; is_invite false hides the invite.
    const joined = await slidingSync(hs, alice, { lists: { j: { ranges: [[0, 400]], timeline_limit: 0, required_state: [], filters: { is_invite: false } } } });
    expect(joined.rooms[room]).toBeUndefined();
    await join(hs, alice, room);
  });

  it("filters by is_dm, is_encrypted, room_types, not_room_types and tags", async () => {
    const dm = await createRoom(hs, alice, { is_direct: true, invite: [bob.userId] });
    await api(hs, "PUT", `/user/${enc(alice.userId)}/account_data/m.direct`, alice.token, { [bob.userId]: [dm] });
    const enc1 = await createRoom(hs, alice, { initial_state: [{ type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } }] });
    const space = await createRoom(hs, alice, { creation_content: { type: "m.space" } });
    await api(hs, "PUT", `/rooms/${enc(space)}/state/m.space.child/${enc(enc1)}`, alice.token, { via: ["localhost"] });
    await api(hs, "PUT", `/user/${enc(alice.userId)}/rooms/${enc(enc1)}/tags/m.favourite`, alice.token, {});
    const list = (filters: J) => ({ l: { ranges: [[0, 1000]], timeline_limit: 0, required_state: [], filters } });
    const ids = async (filters: J) => Object.keys((await slidingSync(hs, alice, { lists: list(filters) })).rooms).sort();
    expect(await ids({ is_dm: true })).toEqual([dm]);
    expect(await ids({ is_encrypted: true })).toEqual([enc1]);
    expect(await ids({ room_types: ["m.space"] })).toEqual([space]);
    expect((await ids({ not_room_types: ["m.space"] })).includes(space)).toBe(false);
    expect(await ids({ tags: ["m.favourite"] })).toEqual([enc1]);
    expect((await ids({ not_tags: ["m.favourite"] })).includes(enc1)).toBe(false);
    expect(await ids({ spaces: [space] })).toEqual([enc1]);
    const res = await slidingSync(hs, alice, { lists: list({ is_dm: true }) });
    expect(res.rooms[dm].is_dm).toBe(true);
    expect(res.rooms[dm].invited_count).toBe(1);
    // An unnamed room comes with heroes to name it by.
    expect(res.rooms[dm].heroes).toEqual([{ user_id: bob.userId, displayname: "bob" }]);
  });
});

describe("pos tokens", () => {
  it("rejects malformed and foreign pos tokens with 400 M_UNKNOWN_POS", async () => {
    const mine = await slidingSync(hs, alice, { lists: allList([0, 0]) });
    for (const pos of ["garbage", "p1_99999999", "p1_", "p1_1x", mine.pos]) {
      const as = pos === mine.pos ? bob : alice;
      const r = await hs.request<J>("POST", SLIDING, { token: as.token, body: { pos, lists: allList([0, 0]) } });
      expect(r.status, pos).toBe(400);
      expect(r.json.errcode).toBe("M_UNKNOWN_POS");
    }
    // Another conn_id of the same device is another connection.
    const r = await hs.request<J>("POST", SLIDING, { token: alice.token, body: { pos: mine.pos, conn_id: "other" } });
    expect(r.json.errcode).toBe("M_UNKNOWN_POS");
  });

  it("refuses bad requests with a Matrix error and no 500", async () => {
    const tooMany = Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`l${i}`, { ranges: [[0, 1]], timeline_limit: 1, required_state: [] }]));
    for (const body of [
      { lists: tooMany },
      { lists: { a: { ranges: [[5, 1]], timeline_limit: 1, required_state: [] } } },
      { lists: { "bad key!": { timeline_limit: 1 } } },
      { timeout: -1 },
      { lists: 5 },
    ]) {
      const r = await hs.request<J>("POST", SLIDING, { token: alice.token, body });
      expect(r.status, JSON.stringify(body).slice(0, 80)).toBe(400);
      expect(typeof r.json.errcode).toBe("string");
    }
    const anon = await hs.request<J>("POST", SLIDING, { body: {} });
    expect(anon.status).toBe(401);
  });

  it("continues a connection from a pos issued before a restart", async () => {
    const room = rooms[200]!;
    const first = await slidingSync(hs, alice, { conn_id: "restart", lists: allList([0, 19]), extensions: { to_device: { enabled: true } } });
    await hs.restart();
    const eventId = await sendText(hs, alice, room, "after restart");
    const next = await slidingSync(hs, alice, { conn_id: "restart", pos: first.pos, lists: allList([0, 19]) });
    expect(next.rooms[room].timeline.map((e: J) => e.event_id)).toEqual([eventId]);
    // Rooms the connection had before the restart are not sent again.
    for (const id of Object.keys(first.rooms)) expect(next.rooms[id]).toBeUndefined();
    // The sticky extension survived too.
    expect(next.extensions.to_device).toBeDefined();
  }, 60_000);
});

describe("extensions", () => {
  it("delivers to-device messages and acknowledges them with since", async () => {
    const first = await slidingSync(hs, alice, { conn_id: "td", extensions: { to_device: { enabled: true } } });
    expect(first.extensions.to_device.events).toEqual([]);
    const r = await api(hs, "PUT", `/sendToDevice/m.test/td1`, bob.token, { messages: { [alice.userId]: { [alice.deviceId]: { n: 1 } } } });
    expect(r.status).toBe(200);
    const next = await slidingSync(hs, alice, {
      conn_id: "td",
      pos: first.pos,
      timeout: 5000,
      extensions: { to_device: { since: first.extensions.to_device.next_batch } },
    });
    expect(next.extensions.to_device.events).toEqual([{ sender: bob.userId, type: "m.test", content: { n: 1 } }]);
    const again = await slidingSync(hs, alice, { conn_id: "td", pos: next.pos, extensions: { to_device: { since: next.extensions.to_device.next_batch } } });
    expect(again.extensions.to_device.events).toEqual([]);
  });

  it("reports key counts and device list changes in the e2ee extension", async () => {
    const shared = await createRoom(hs, alice, { preset: "public_chat" });
    await join(hs, bob, shared);
    const up = await api(hs, "POST", "/keys/upload", alice.token, {
      one_time_keys: { "signed_curve25519:AAAA": { key: "k1" }, "signed_curve25519:AAAB": { key: "k2" } },
    });
    expect(up.status).toBe(200);
    const first = await slidingSync(hs, alice, { conn_id: "e2ee", extensions: { e2ee: { enabled: true } } });
    expect(first.extensions.e2ee.device_one_time_keys_count.signed_curve25519).toBe(2);
    const { keys } = makeDeviceKeys(bob.userId, bob.deviceId);
    expect((await api(hs, "POST", "/keys/upload", bob.token, { device_keys: keys })).status).toBe(200);
    const next = await slidingSync(hs, alice, { conn_id: "e2ee", pos: first.pos, timeout: 5000 });
    expect(next.extensions.e2ee.device_lists.changed).toContain(bob.userId);
  });

  it("carries global and room account data", async () => {
    const room = rooms[0]!;
    const first = await slidingSync(hs, alice, { conn_id: "ad", lists: allList([0, 400]), extensions: { account_data: { enabled: true } } });
    expect((first.extensions.account_data.global as J[]).some((e) => e.type === "m.push_rules")).toBe(true);
    await api(hs, "PUT", `/user/${enc(alice.userId)}/account_data/org.example.g`, alice.token, { a: 1 });
    await api(hs, "PUT", `/user/${enc(alice.userId)}/rooms/${enc(room)}/account_data/org.example.r`, alice.token, { b: 2 });
    const next = await slidingSync(hs, alice, { conn_id: "ad", pos: first.pos, timeout: 5000, lists: allList([0, 400]) });
    const ad = next.extensions.account_data;
    expect(ad.global).toEqual([{ type: "org.example.g", content: { a: 1 } }]);
    expect(ad.rooms[room]).toEqual([{ type: "org.example.r", content: { b: 2 } }]);
  });

  it("carries typing and receipts for rooms in the lists", async () => {
    const room = await createRoom(hs, alice, { preset: "public_chat" });
    await join(hs, bob, room);
    const eventId = await sendText(hs, bob, room, "read me");
    const first = await slidingSync(hs, alice, {
      conn_id: "eph",
      lists: allList([0, 2]),
      extensions: { typing: { enabled: true }, receipts: { enabled: true } },
    });
    expect(first.rooms[room]).toBeDefined();
    await api(hs, "PUT", `/rooms/${enc(room)}/typing/${enc(bob.userId)}`, bob.token, { typing: true, timeout: 10000 });
    await api(hs, "POST", `/rooms/${enc(room)}/receipt/m.read/${enc(eventId)}`, bob.token, {});
    const next = await slidingSync(hs, alice, { conn_id: "eph", pos: first.pos, timeout: 5000, lists: allList([0, 2]) });
    const all = [next];
    if (!next.extensions.receipts.rooms[room] || !next.extensions.typing.rooms[room])
      all.push(await slidingSync(hs, alice, { conn_id: "eph", pos: next.pos, timeout: 5000, lists: allList([0, 2]) }));
    const typing = all.map((r) => r.extensions.typing.rooms[room]).find(Boolean);
    const receipt = all.map((r) => r.extensions.receipts.rooms[room]).find(Boolean);
    expect(typing.content.user_ids).toEqual([bob.userId]);
    expect(receipt.content[eventId]["m.read"][bob.userId]).toBeDefined();
  });
});
