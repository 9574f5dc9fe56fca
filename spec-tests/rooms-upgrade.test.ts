import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type J, registerSession, type Session } from "./accounts-helpers.js";
import { startTestServer, type TestServer } from "./harness.js";

let hs: TestServer;
type U = Session;
let alice: U;
let bob: U;
let carol: U;

const enc = encodeURIComponent;

const user = (name: string): Promise<U> => registerSession(hs, name);

const v3 = <T = J>(method: string, path: string, token: string | undefined, body?: unknown) =>
  hs.request<T>(method, `/_matrix/client/v3${path}`, { token, body });
const state = (u: U, roomId: string, type: string) => v3("GET", `/rooms/${enc(roomId)}/state/${type}`, u.token);

async function createRoom(u: U, body: J): Promise<string> {
  const r = await v3("POST", "/createRoom", u.token, body);
  expect(r.status, JSON.stringify(r.json)).toBe(200);
  return r.json.room_id as string;
}

beforeAll(async () => {
  hs = await startTestServer({ registration: { enabled: true }, password_policy: { scrypt_cost: 1024 } });
  [alice, bob, carol] = await Promise.all([user("alice"), user("bob"), user("carol")]);
}, 60_000);
afterAll(() => hs?.close());

describe("POST /rooms/{roomId}/upgrade", () => {
  it("upgrades a v10 room to v11: predecessor, copied state, moved alias, tombstone, restricted old room", async () => {
    const old = await createRoom(alice, {
      room_version: "10",
      preset: "public_chat",
      visibility: "public",
      name: "Old",
      topic: "Topic",
      room_alias_name: "upgrade-me",
      power_level_content_override: { users: { [alice.userId]: 100, [bob.userId]: 60 } },
      initial_state: [{ type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } }],
      creation_content: { type: "org.example.kind" },
    });
    expect((await v3("POST", `/join/${enc(old)}`, bob.token, {})).status).toBe(200);
    const r = await v3("POST", `/rooms/${enc(old)}/upgrade`, alice.token, { new_version: "11" });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    const next = r.json.replacement_room as string;
    expect(next).toMatch(/^!/);

    const create = await v3("GET", `/rooms/${enc(next)}/state/m.room.create/?format=event`, alice.token);
    expect(create.json.content).toMatchObject({ room_version: "11", type: "org.example.kind", predecessor: { room_id: old } });
    expect(create.json.content.predecessor.event_id).toMatch(/^\$/);
    expect(create.json.sender).toBe(alice.userId);
    expect((await state(alice, next, "m.room.name")).json).toEqual({ name: "Old" });
    expect((await state(alice, next, "m.room.topic")).json.topic).toBe("Topic");
    expect((await state(alice, next, "m.room.encryption")).json).toEqual({ algorithm: "m.megolm.v1.aes-sha2" });
    expect((await state(alice, next, "m.room.join_rules")).json).toEqual({ join_rule: "public" });
    const pl = (await state(alice, next, "m.room.power_levels")).json;
    expect(pl.users).toEqual({ [alice.userId]: 100, [bob.userId]: 60 });
    expect((await state(alice, next, "m.room.canonical_alias")).json).toEqual({ alias: `#upgrade-me:localhost` });
    const alias = await v3("GET", `/directory/room/${enc("#upgrade-me:localhost")}`, undefined);
    expect(alias.json.room_id).toBe(next);
    // Members are not transferred: bob has to join the new room himself.
    const members = await v3("GET", `/rooms/${enc(next)}/joined_members`, alice.token);
    expect(Object.keys(members.json.joined)).toEqual([alice.userId]);

    const tomb = (await state(bob, old, "m.room.tombstone")).json;
    expect(tomb).toMatchObject({ replacement_room: next });
    // "m.room.create": predecessor.event_id is the tombstone in the old room.
    const tombEvent = await v3("GET", `/rooms/${enc(old)}/state/m.room.tombstone/?format=event`, bob.token);
    expect(create.json.content.predecessor.event_id).toBe(tombEvent.json.event_id);
    expect(typeof tomb.body).toBe("string");
    const oldPl = (await state(bob, old, "m.room.power_levels")).json;
    expect(oldPl.events_default).toBe(50);
    expect(oldPl.invite).toBe(50);
    // bob (60) may still talk; a new member at 0 may not.
    expect((await v3("POST", `/join/${enc(old)}`, carol.token, {})).status).toBe(200);
    const refused = await v3("PUT", `/rooms/${enc(old)}/send/m.room.message/x1`, carol.token, { msgtype: "m.text", body: "hi" });
    expect(refused.status).toBe(403);
    expect(refused.json.errcode).toBe("M_FORBIDDEN");
    // The new room took the old room's place in the published directory.
    const pub = await hs.request("GET", "/_matrix/client/v3/publicRooms");
    const ids = (pub.json.chunk as J[]).map((c) => c.room_id);
    expect(ids).toContain(next);
    expect(ids).not.toContain(old);
  });

  it("upgrades to v12: no predecessor event_id, creators out of the power levels users map", async () => {
    const old = await createRoom(alice, { room_version: "11", preset: "private_chat", name: "To twelve" });
    const r = await v3("POST", `/rooms/${enc(old)}/upgrade`, alice.token, { new_version: "12", additional_creators: [bob.userId] });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    const next = r.json.replacement_room as string;
    const create = await v3("GET", `/rooms/${enc(next)}/state/m.room.create/?format=event`, alice.token);
    expect(create.json.content.predecessor).toEqual({ room_id: old });
    expect(create.json.content.additional_creators).toEqual([bob.userId]);
    expect(create.json.content).not.toHaveProperty("creator");
    const pl = (await state(alice, next, "m.room.power_levels")).json;
    expect(pl.users[alice.userId]).toBeUndefined();
    expect((await state(alice, next, "m.room.name")).json).toEqual({ name: "To twelve" });
  });

  it("refuses unknown versions, non-members and users without tombstone power", async () => {
    const room = await createRoom(alice, { room_version: "10", preset: "public_chat" });
    const bad = await v3("POST", `/rooms/${enc(room)}/upgrade`, alice.token, { new_version: "999" });
    expect(bad.status).toBe(400);
    expect(bad.json.errcode).toBe("M_UNSUPPORTED_ROOM_VERSION");
    const missing = await v3("POST", `/rooms/${enc(room)}/upgrade`, alice.token, {});
    expect(missing.status).toBe(400);
    expect(missing.json.errcode).toBe("M_BAD_JSON");
    const outsider = await v3("POST", `/rooms/${enc(room)}/upgrade`, carol.token, { new_version: "11" });
    expect(outsider.status).toBe(403);
    expect(outsider.json.errcode).toBe("M_FORBIDDEN");
    expect((await v3("POST", `/join/${enc(room)}`, bob.token, {})).status).toBe(200);
    const weak = await v3("POST", `/rooms/${enc(room)}/upgrade`, bob.token, { new_version: "11" });
    expect(weak.status).toBe(403);
    expect(weak.json.errcode).toBe("M_FORBIDDEN");
    // Nothing changed: no tombstone.
    const tomb = await state(alice, room, "m.room.tombstone");
    expect(tomb.status).toBe(404);
  });
});

