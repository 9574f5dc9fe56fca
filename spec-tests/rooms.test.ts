import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  checkAuthAgainstAuthEvents,
  checkContentHash,
  computeEventId,
  getRoomVersion,
  signingKeyFromSeed,
  toRoomEvent,
  verifyEventSignatures,
  verifyKeyOf,
  type Pdu,
  type RoomEvent,
} from "../src/core/index.js";
import { registerUser, type J } from "./accounts-helpers.js";
import { startTestServer, type TestServer } from "./harness.js";

let hs: TestServer;
let alice: { token: string; userId: string };
let bob: { token: string; userId: string };
let carol: { token: string; userId: string };

const enc = encodeURIComponent;

async function user(name: string) {
  const r = await registerUser(hs, name);
  return { token: r.access_token as string, userId: r.user_id as string };
}

beforeAll(async () => {
  hs = await startTestServer({ registration: { enabled: true }, password_policy: { scrypt_cost: 1024 } });
  alice = await user("alice");
  bob = await user("bob");
  carol = await user("carol");
}, 60_000);
afterAll(() => hs?.close());

const req = <T = J>(method: string, path: string, token: string, body?: unknown) =>
  hs.request<T>(method, `/_matrix/client/v3${path}`, { token, body });

async function createRoom(token: string, body: J = {}): Promise<string> {
  const r = await req("POST", "/createRoom", token, body);
  expect(r.status, JSON.stringify(r.json)).toBe(200);
  return r.json.room_id as string;
}

async function send(token: string, roomId: string, body: string, txn = `${Math.random()}`): Promise<string> {
  const r = await req("PUT", `/rooms/${enc(roomId)}/send/m.room.message/${txn}`, token, { msgtype: "m.text", body });
  expect(r.status, JSON.stringify(r.json)).toBe(200);
  return r.json.event_id as string;
}

describe("room creation", () => {
  it("creates a room with name, topic and alias and serves its state", async () => {
    const roomId = await createRoom(alice.token, { preset: "public_chat", name: "Pub", topic: "Drinks", room_alias_name: "pub" });
    const state = await req<J[]>("GET", `/rooms/${enc(roomId)}/state`, alice.token);
    expect(state.status).toBe(200);
    const types = state.json.map((e) => e.type).sort();
    expect(types).toEqual(
      ["m.room.canonical_alias", "m.room.create", "m.room.guest_access", "m.room.history_visibility", "m.room.join_rules", "m.room.member", "m.room.name", "m.room.power_levels", "m.room.topic"].sort(),
    );
    for (const e of state.json) {
      expect(e).not.toHaveProperty("hashes");
      expect(e).not.toHaveProperty("signatures");
      expect(e).not.toHaveProperty("auth_events");
      expect(e).not.toHaveProperty("depth");
    }
    const name = await req("GET", `/rooms/${enc(roomId)}/state/m.room.name`, alice.token);
    expect(name.json).toEqual({ name: "Pub" });
    const full = await req("GET", `/rooms/${enc(roomId)}/state/m.room.name/?format=event`, alice.token);
    expect(full.json).toMatchObject({ type: "m.room.name", state_key: "", content: { name: "Pub" }, room_id: roomId });
    const alias = await hs.request("GET", `/_matrix/client/v3/directory/room/${enc("#pub:localhost")}`);
    expect(alias.json).toEqual({ room_id: roomId, servers: ["localhost"] });
    const pl = await req("GET", `/rooms/${enc(roomId)}/state/m.room.power_levels`, alice.token);
    expect(pl.json.users).toEqual({ [alice.userId]: 100 });
  });

  it("refuses an unknown room version with 400 M_UNSUPPORTED_ROOM_VERSION", async () => {
    const r = await req("POST", "/createRoom", alice.token, { room_version: "999" });
    expect(r.status).toBe(400);
    expect(r.json.errcode).toBe("M_UNSUPPORTED_ROOM_VERSION");
  });

  it("refuses a taken alias with 400 M_ROOM_IN_USE", async () => {
    await createRoom(alice.token, { room_alias_name: "taken" });
    const r = await req("POST", "/createRoom", bob.token, { room_alias_name: "taken" });
    expect(r.status).toBe(400);
    expect(r.json.errcode).toBe("M_ROOM_IN_USE");
  });

  it("creates v12 rooms whose creator is not in the power levels' users", async () => {
    const roomId = await createRoom(alice.token, { room_version: "12", invite: [bob.userId], preset: "trusted_private_chat" });
    expect(roomId).toMatch(/^![A-Za-z0-9_-]{43}$/);
    const create = await req("GET", `/rooms/${enc(roomId)}/state/m.room.create`, alice.token);
    expect(create.json).toMatchObject({ room_version: "12", additional_creators: [bob.userId] });
    const pl = await req("GET", `/rooms/${enc(roomId)}/state/m.room.power_levels`, alice.token);
    expect(pl.json.users).toEqual({});
    expect(pl.json.events["m.room.tombstone"]).toBe(150);
  });
});

