import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sharedSecretRegister } from "./accounts-helpers.js";
import { startTestServer, type TestServer } from "./harness.js";
import { api, createRoom, enc, join, newUser, send, sync, type J, type TestUser } from "./sync-helpers.js";

const SECRET = "admin-rooms-secret";
let hs: TestServer;
let admin: TestUser;
let alice: TestUser;
let bob: TestUser;
let roomA: string;
let roomB: string;

const adm = <T = J>(method: string, path: string, token: string, body?: unknown) => hs.request<T>(method, `/_synapse/admin${path}`, { token, body });

async function waitForDeletion(deleteId: string, token: string): Promise<J> {
  for (let i = 0; i < 100; i++) {
    const r = await adm("GET", `/v2/rooms/delete_status/${enc(deleteId)}`, token);
    expect(r.status).toBe(200);
    if (r.json.status === "complete" || r.json.status === "failed") return r.json;
    await new Promise((res) => setTimeout(res, 50));
  }
  throw new Error("deletion did not finish");
}

beforeAll(async () => {
  hs = await startTestServer({ registration: { enabled: true, shared_secret: SECRET }, password_policy: { scrypt_cost: 1024 } });
  const a = await sharedSecretRegister(hs, SECRET, "root", "root-pass", true);
  admin = { token: a.access_token, userId: a.user_id, deviceId: a.device_id };
  alice = await newUser(hs, "alice");
  bob = await newUser(hs, "bob");
  roomA = await createRoom(hs, alice, { preset: "public_chat", name: "Apples", room_alias_name: "apples", topic: "fruit" });
  await join(hs, bob, roomA);
  roomB = await createRoom(hs, alice, { preset: "private_chat", name: "Bananas" });
  for (let i = 0; i < 5; i++) await send(hs, alice, roomA, `hello ${i}`);
});
afterAll(() => hs?.close());

describe("admin rooms: only admins", () => {
  it("refuses non-admins with 403 M_FORBIDDEN and unauthenticated requests with 401", async () => {
    for (const [method, path] of [
      ["GET", "/v1/rooms"],
      ["GET", `/v1/rooms/${enc(roomA)}`],
      ["GET", `/v1/rooms/${enc(roomA)}/members`],
      ["GET", `/v1/rooms/${enc(roomA)}/state`],
      ["GET", `/v1/rooms/${enc(roomA)}/messages`],
      ["PUT", `/v1/rooms/${enc(roomA)}/block`],
      ["DELETE", `/v2/rooms/${enc(roomA)}`],
      ["POST", `/v1/rooms/${enc(roomA)}/make_room_admin`],
      ["GET", `/v1/rooms/${enc(roomA)}/forward_extremities`],
      ["DELETE", `/v1/rooms/${enc(roomA)}/forward_extremities`],
      ["GET", `/v1/rooms/${enc(roomA)}/block`],
      ["GET", `/v1/rooms/${enc(roomA)}/context/${enc("$x")}`],
      ["GET", `/v2/rooms/${enc(roomA)}/delete_status`],
      ["GET", "/v2/rooms/delete_status/x"],
      ["DELETE", `/v1/rooms/${enc(roomA)}`],
      ["POST", `/v1/purge_history/${enc(roomA)}`],
      ["GET", "/v1/purge_history_status/x"],
    ] as const) {
      const r = await adm(method, path, bob.token, method === "GET" ? undefined : { block: true });
      expect(r.status, `${method} ${path}`).toBe(403);
      expect(r.json.errcode).toBe("M_FORBIDDEN");
    }
    const anon = await hs.request<J>("GET", "/_synapse/admin/v1/rooms");
    expect(anon.status).toBe(401);
    expect(anon.json.errcode).toBe("M_MISSING_TOKEN");
    // Nothing was blocked or deleted by the refused requests.
    expect((await adm("GET", `/v1/rooms/${enc(roomA)}/block`, admin.token)).json).toEqual({ block: false });
    expect((await adm("GET", `/v1/rooms/${enc(roomA)}`, admin.token)).status).toBe(200);
  });
});