describe("upgrade carry-over", () => {
  it("copies bans and m.federate, carries tags and m.direct over to the new room on join", async () => {
    const old = await createRoom(alice, { room_version: "10", preset: "public_chat", creation_content: { "m.federate": false } });
    for (const u of [bob, carol]) expect((await v3("POST", `/join/${enc(old)}`, u.token, {})).status).toBe(200);
    expect((await v3("POST", `/rooms/${enc(old)}/ban`, alice.token, { user_id: carol.userId, reason: "rude" })).status).toBe(200);
    expect((await v3("PUT", `/user/${enc(bob.userId)}/rooms/${enc(old)}/tags/u.work`, bob.token, { order: 0.25 })).status).toBe(200);
    expect((await v3("PUT", `/user/${enc(bob.userId)}/account_data/m.direct`, bob.token, { [alice.userId]: [old] })).status).toBe(200);

    const r = await v3("POST", `/rooms/${enc(old)}/upgrade`, alice.token, { new_version: "11" });
    expect(r.status).toBe(200);
    const next = r.json.replacement_room as string;
    const create = await v3("GET", `/rooms/${enc(next)}/state/m.room.create`, alice.token);
    expect(create.json["m.federate"]).toBe(false);
    const ban = await state(alice, next, `m.room.member/${enc(carol.userId)}`);
    expect(ban.json).toMatchObject({ membership: "ban", reason: "rude" });
    const refused = await v3("POST", `/join/${enc(next)}`, carol.token, {});
    expect(refused.status).toBe(403);

    expect((await v3("POST", `/join/${enc(next)}`, bob.token, {})).status).toBe(200);
    // The carry-over runs right after the join is persisted.
    let tags: J = {};
    let direct: J = {};
    for (let i = 0; i < 50; i++) {
      tags = (await v3("GET", `/user/${enc(bob.userId)}/rooms/${enc(next)}/tags`, bob.token)).json;
      direct = (await v3("GET", `/user/${enc(bob.userId)}/account_data/m.direct`, bob.token)).json;
      if (tags.tags?.["u.work"] && direct[alice.userId]?.length === 2) break;
      await new Promise((res) => setTimeout(res, 20));
    }
    expect(tags.tags).toEqual({ "u.work": { order: 0.25 } });
    expect(direct[alice.userId]).toEqual([old, next]);
  });

  it("refuses a tombstone that points to its own room", async () => {
    const room = await createRoom(alice, { preset: "private_chat" });
    const r = await v3("PUT", `/rooms/${enc(room)}/state/m.room.tombstone`, alice.token, { body: "x", replacement_room: room });
    expect(r.status).toBe(400);
    expect(r.json.errcode).toBe("M_BAD_JSON");
  });
});