describe("sending and refusals", () => {
  let roomId: string;
  beforeAll(async () => {
    roomId = await createRoom(alice.token, { preset: "public_chat" });
  });

  it("refuses a non-member's message with 403 M_FORBIDDEN", async () => {
    const r = await req("PUT", `/rooms/${enc(roomId)}/send/m.room.message/x1`, bob.token, { body: "hi", msgtype: "m.text" });
    expect(r.status).toBe(403);
    expect(r.json.errcode).toBe("M_FORBIDDEN");
  });

  it("is idempotent per transaction id and reports it to the sending device", async () => {
    const a = await send(alice.token, roomId, "once", "txn-1");
    const b = await send(alice.token, roomId, "twice", "txn-1");
    expect(b).toBe(a);
    const ev = await req("GET", `/rooms/${enc(roomId)}/event/${enc(a)}`, alice.token);
    expect(ev.json).toMatchObject({ event_id: a, content: { body: "once" }, unsigned: { transaction_id: "txn-1" } });
    expect(typeof ev.json.unsigned.age).toBe("number");
  });

  it("refuses events over 64 KiB with 413 M_TOO_LARGE", async () => {
    const r = await req("PUT", `/rooms/${enc(roomId)}/send/m.room.message/big`, alice.token, { body: "x".repeat(70_000) });
    expect(r.status).toBe(413);
    expect(r.json.errcode).toBe("M_TOO_LARGE");
  });

  it("refuses power-level escalation with 403", async () => {
    expect((await req("POST", `/join/${enc(roomId)}`, bob.token, {})).status).toBe(200);
    const r = await req("PUT", `/rooms/${enc(roomId)}/state/m.room.power_levels`, bob.token, { users: { [bob.userId]: 100, [alice.userId]: 100 } });
    expect(r.status).toBe(403);
    expect(r.json.errcode).toBe("M_FORBIDDEN");
  });

  it("refuses redaction of others' events by a non-moderator, allows it for a moderator", async () => {
    const target = await send(alice.token, roomId, "secret");
    const denied = await req("PUT", `/rooms/${enc(roomId)}/redact/${enc(target)}/r1`, bob.token, { reason: "no" });
    expect(denied.status).toBe(403);
    expect(denied.json.errcode).toBe("M_FORBIDDEN");
    const own = await send(bob.token, roomId, "mine");
    expect((await req("PUT", `/rooms/${enc(roomId)}/redact/${enc(own)}/r2`, bob.token, {})).status).toBe(200);
    const ok = await req("PUT", `/rooms/${enc(roomId)}/redact/${enc(target)}/r3`, alice.token, { reason: "oops" });
    expect(ok.status).toBe(200);
    const ev = await req("GET", `/rooms/${enc(roomId)}/event/${enc(target)}`, alice.token);
    expect(ev.json.content).toEqual({});
    expect(ev.json.unsigned.redacted_because).toMatchObject({ event_id: ok.json.event_id, type: "m.room.redaction", redacts: target });
  });

  it("refuses a banned user's rejoin with 403 and lets them back after unban", async () => {
    expect((await req("POST", `/join/${enc(roomId)}`, carol.token, {})).status).toBe(200);
    expect((await req("POST", `/rooms/${enc(roomId)}/ban`, alice.token, { user_id: carol.userId, reason: "spam" })).status).toBe(200);
    const r = await req("POST", `/join/${enc(roomId)}`, carol.token, {});
    expect(r.status).toBe(403);
    expect(r.json.errcode).toBe("M_FORBIDDEN");
    expect((await req("POST", `/rooms/${enc(roomId)}/unban`, alice.token, { user_id: carol.userId })).status).toBe(200);
    expect((await req("POST", `/join/${enc(roomId)}`, carol.token, {})).status).toBe(200);
    const joined = await req("GET", `/rooms/${enc(roomId)}/joined_members`, alice.token);
    expect(Object.keys(joined.json.joined).sort()).toEqual([alice.userId, bob.userId, carol.userId].sort());
    const kicked = await req("POST", `/rooms/${enc(roomId)}/kick`, bob.token, { user_id: carol.userId });
    expect(kicked.status).toBe(403);
  });
});

