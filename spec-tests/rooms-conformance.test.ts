import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type J, registerSession, type Session } from "./accounts-helpers.js";
import type { TestServer } from "./harness.js";
import { enc, startConformanceServer } from "./sync-helpers.js";

// Exact room behaviour that clients and conformance suites check.
let hs: TestServer;
let alice: Session;
let bob: Session;

const v3 = <T = J>(method: string, path: string, token: string | undefined, body?: unknown) =>
  hs.request<T>(method, `/_matrix/client/v3${path}`, { token, body });

async function createRoom(u: Session, body: J = {}): Promise<string> {
  const r = await v3("POST", "/createRoom", u.token, body);
  expect(r.status, JSON.stringify(r.json)).toBe(200);
  return r.json.room_id as string;
}

async function say(u: Session, roomId: string, body: string, txn = `t${Math.random()}`): Promise<string> {
  const r = await v3("PUT", `/rooms/${enc(roomId)}/send/m.room.message/${txn}`, u.token, { msgtype: "m.text", body });
  expect(r.status).toBe(200);
  return r.json.event_id as string;
}

beforeAll(async () => {
  hs = await startConformanceServer();
  [alice, bob] = await Promise.all([registerSession(hs, "alice"), registerSession(hs, "bob")]);
}, 60_000);
afterAll(() => hs?.close());

describe("room state", () => {
  it("m.room.create names the creator in room versions before 11, not from 11 on", async () => {
    for (const [version, hasCreator] of [
      ["1", true],
      ["10", true],
      ["11", false],
    ] as const) {
      const room = await createRoom(alice, { room_version: version });
      const c = await v3("GET", `/rooms/${enc(room)}/state/m.room.create`, alice.token);
      expect(c.json.room_version).toBe(version);
      if (hasCreator) expect(c.json.creator, version).toBe(alice.userId);
      else expect(c.json.creator, version).toBeUndefined();
    }
  });

  it("/joined_members shows display_name and avatar_url from the member events", async () => {
    await v3("PUT", `/profile/${enc(alice.userId)}/displayname`, alice.token, { displayname: "Display Name" });
    await v3("PUT", `/profile/${enc(alice.userId)}/avatar_url`, alice.token, { avatar_url: "http://example.com/avatar.png" });
    const room = await createRoom(alice, { preset: "public_chat" });
    await v3("POST", `/join/${enc(room)}`, bob.token, {});
    const r = await v3("GET", `/rooms/${enc(room)}/joined_members`, bob.token);
    expect(r.json.joined[alice.userId]).toEqual({ display_name: "Display Name", avatar_url: "http://example.com/avatar.png" });
    expect(Object.keys(r.json.joined).sort()).toEqual([alice.userId, bob.userId].sort());
  });
});