describe("GET /v1/rooms", () => {
  it("lists rooms with Synapse's fields, ordered and paged", async () => {
    const r = await adm("GET", "/v1/rooms?order_by=name", admin.token);
    expect(r.status).toBe(200);
    expect(r.json.total_rooms).toBe(2);
    expect(r.json.offset).toBe(0);
    const names = r.json.rooms.map((x: J) => x.name);
    expect(names).toEqual(["Apples", "Bananas"]);
    const a = r.json.rooms[0];
    expect(a).toMatchObject({
      room_id: roomA,
      canonical_alias: "#apples:localhost",
      joined_members: 2,
      joined_local_members: 2,
      version: expect.any(String),
      creator: alice.userId,
      public: false,
      join_rules: "public",
      history_visibility: "shared",
      federatable: true,
      encryption: null,
    });
    expect(a.state_events).toBeGreaterThanOrEqual(6);

    const desc = await adm("GET", "/v1/rooms?order_by=name&dir=b", admin.token);
    expect(desc.json.rooms.map((x: J) => x.name)).toEqual(["Bananas", "Apples"]);
    const bySize = await adm("GET", "/v1/rooms?order_by=joined_members", admin.token);
    expect(bySize.json.rooms[0].room_id).toBe(roomA);

    const page1 = await adm("GET", "/v1/rooms?limit=1", admin.token);
    expect(page1.json.rooms).toHaveLength(1);
    expect(page1.json.next_batch).toBe(1);
    const page2 = await adm("GET", `/v1/rooms?limit=1&from=${page1.json.next_batch}`, admin.token);
    expect(page2.json.rooms).toHaveLength(1);
    expect(page2.json.next_batch).toBeUndefined();
    expect(page2.json.prev_batch).toBe(0);
    expect(page2.json.rooms[0].room_id).not.toBe(page1.json.rooms[0].room_id);

    const search = await adm("GET", "/v1/rooms?search_term=banan", admin.token);
    expect(search.json.rooms.map((x: J) => x.room_id)).toEqual([roomB]);
    expect(search.json.total_rooms).toBe(1);
  });

  it("rejects bad query parameters with 400", async () => {
    const bad = await adm("GET", "/v1/rooms?order_by=colour", admin.token);
    expect(bad.status).toBe(400);
    expect(bad.json.errcode).toBe("M_INVALID_PARAM");
    const neg = await adm("GET", "/v1/rooms?limit=-1", admin.token);
    expect(neg.status).toBe(400);
  });
});

describe("room details, members, state, messages, context", () => {
  it("answers details and 404 M_NOT_FOUND for an unknown room", async () => {
    const r = await adm("GET", `/v1/rooms/${enc(roomA)}`, admin.token);
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ room_id: roomA, name: "Apples", topic: "fruit", avatar: null, joined_members: 2, forgotten: false });
    expect(r.json.joined_local_devices).toBe(2);
    const missing = await adm("GET", `/v1/rooms/${enc("!nope:localhost")}`, admin.token);
    expect(missing.status).toBe(404);
    expect(missing.json.errcode).toBe("M_NOT_FOUND");
  });

  it("lists members and the current state", async () => {
    const m = await adm("GET", `/v1/rooms/${enc(roomA)}/members`, admin.token);
    expect(m.json).toEqual({ members: [alice.userId, bob.userId].sort(), total: 2 });
    const s = await adm("GET", `/v1/rooms/${enc(roomA)}/state`, admin.token);
    const types = s.json.state.map((e: J) => e.type);
    expect(types).toContain("m.room.create");
    expect(types).toContain("m.room.power_levels");
    expect(s.json.state.find((e: J) => e.type === "m.room.name").content).toEqual({ name: "Apples" });
    expect((await adm("GET", `/v1/rooms/${enc("!nope:localhost")}/members`, admin.token)).status).toBe(404);
  });

  it("pages messages without being a member, both directions, with a type filter", async () => {
    const back = await adm("GET", `/v1/rooms/${enc(roomA)}/messages?dir=b&limit=3`, admin.token);
    expect(back.status).toBe(200);
    expect(back.json.chunk.map((e: J) => e.content.body)).toEqual(["hello 4", "hello 3", "hello 2"]);
    expect(typeof back.json.end).toBe("string");
    const more = await adm("GET", `/v1/rooms/${enc(roomA)}/messages?dir=b&limit=2&from=${enc(back.json.end)}`, admin.token);
    expect(more.json.chunk.map((e: J) => e.content.body)).toEqual(["hello 1", "hello 0"]);
    const fwd = await adm("GET", `/v1/rooms/${enc(roomA)}/messages?dir=f&limit=100&filter=${enc(JSON.stringify({ types: ["m.room.message"] }))}`, admin.token);
    expect(fwd.json.chunk.map((e: J) => e.content.body)).toEqual(["hello 0", "hello 1", "hello 2", "hello 3", "hello 4"]);
    const bad = await adm("GET", `/v1/rooms/${enc(roomA)}/messages?from=garbage`, admin.token);
    expect(bad.status).toBe(400);
    expect(bad.json.errcode).toBe("M_INVALID_PARAM");
  });

  it("answers an event's context", async () => {
    const back = await adm("GET", `/v1/rooms/${enc(roomA)}/messages?dir=b&limit=5`, admin.token);
    const middle = back.json.chunk[2];
    const c = await adm("GET", `/v1/rooms/${enc(roomA)}/context/${enc(middle.event_id)}?limit=2`, admin.token);
    expect(c.status).toBe(200);
    expect(c.json.event.event_id).toBe(middle.event_id);
    expect(c.json.events_before[0].content.body).toBe("hello 1");
    expect(c.json.events_after[0].content.body).toBe("hello 3");
    expect(c.json.state.length).toBeGreaterThan(3);
    const missing = await adm("GET", `/v1/rooms/${enc(roomA)}/context/${enc("$nope")}`, admin.token);
    expect(missing.status).toBe(404);
    expect(missing.json.errcode).toBe("M_NOT_FOUND");
  });

  it("lists forward extremities and keeps the one left", async () => {
    const f = await adm("GET", `/v1/rooms/${enc(roomA)}/forward_extremities`, admin.token);
    expect(f.json.count).toBe(1);
    expect(f.json.results[0]).toMatchObject({ event_id: expect.stringMatching(/^\$/), depth: expect.any(Number), state_group: expect.any(Number) });
    const d = await adm("DELETE", `/v1/rooms/${enc(roomA)}/forward_extremities`, admin.token);
    expect(d.json).toEqual({ deleted: 0 });
    expect((await adm("GET", `/v1/rooms/${enc(roomA)}/forward_extremities`, admin.token)).json.count).toBe(1);
  });
});