describe("membership", () => {
  it("invites, joins by alias, leaves and forgets", async () => {
    const roomId = await createRoom(alice.token, { room_alias_name: "private-place" });
    expect((await req("POST", `/join/${enc("#private-place:localhost")}`, bob.token, {})).status).toBe(403);
    expect((await req("POST", `/rooms/${enc(roomId)}/invite`, alice.token, { user_id: bob.userId })).status).toBe(200);
    const members = await req("GET", `/rooms/${enc(roomId)}/members?membership=invite`, alice.token);
    expect(members.json.chunk.map((e: J) => e.state_key)).toEqual([bob.userId]);
    const joined = await req("POST", `/join/${enc("#private-place:localhost")}`, bob.token, {});
    expect(joined.json).toEqual({ room_id: roomId });
    expect((await req("GET", "/joined_rooms", bob.token)).json.joined_rooms).toContain(roomId);
    expect((await req("POST", `/rooms/${enc(roomId)}/forget`, bob.token, {})).status).toBe(400);
    expect((await req("POST", `/rooms/${enc(roomId)}/leave`, bob.token, {})).status).toBe(200);
    expect((await req("GET", "/joined_rooms", bob.token)).json.joined_rooms).not.toContain(roomId);
    expect((await req("POST", `/rooms/${enc(roomId)}/forget`, bob.token, {})).status).toBe(200);
    const notJoined = await req("GET", `/rooms/${enc(roomId)}/members?not_membership=leave`, alice.token);
    expect(notJoined.json.chunk.map((e: J) => e.state_key)).toEqual([alice.userId]);
  });

  it("lets users join restricted rooms through membership of an allowed room", async () => {
    const space = await createRoom(alice.token, { preset: "public_chat" });
    const restricted = await createRoom(alice.token, {
      room_version: "10",
      initial_state: [{ type: "m.room.join_rules", content: { join_rule: "restricted", allow: [{ type: "m.room_membership", room_id: space }] } }],
    });
    expect((await req("POST", `/join/${enc(restricted)}`, carol.token, {})).status).toBe(403);
    expect((await req("POST", `/join/${enc(space)}`, carol.token, {})).status).toBe(200);
    expect((await req("POST", `/join/${enc(restricted)}`, carol.token, {})).status).toBe(200);
    const m = await req("GET", `/rooms/${enc(restricted)}/state/m.room.member/${enc(carol.userId)}`, carol.token);
    expect(m.json).toMatchObject({ membership: "join", join_authorised_via_users_server: alice.userId });
  });

  it("lets users knock on knockable rooms", async () => {
    const roomId = await createRoom(alice.token, { initial_state: [{ type: "m.room.join_rules", content: { join_rule: "knock" } }] });
    const r = await req("POST", `/knock/${enc(roomId)}`, bob.token, { reason: "let me in" });
    expect(r.status).toBe(200);
    const members = await req("GET", `/rooms/${enc(roomId)}/members?membership=knock`, alice.token);
    expect(members.json.chunk[0]).toMatchObject({ state_key: bob.userId, content: { membership: "knock", reason: "let me in" } });
  });
});