describe("aliases", () => {
  it("alt_aliases: an invalid alias is M_INVALID_PARAM, an unknown one M_BAD_ALIAS", async () => {
    const room = await createRoom(alice, { room_alias_name: "alts" });
    const ok = await v3("PUT", `/rooms/${enc(room)}/state/m.room.canonical_alias`, alice.token, { alias: "#alts:localhost", alt_aliases: ["#alts:localhost"] });
    expect(ok.status).toBe(200);
    const unknown = await v3("PUT", `/rooms/${enc(room)}/state/m.room.canonical_alias`, alice.token, {
      alias: "#alts:localhost",
      alt_aliases: ["#NOT-alts:localhost"],
    });
    expect([unknown.status, unknown.json.errcode]).toEqual([400, "M_BAD_ALIAS"]);
    const invalid = await v3("PUT", `/rooms/${enc(room)}/state/m.room.canonical_alias`, alice.token, {
      alias: "#alts:localhost",
      alt_aliases: ["%alts:localhost"],
    });
    expect([invalid.status, invalid.json.errcode]).toEqual([400, "M_INVALID_PARAM"]);
    const invalidMain = await v3("PUT", `/rooms/${enc(room)}/state/m.room.canonical_alias`, alice.token, { alias: "%alts:localhost" });
    expect([invalidMain.status, invalidMain.json.errcode]).toEqual([400, "M_INVALID_PARAM"]);
    const current = await v3("GET", `/rooms/${enc(room)}/state/m.room.canonical_alias`, alice.token);
    expect(current.json).toEqual({ alias: "#alts:localhost", alt_aliases: ["#alts:localhost"] });
  });

  it("deleting an alias takes it out of m.room.canonical_alias", async () => {
    const room = await createRoom(alice, { preset: "public_chat" });
    for (const a of ["#canon:localhost", "#second:localhost"]) {
      expect((await v3("PUT", `/directory/room/${enc(a)}`, alice.token, { room_id: room })).status).toBe(200);
    }
    await v3("PUT", `/rooms/${enc(room)}/state/m.room.canonical_alias`, alice.token, { alias: "#canon:localhost", alt_aliases: ["#second:localhost"] });
    expect((await v3("DELETE", `/directory/room/${enc("#canon:localhost")}`, alice.token)).status).toBe(200);
    let c = await v3("GET", `/rooms/${enc(room)}/state/m.room.canonical_alias`, alice.token);
    expect(c.json).toEqual({ alt_aliases: ["#second:localhost"] });
    expect((await v3("DELETE", `/directory/room/${enc("#second:localhost")}`, alice.token)).status).toBe(200);
    c = await v3("GET", `/rooms/${enc(room)}/state/m.room.canonical_alias`, alice.token);
    expect(c.json).toEqual({ alt_aliases: [] });

    // The alias's creator without power to change the event may still delete the alias.
    await v3("POST", `/join/${enc(room)}`, bob.token, {});
    expect((await v3("PUT", `/directory/room/${enc("#bobs:localhost")}`, bob.token, { room_id: room })).status).toBe(200);
    await v3("PUT", `/rooms/${enc(room)}/state/m.room.canonical_alias`, alice.token, { alias: "#bobs:localhost" });
    expect((await v3("DELETE", `/directory/room/${enc("#bobs:localhost")}`, bob.token)).status).toBe(200);
    expect((await v3("GET", `/directory/room/${enc("#bobs:localhost")}`, bob.token)).status).toBe(404);
  });
});

describe("/messages", () => {
  it("pages from a /sync next_batch with `end` on every page that returned events", async () => {
    const room = await createRoom(alice);
    for (let i = 1; i <= 12; i++) await say(alice, room, `Message number ${i}`, `p${i}`);
    const s = await v3("GET", `/sync?filter=${enc(JSON.stringify({ room: { timeline: { limit: 1 } } }))}`, alice.token);
    const from = s.json.next_batch as string;
    const first = await v3("GET", `/rooms/${enc(room)}/messages?dir=b&limit=5&from=${enc(from)}`, alice.token);
    expect(first.json.chunk.map((e: J) => e.content.body)).toEqual([12, 11, 10, 9, 8].map((n) => `Message number ${n}`));
    expect(typeof first.json.end).toBe("string");
    const second = await v3("GET", `/rooms/${enc(room)}/messages?dir=b&limit=5&from=${enc(first.json.end)}`, alice.token);
    expect(second.json.chunk.map((e: J) => e.content.body)).toEqual([7, 6, 5, 4, 3].map((n) => `Message number ${n}`));
    // Forwards to the live end: the last page still names where to continue.
    const fwd = await v3("GET", `/rooms/${enc(room)}/messages?dir=f&limit=50&from=${enc(second.json.end)}`, alice.token);
    expect(fwd.json.chunk.at(-1).content.body).toBe("Message number 12");
    expect(typeof fwd.json.end).toBe("string");
    await say(alice, room, "Message number 13", "p13");
    const more = await v3("GET", `/rooms/${enc(room)}/messages?dir=f&limit=50&from=${enc(fwd.json.end)}`, alice.token);
    expect(more.json.chunk.map((e: J) => e.content.body)).toEqual(["Message number 13"]);
    // Past the room's first event: an empty page and no `end`.
    let token: string | undefined = second.json.end;
    let last: J = {};
    for (let i = 0; i < 10 && token; i++) {
      last = (await v3("GET", `/rooms/${enc(room)}/messages?dir=b&limit=50&from=${enc(token)}`, alice.token)).json;
      token = last.end;
    }
    expect(token).toBeUndefined();
    expect(last.chunk).toEqual([]);
  });
});