describe("GET /_matrix/client/v1/room_summary", () => {
  it("summarises a public room by alias, without a token", async () => {
    const roomId = await createRoom(alice, { preset: "public_chat", name: "Summary", topic: "About", room_alias_name: "summary" });
    const r = await hs.request("GET", `/_matrix/client/v1/room_summary/${enc("#summary:localhost")}`);
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({
      room_id: roomId,
      name: "Summary",
      topic: "About",
      canonical_alias: "#summary:localhost",
      join_rule: "public",
      num_joined_members: 1,
      world_readable: false,
      guest_can_join: false,
      room_version: expect.any(String),
    });
    expect(r.json).not.toHaveProperty("membership");
    const mine = await hs.request("GET", `/_matrix/client/v1/room_summary/${enc(roomId)}`, { token: alice.token });
    expect(mine.json.membership).toBe("join");
    const sdkPath = await hs.request<J>("GET", `/_matrix/client/unstable/im.nheko.summary/summary/${enc(roomId)}`, { token: alice.token });
    expect(sdkPath.json).toMatchObject({ room_id: roomId, name: "Summary" });
  });

  it("hides private rooms from outsiders (404 M_NOT_FOUND) but shows them to invitees", async () => {
    const roomId = await createRoom(alice, { preset: "private_chat", name: "Secret", invite: [bob.userId] });
    const anon = await hs.request("GET", `/_matrix/client/v1/room_summary/${enc(roomId)}`);
    expect(anon.status).toBe(404);
    expect(anon.json.errcode).toBe("M_NOT_FOUND");
    const outsider = await hs.request("GET", `/_matrix/client/v1/room_summary/${enc(roomId)}`, { token: carol.token });
    expect(outsider.status).toBe(404);
    const invited = await hs.request("GET", `/_matrix/client/v1/room_summary/${enc(roomId)}`, { token: bob.token });
    expect(invited.status).toBe(200);
    expect(invited.json).toMatchObject({ name: "Secret", membership: "invite", join_rule: "invite" });
    const unknown = await hs.request("GET", `/_matrix/client/v1/room_summary/${enc("#nope:localhost")}`);
    expect(unknown.status).toBe(404);
    expect(unknown.json.errcode).toBe("M_NOT_FOUND");
  });
});