describe("reading history", () => {
  it("pages 200 quickly sent messages in order with no duplicates and no gaps", async () => {
    const roomId = await createRoom(alice.token, { preset: "private_chat" });
    const sent: string[] = new Array(200);
    for (let batch = 0; batch < 10; batch++) {
      await Promise.all(
        Array.from({ length: 20 }, async (_, i) => {
          const n = batch * 20 + i;
          sent[n] = `${n}`;
          await send(alice.token, roomId, `${n}`, `m${n}`);
        }),
      );
    }
    const seen: J[] = [];
    let from: string | undefined;
    for (let page = 0; page < 50; page++) {
      const q = new URLSearchParams({ dir: "b", limit: "30", filter: JSON.stringify({ types: ["m.room.message"] }) });
      if (from) q.set("from", from);
      const r = await req("GET", `/rooms/${enc(roomId)}/messages?${q}`, alice.token);
      expect(r.status).toBe(200);
      seen.push(...r.json.chunk);
      if (!r.json.end) break;
      from = r.json.end;
    }
    const ids = seen.map((e) => e.event_id);
    expect(new Set(ids).size).toBe(200);
    const tsOrder = seen.map((e) => e.origin_server_ts as number);
    expect(tsOrder).toEqual([...tsOrder].sort((a, b) => b - a));
    // Forward from the start gives the same events in the opposite order.
    const fwd = await req("GET", `/rooms/${enc(roomId)}/messages?dir=f&limit=1000`, alice.token);
    const fwdIds = (fwd.json.chunk as J[]).filter((e) => e.type === "m.room.message").map((e) => e.event_id);
    expect(fwdIds).toEqual([...ids].reverse());
    expect((fwd.json.chunk as J[])[0]!.type).toBe("m.room.create");
    // Batches were concurrent, so only the set of bodies is fixed; every batch precedes the next.
    const bodies = [...seen].reverse().map((e) => Number(e.content.body));
    expect([...bodies].sort((a, b) => a - b)).toEqual(sent.map(Number));
    for (let b = 0; b < 10; b++) expect(bodies.slice(b * 20, b * 20 + 20).every((n) => Math.floor(n / 20) === b)).toBe(true);
  });

  it("serves context and lazy-loaded members", async () => {
    const roomId = await createRoom(alice.token, { preset: "public_chat" });
    await req("POST", `/join/${enc(roomId)}`, bob.token, {});
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) ids.push(await send(i % 2 ? bob.token : alice.token, roomId, `c${i}`));
    const ctx = await req("GET", `/rooms/${enc(roomId)}/context/${enc(ids[3]!)}?limit=4`, alice.token);
    expect(ctx.status).toBe(200);
    expect(ctx.json.event.event_id).toBe(ids[3]);
    expect(ctx.json.events_before.map((e: J) => e.event_id)).toEqual([ids[2], ids[1]]);
    expect(ctx.json.events_after.map((e: J) => e.event_id)).toEqual([ids[4], ids[5]]);
    const more = await req("GET", `/rooms/${enc(roomId)}/messages?dir=b&from=${enc(ctx.json.start)}&limit=1`, alice.token);
    expect(more.json.chunk[0].event_id).toBe(ids[0]);
    const filter = JSON.stringify({ lazy_load_members: true, types: ["m.room.message"] });
    const lazy = await req("GET", `/rooms/${enc(roomId)}/messages?dir=b&limit=2&filter=${enc(filter)}`, alice.token);
    expect(lazy.json.state.map((e: J) => e.state_key).sort()).toEqual([alice.userId, bob.userId].sort());
  });

  it("enforces history visibility on every read path", async () => {
    const roomId = await createRoom(alice.token, {
      preset: "public_chat",
      initial_state: [{ type: "m.room.history_visibility", content: { history_visibility: "joined" } }],
    });
    const before = await send(alice.token, roomId, "before carol");
    expect((await req("GET", `/rooms/${enc(roomId)}/messages?dir=b`, carol.token)).status).toBe(403);
    expect((await req("GET", `/rooms/${enc(roomId)}/state`, carol.token)).status).toBe(403);
    await req("POST", `/join/${enc(roomId)}`, carol.token, {});
    const after = await send(alice.token, roomId, "after carol");
    const msgs = await req("GET", `/rooms/${enc(roomId)}/messages?dir=b&limit=50`, carol.token);
    const seen = msgs.json.chunk.map((e: J) => e.event_id);
    expect(seen).toContain(after);
    expect(seen).not.toContain(before);
    expect((await req("GET", `/rooms/${enc(roomId)}/event/${enc(before)}`, carol.token)).status).toBe(404);
    expect((await req("GET", `/rooms/${enc(roomId)}/context/${enc(before)}`, carol.token)).status).toBe(404);

    const open = await createRoom(alice.token, {
      preset: "public_chat",
      initial_state: [{ type: "m.room.history_visibility", content: { history_visibility: "world_readable" } }],
    });
    const msg = await send(alice.token, open, "for everyone");
    const peek = await req("GET", `/rooms/${enc(open)}/messages?dir=b`, bob.token);
    expect(peek.status).toBe(200);
    expect(peek.json.chunk.map((e: J) => e.event_id)).toContain(msg);
  });
});