describe("user directory", () => {
  const search = async (u: Session, term: string) =>
    ((await v3("POST", "/user_directory/search", u.token, { search_term: term })).json.results as J[]).map((r) => r.user_id as string);

  it("follows join rules and history visibility; a room shared with nobody finds no one", async () => {
    const dave = await registerSession(hs, "dave");
    await v3("PUT", `/profile/${enc(dave.userId)}/displayname`, dave.token, { displayname: "Dave Dirsearch" });
    const room = await createRoom(alice, { preset: "private_chat", invite: [dave.userId] });
    expect((await v3("POST", `/join/${enc(room)}`, dave.token, {})).status).toBe(200);
    expect(await search(dave, "Dirsearch")).not.toContain(dave.userId);
    expect(await search(alice, "Dirsearch")).toContain(dave.userId);
    expect(await search(bob, "Dirsearch")).not.toContain(dave.userId);

    for (const [type, open, closed] of [
      ["m.room.join_rules", { join_rule: "public" }, { join_rule: "invite" }],
      ["m.room.history_visibility", { history_visibility: "world_readable" }, { history_visibility: "shared" }],
    ] as const) {
      expect((await v3("PUT", `/rooms/${enc(room)}/state/${type}`, alice.token, open)).status).toBe(200);
      expect(await search(dave, "Dirsearch"), type).toContain(dave.userId);
      expect(await search(bob, "Dirsearch"), type).toContain(dave.userId);
      expect((await v3("PUT", `/rooms/${enc(room)}/state/${type}`, alice.token, closed)).status).toBe(200);
      expect(await search(dave, "Dirsearch"), type).not.toContain(dave.userId);
      expect(await search(bob, "Dirsearch"), type).not.toContain(dave.userId);
    }

    const lonely = await registerSession(hs, "lonely");
    await v3("PUT", `/profile/${enc(lonely.userId)}/displayname`, lonely.token, { displayname: "Lonely Dirsearch" });
    await createRoom(lonely, { preset: "private_chat" });
    expect(await search(bob, "Lonely")).not.toContain(lonely.userId);
    expect(await search(lonely, "Lonely")).not.toContain(lonely.userId);
  });
});

describe("erasure", () => {
  it("an erased user's events are redacted for those who were not joined when they were sent", async () => {
    const creator = await registerSession(hs, "eraseme");
    const member = await registerSession(hs, "member1");
    const joiner = await registerSession(hs, "joiner1");
    const room = await createRoom(creator, { preset: "public_chat" });
    await v3("POST", `/join/${enc(room)}`, member.token, {});
    const msg = await say(creator, room, "body1");
    await v3("POST", `/join/${enc(room)}`, joiner.token, {});
    expect((await v3("GET", `/rooms/${enc(room)}/event/${enc(msg)}`, joiner.token)).json.content.body).toBe("body1");
    const first = await v3("POST", "/account/deactivate", creator.token, { erase: true });
    const done = await v3("POST", "/account/deactivate", creator.token, {
      erase: true,
      auth: { type: "m.login.password", identifier: { type: "m.id.user", user: creator.userId }, password: "correct horse", session: first.json.session },
    });
    expect(done.status, JSON.stringify(done.json)).toBe(200);
    expect((await v3("GET", `/rooms/${enc(room)}/event/${enc(msg)}`, member.token)).json.content.body).toBe("body1");
    const forJoiner = await v3("GET", `/rooms/${enc(room)}/event/${enc(msg)}`, joiner.token);
    expect(forJoiner.json.type).toBe("m.room.message");
    expect(forJoiner.json.content).toEqual({});
    const page = await v3("GET", `/rooms/${enc(room)}/messages?dir=b&limit=20`, joiner.token);
    expect((page.json.chunk as J[]).find((e) => e.event_id === msg)!.content).toEqual({});
    const memberSync = await v3("GET", "/sync", member.token);
    expect((memberSync.json.rooms.join[room].timeline.events as J[]).find((e) => e.event_id === msg)?.content.body).toBe("body1");
  });
});