describe("GET /_matrix/client/v1/rooms/{roomId}/hierarchy", () => {
  it("walks m.space.child depth-first in the spec's order, hiding rooms the user may not see", async () => {
    const space = await createRoom(alice, { preset: "public_chat", name: "Space", creation_content: { type: "m.space" } });
    const a = await createRoom(alice, { preset: "public_chat", name: "A" });
    const hidden = await createRoom(alice, { preset: "private_chat", name: "Hidden" });
    const c = await createRoom(alice, { preset: "public_chat", name: "C" });
    const sub = await createRoom(alice, { preset: "public_chat", name: "Sub", creation_content: { type: "m.space" } });
    const e = await createRoom(alice, { preset: "public_chat", name: "E" });
    const child = (parent: string, childId: string, extra: J = {}) =>
      v3("PUT", `/rooms/${enc(parent)}/state/m.space.child/${enc(childId)}`, alice.token, { via: ["localhost"], ...extra });
    await child(space, a, { order: "b", suggested: true });
    await child(space, hidden);
    await child(space, c, { order: "a" });
    await child(space, sub);
    await child(sub, e);
    // A child without via is not a child.
    await v3("PUT", `/rooms/${enc(space)}/state/m.space.child/${enc("!gone:localhost")}`, alice.token, {});

    const h = (q = "") => hs.request<J>("GET", `/_matrix/client/v1/rooms/${enc(space)}/hierarchy${q}`, { token: bob.token });
    const names = (r: { json: J }) => (r.json.rooms as J[]).map((x) => x.name);
    const all = await h();
    expect(all.status).toBe(200);
    expect(names(all)).toEqual(["Space", "C", "A", "Sub", "E"]);
    const root = (all.json.rooms as J[])[0]!;
    expect(root.room_type).toBe("m.space");
    expect((root.children_state as J[]).map((x) => x.state_key).sort()).toEqual([a, hidden, c, sub].sort());
    expect(root.children_state[0]).toMatchObject({ type: "m.space.child", sender: alice.userId, origin_server_ts: expect.any(Number) });
    // The owner sees the private room too.
    const mine = await hs.request("GET", `/_matrix/client/v1/rooms/${enc(space)}/hierarchy`, { token: alice.token });
    expect(names(mine)).toEqual(["Space", "C", "A", "Hidden", "Sub", "E"]);

    const p1 = await h("?limit=2");
    expect(names(p1)).toEqual(["Space", "C"]);
    const p2 = await h(`?limit=2&from=${enc(p1.json.next_batch)}`);
    expect(names(p2)).toEqual(["A", "Sub"]);
    const p3 = await h(`?limit=2&from=${enc(p2.json.next_batch)}`);
    expect(names(p3)).toEqual(["E"]);
    expect(p3.json.next_batch).toBeUndefined();
    expect(names(await h("?max_depth=1"))).toEqual(["Space", "C", "A", "Sub"]);
    expect(names(await h("?suggested_only=true"))).toEqual(["Space", "A"]);

    const closed = await hs.request("GET", `/_matrix/client/v1/rooms/${enc(hidden)}/hierarchy`, { token: bob.token });
    expect(closed.status).toBe(403);
    expect(closed.json.errcode).toBe("M_FORBIDDEN");
    const bad = await h("?from=nonsense");
    expect(bad.status).toBe(400);
    expect(bad.json.errcode).toBe("M_INVALID_PARAM");
  });
});