describe("profiles in membership events", () => {
  it("joins carry the profile and profile changes reach joined rooms", async () => {
    const roomId = await createRoom(alice.token, { preset: "public_chat" });
    expect((await req("PUT", `/profile/${enc(bob.userId)}/displayname`, bob.token, { displayname: "Bobby" })).status).toBe(200);
    await req("POST", `/join/${enc(roomId)}`, bob.token, {});
    const m1 = await req("GET", `/rooms/${enc(roomId)}/state/m.room.member/${enc(bob.userId)}`, alice.token);
    expect(m1.json).toMatchObject({ membership: "join", displayname: "Bobby" });
    expect((await req("PUT", `/profile/${enc(bob.userId)}/displayname`, bob.token, { displayname: "Robert" })).status).toBe(200);
    const m2 = await req("GET", `/rooms/${enc(roomId)}/state/m.room.member/${enc(bob.userId)}?format=event`, alice.token);
    expect(m2.json).toMatchObject({ content: { membership: "join", displayname: "Robert" }, unsigned: { prev_content: { displayname: "Bobby" } } });
    const joined = await req("GET", `/rooms/${enc(roomId)}/joined_members`, alice.token);
    expect(joined.json.joined[bob.userId]).toEqual({ display_name: "Robert" });
  });
});

describe("directory", () => {
  it("manages aliases, directory visibility and public rooms", async () => {
    const roomId = await createRoom(alice.token, { visibility: "public", name: "Findable lounge", preset: "public_chat" });
    expect((await req("PUT", `/directory/room/${enc("#lounge:localhost")}`, alice.token, { room_id: roomId })).status).toBe(200);
    const dup = await req("PUT", `/directory/room/${enc("#lounge:localhost")}`, alice.token, { room_id: roomId });
    expect(dup.status).toBe(409);
    expect((await req("GET", `/rooms/${enc(roomId)}/aliases`, alice.token)).json.aliases).toEqual(["#lounge:localhost"]);
    expect((await req("DELETE", `/directory/room/${enc("#lounge:localhost")}`, bob.token)).status).toBe(403);
    expect((await req("DELETE", `/directory/room/${enc("#lounge:localhost")}`, alice.token)).status).toBe(200);
    expect((await hs.request("GET", `/_matrix/client/v3/directory/room/${enc("#lounge:localhost")}`)).status).toBe(404);

    expect((await hs.request("GET", `/_matrix/client/v3/directory/list/room/${enc(roomId)}`)).json).toEqual({ visibility: "public" });
    const search = await req("POST", "/publicRooms", bob.token, { filter: { generic_search_term: "findable" } });
    expect(search.json.chunk).toEqual([expect.objectContaining({ room_id: roomId, name: "Findable lounge", num_joined_members: 1, join_rule: "public" })]);
    expect((await req("PUT", `/directory/list/room/${enc(roomId)}`, bob.token, { visibility: "private" })).status).toBe(403);
    expect((await req("PUT", `/directory/list/room/${enc(roomId)}`, alice.token, { visibility: "private" })).status).toBe(200);
    const after = await hs.request<J>("GET", "/_matrix/client/v3/publicRooms");
    expect(after.json.chunk.map((r: J) => r.room_id)).not.toContain(roomId);
  });
});

describe("stored events", () => {
  it("every stored event has a valid id, hash, signature and passes auth against its auth events", async () => {
    const sql = hs.server.sql;
    const key = hs.server.signingKey;
    const verifyKey = verifyKeyOf(signingKeyFromSeed(key.seed, key.keyId.split(":")[1]!));
    const rows = await sql.query<{ event_id: string; room_id: string; pdu: string; room_version: string }>(
      "SELECT e.event_id, e.room_id, e.pdu, r.room_version FROM events e JOIN rooms r USING (room_id) ORDER BY stream_ordering",
    );
    expect(rows.length).toBeGreaterThan(300);
    const byId = new Map<string, RoomEvent>();
    for (const row of rows) {
      const rv = getRoomVersion(row.room_version)!;
      const pdu = JSON.parse(row.pdu) as Pdu;
      expect(computeEventId(pdu, rv)).toBe(row.event_id);
      expect(checkContentHash(pdu, rv)).toBe(true);
      const sig = verifyEventSignatures(pdu, rv, (s, k) => (s === "localhost" && k === key.keyId ? verifyKey : undefined));
      expect(sig).toEqual({ ok: true });
      const ev = toRoomEvent(pdu, row.event_id, rv);
      byId.set(row.event_id, ev);
      const authEvents = ev.authEvents.map((id) => byId.get(id)!);
      const create = rv.roomIdIsCreateEventHash ? byId.get(`$${row.room_id.slice(1)}`) : undefined;
      const res = checkAuthAgainstAuthEvents(ev, authEvents, rv, create ? { createEvent: create } : {});
      expect(res, `${ev.type} in ${row.room_id}`).toMatchObject({ allowed: true });
    }
  });
});