describe("block and make room admin", () => {
  it("blocks a room so local users can no longer join it, and unblocks it", async () => {
    const carol = await newUser(hs, "carol");
    const bad = await adm("PUT", `/v1/rooms/${enc(roomA)}/block`, admin.token, { block: "yes" });
    expect(bad.status).toBe(400);
    expect(bad.json.errcode).toBe("M_BAD_JSON");
    expect((await adm("GET", `/v1/rooms/${enc(roomA)}/block`, admin.token)).json).toEqual({ block: false });
    const b = await adm("PUT", `/v1/rooms/${enc(roomA)}/block`, admin.token, { block: true });
    expect(b.json).toEqual({ block: true });
    expect((await adm("GET", `/v1/rooms/${enc(roomA)}/block`, admin.token)).json).toEqual({ block: true, user_id: admin.userId });
    const refused = await api(hs, "POST", `/join/${enc(roomA)}`, carol.token, {});
    expect(refused.status).toBe(403);
    expect(refused.json.errcode).toBe("M_FORBIDDEN");
    await adm("PUT", `/v1/rooms/${enc(roomA)}/block`, admin.token, { block: false });
    await join(hs, carol, roomA);
  });

  it("makes a user room admin of a private room they were not in", async () => {
    const r = await adm("POST", `/v1/rooms/${enc(roomB)}/make_room_admin`, admin.token, { user_id: bob.userId });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    const pl = await api(hs, "GET", `/rooms/${enc(roomB)}/state/m.room.power_levels/`, bob.token);
    expect(pl.status).toBe(200);
    expect(pl.json.users[bob.userId]).toBe(100);
    const members = await adm("GET", `/v1/rooms/${enc(roomB)}/members`, admin.token);
    expect(members.json.members).toContain(bob.userId);
    const remote = await adm("POST", `/v1/rooms/${enc(roomB)}/make_room_admin`, admin.token, { user_id: "@x:elsewhere" });
    expect(remote.status).toBe(400);
    const unknown = await adm("POST", `/v1/rooms/${enc("!nope:localhost")}/make_room_admin`, admin.token, {});
    expect(unknown.status).toBe(404);
  });
});

describe("delete room v2 and v1", () => {
  it("validates first and changes nothing on bad input", async () => {
    const bad = await adm("DELETE", `/v2/rooms/${enc(roomA)}`, admin.token, { purge: "no" });
    expect(bad.status).toBe(400);
    expect(bad.json.errcode).toBe("M_BAD_JSON");
    const remoteUser = await adm("DELETE", `/v2/rooms/${enc(roomA)}`, admin.token, { new_room_user_id: "@x:elsewhere" });
    expect(remoteUser.status).toBe(400);
    const unknown = await adm("DELETE", `/v2/rooms/${enc("!nope:localhost")}`, admin.token, {});
    expect(unknown.status).toBe(404);
    expect(unknown.json.errcode).toBe("M_NOT_FOUND");
    expect((await adm("GET", `/v1/rooms/${enc(roomA)}`, admin.token)).status).toBe(200);
    const noStatus = await adm("GET", `/v2/rooms/${enc(roomA)}/delete_status`, admin.token);
    expect(noStatus.status).toBe(404);
    expect((await adm("GET", "/v2/rooms/delete_status/nope", admin.token)).status).toBe(404);
  });

  it("shuts a room down, moves members to a new room, purges it and reports the status", async () => {
    const doomed = await createRoom(hs, alice, { preset: "public_chat", name: "Doomed", room_alias_name: "doomed" });
    await join(hs, bob, doomed);
    const secret = await send(hs, alice, doomed, "evidence");
    const before = await sync(hs, bob);

    const del = await adm("DELETE", `/v2/rooms/${enc(doomed)}`, admin.token, {
      new_room_user_id: admin.userId,
      room_name: "Moved",
      message: "This room was shut down",
      block: true,
      purge: true,
    });
    expect(del.status, JSON.stringify(del.json)).toBe(200);
    expect(typeof del.json.delete_id).toBe("string");
    const done = await waitForDeletion(del.json.delete_id, admin.token);
    expect(done.status).toBe("complete");
    expect(done.shutdown_room.kicked_users.sort()).toEqual([alice.userId, bob.userId].sort());
    expect(done.shutdown_room.failed_to_kick_users).toEqual([]);
    expect(done.shutdown_room.local_aliases).toEqual(["#doomed:localhost"]);
    const newRoom = done.shutdown_room.new_room_id as string;
    expect(newRoom).toMatch(/^!/);

    const byRoom = await adm("GET", `/v2/rooms/${enc(doomed)}/delete_status`, admin.token);
    expect(byRoom.json.results).toHaveLength(1);
    expect(byRoom.json.results[0]).toMatchObject({ delete_id: del.json.delete_id, status: "complete" });

    // Purged: the room, its events and its state are gone; it is blocked; the alias moved.
    expect((await adm("GET", `/v1/rooms/${enc(doomed)}`, admin.token)).status).toBe(404);
    expect((await adm("GET", "/v1/rooms", admin.token)).json.rooms.map((r: J) => r.room_id)).not.toContain(doomed);
    expect((await api(hs, "GET", `/rooms/${enc(doomed)}/event/${enc(secret)}`, alice.token)).status).not.toBe(200);
    expect((await adm("GET", `/v1/rooms/${enc(doomed)}/block`, admin.token)).json.block).toBe(true);
    expect((await api(hs, "POST", `/join/${enc(doomed)}`, bob.token, {})).status).toBe(403);
    const alias = await api(hs, "GET", `/directory/room/${enc("#doomed:localhost")}`, bob.token);
    expect(alias.json.room_id).toBe(newRoom);
    const rows = await hs.server.sql.query<{ n: number }>(
      "SELECT (SELECT count(*) FROM events WHERE room_id = $1) + (SELECT count(*) FROM current_state WHERE room_id = $1) + (SELECT count(*) FROM room_memberships WHERE room_id = $1) + (SELECT count(*) FROM state_groups WHERE room_id = $1) AS n",
      [doomed],
    );
    expect(Number(rows[0]!.n)).toBe(0);
    // Nothing keyed by the room is left anywhere but in the admin's own records and reports.
    const tables = await hs.server.sql.query<{ table_name: string }>(
      "SELECT table_name FROM information_schema.columns WHERE table_schema = current_schema() AND column_name = 'room_id'",
    );
    const leftovers: string[] = [];
    for (const { table_name } of tables) {
      const [c] = await hs.server.sql.query<{ n: number }>(`SELECT count(*)::int8 AS n FROM "${table_name}" WHERE room_id = $1`, [doomed]);
      if (Number(c!.n) > 0) leftovers.push(table_name);
    }
    expect(leftovers.sort()).toEqual(["admin_room_deletions", "blocked_rooms"]);

    // Members now sit in the new room, which carries the message; the old room is gone from their rooms.
    const joined = await api(hs, "GET", "/joined_rooms", bob.token);
    expect(joined.json.joined_rooms).toContain(newRoom);
    expect(joined.json.joined_rooms).not.toContain(doomed);
    const msgs = await api(hs, "GET", `/rooms/${enc(newRoom)}/messages?dir=b&limit=10`, bob.token);
    expect(msgs.json.chunk.some((e: J) => e.content?.body === "This room was shut down")).toBe(true);
    const after = await sync(hs, bob, { since: before.next_batch as string });
    expect(after.rooms?.join?.[doomed]).toBeUndefined();
  });

  it("deletes synchronously on v1 without purge, keeping the events", async () => {
    const room = await createRoom(hs, alice, { preset: "private_chat", name: "Quiet" });
    const before = await sync(hs, alice);
    const r = await adm("DELETE", `/v1/rooms/${enc(room)}`, admin.token, { purge: false });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    expect(r.json).toEqual({ kicked_users: [alice.userId], failed_to_kick_users: [], local_aliases: [], new_room_id: null });
    const details = await adm("GET", `/v1/rooms/${enc(room)}`, admin.token);
    expect(details.status).toBe(200);
    expect(details.json.joined_members).toBe(0);
    // The member's client learns that it left.
    const after = await sync(hs, alice, { since: before.next_batch as string });
    expect(Object.keys(after.rooms?.leave ?? {})).toContain(room);
  });
});
