import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { computeEventId, encodeBase64, getRoomVersion, hashAndSign, signingKeyFromSeed, signJson } from "../src/core/index.js";
import { eventFromTemplate } from "../src/federation/membership/handshake.js";
import {
  coreKey,
  eventually,
  fedRequest,
  makeTestCertificate,
  removeTestCertificate,
  signedFedRequest,
  startPair,
  type TlsFiles,
} from "./federation-helpers.js";
import type { TestServer } from "./harness.js";
import { api, createRoom, enc, newUser, send, sync, type J, type TestUser } from "./sync-helpers.js";

// Two instances of this server over TLS on loopback (A and B): membership across
// servers in both directions. Most checks look at what the handshakes themselves
// carry; events sent after a join reach the other server through the sender.

let tls: TlsFiles;
let a: TestServer;
let b: TestServer;
let nameA: string;
let nameB: string;
let alice: TestUser;
let bob: TestUser;

beforeAll(async () => {
  tls = makeTestCertificate();
  ({ a, b, nameA, nameB } = await startPair(tls));
  alice = await newUser(a, "alice");
  bob = await newUser(b, "bob");
}, 120_000);

afterAll(async () => {
  await a?.close();
  await b?.close();
  removeTestCertificate(tls);
});

/** Members (user -> membership) of a room as a server's client API shows them to `u`. */
async function members(hs: TestServer, u: TestUser, roomId: string): Promise<Record<string, string>> {
  const r = await api(hs, "GET", `/rooms/${enc(roomId)}/members`, u.token);
  expect(r.status, JSON.stringify(r.json)).toBe(200);
  const out: Record<string, string> = {};
  for (const e of r.json.chunk as J[]) out[e.state_key as string] = (e.content as J).membership as string;
  return out;
}

/** The current state's (type, state_key) -> event id as `u` sees it on `hs`. */
async function stateIds(hs: TestServer, u: TestUser, roomId: string): Promise<Record<string, string>> {
  const r = await api(hs, "GET", `/rooms/${enc(roomId)}/state`, u.token);
  expect(r.status, JSON.stringify(r.json)).toBe(200);
  const out: Record<string, string> = {};
  for (const e of r.json as unknown as J[]) out[`${e.type}|${e.state_key}`] = e.event_id as string;
  return out;
}

async function joinVia(hs: TestServer, u: TestUser, roomIdOrAlias: string, via: string[] = []): Promise<{ status: number; json: J }> {
  const q = via.map((v) => `via=${enc(v)}`).join("&");
  return api(hs, "POST", `/join/${enc(roomIdOrAlias)}${q ? `?${q}` : ""}`, u.token, {});
}

describe("Inviting a user of another server, who joins (invite v2, make_join, send_join)", () => {
  let roomId: string;

  it("A's invite reaches B: it shows in B's /sync with the room's stripped state", async () => {
    roomId = await createRoom(a, alice, { preset: "private_chat", name: "Across" });
    const inv = await api(a, "POST", `/rooms/${enc(roomId)}/invite`, alice.token, { user_id: bob.userId });
    expect(inv.status, JSON.stringify(inv.json)).toBe(200);
    // A stored the invite, with B's signature on it.
    expect((await members(a, alice, roomId))[bob.userId]).toBe("invite");
    const s = await sync(b, bob);
    const invited = s.rooms?.invite?.[roomId];
    expect(invited, JSON.stringify(s.rooms)).toBeDefined();
    const events = invited.invite_state.events as J[];
    expect(events.find((e) => e.type === "m.room.create")).toBeDefined();
    expect(events.find((e) => e.type === "m.room.name")?.content).toEqual({ name: "Across" });
    const own = events.find((e) => e.type === "m.room.member" && e.state_key === bob.userId);
    expect(own?.sender).toBe(alice.userId);
    expect(own?.content).toMatchObject({ membership: "invite" });
  });

  it("B joins; both servers agree on the members and the current state", async () => {
    const since = (await sync(b, bob)).next_batch as string;
    const r = await joinVia(b, bob, roomId);
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    expect(r.json.room_id).toBe(roomId);
    const s = await sync(b, bob, { since });
    const joined = s.rooms?.join?.[roomId];
    expect(joined, JSON.stringify(s.rooms)).toBeDefined();
    const timeline = joined.timeline.events as J[];
    expect(timeline.some((e) => e.type === "m.room.member" && e.state_key === bob.userId && (e.content as J).membership === "join")).toBe(true);
    expect(s.rooms?.invite?.[roomId]).toBeUndefined();
    const expected = { [alice.userId]: "join", [bob.userId]: "join" };
    expect(await members(a, alice, roomId)).toEqual(expected);
    expect(await members(b, bob, roomId)).toEqual(expected);
    expect(await stateIds(b, bob, roomId)).toEqual(await stateIds(a, alice, roomId));
  });

  it("after the join, A's messages are accepted on B onto the state the join brought", async () => {
    const eventId = await send(a, alice, roomId, "hello B");
    const got = await eventually(
      async () => {
        const r = await api(b, "GET", `/rooms/${enc(roomId)}/event/${enc(eventId)}`, bob.token);
        return r.status === 200 ? r.json : undefined;
      },
      15_000,
      "A's message on B",
    );
    expect((got.content as J).body).toBe("hello B");
  });

  it("B's user leaves the room B is now in", async () => {
    const since = (await sync(b, bob)).next_batch as string;
    const r = await api(b, "POST", `/rooms/${enc(roomId)}/leave`, bob.token, {});
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    const s = await sync(b, bob, { since });
    expect(s.rooms?.leave?.[roomId], JSON.stringify(s.rooms)).toBeDefined();
    expect((await members(b, bob, roomId))[bob.userId]).toBe("leave");
    // B's sender takes the leave to A, the other server in the room.
    await eventually(async () => ((await members(a, alice, roomId))[bob.userId] === "leave" ? true : undefined), 15_000, "the leave on A");
  });
});

describe("createRoom with an invitee on another server", () => {
  it("the room is created and the invite reaches the invitee's server", async () => {
    const roomId = await createRoom(a, alice, { preset: "trusted_private_chat", is_direct: true, invite: [bob.userId] });
    expect((await members(a, alice, roomId))[bob.userId]).toBe("invite");
    // B stored the invite before A's request returned; B's /sync shows it once B's stream has caught up.
    const own = await eventually(async () => {
      const s = await sync(b, bob);
      return (s.rooms?.invite?.[roomId]?.invite_state?.events as J[] | undefined)?.find((e) => e.type === "m.room.member" && e.state_key === bob.userId);
    }, 10_000, "the invite in B's /sync");
    expect(own.content).toMatchObject({ membership: "invite", is_direct: true });
  });
});

describe("Joining a public room of another server by alias (query/directory)", () => {
  it("B's user joins #alias:A and sees the room's state as A has it", async () => {
    const roomId = await createRoom(a, alice, { preset: "public_chat", room_alias_name: "lobby", name: "Lobby" });
    const r = await joinVia(b, bob, `#lobby:${nameA}`);
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    expect(r.json.room_id).toBe(roomId);
    expect(await members(b, bob, roomId)).toEqual({ [alice.userId]: "join", [bob.userId]: "join" });
    expect(await stateIds(b, bob, roomId)).toEqual(await stateIds(a, alice, roomId));
    const unknown = await joinVia(b, bob, `#nothing-here:${nameA}`);
    expect(unknown.status).toBe(404);
    expect(unknown.json.errcode).toBe("M_NOT_FOUND");
  });
});

describe("The resident's checks on make_join and send_join", () => {
  let roomId: string;
  const carol = () => `@carol:${nameB}`;

  beforeAll(async () => {
    roomId = await createRoom(a, alice, { preset: "public_chat", room_version: "11" });
  });

  const makeJoin = (userId: string, query: string) =>
    signedFedRequest(a, nameB, coreKey(b), nameA, "GET", `/_matrix/federation/v1/make_join/${enc(roomId)}/${enc(userId)}${query}`);

  it("make_join answers a template for the user, per the room version", async () => {
    const r = await makeJoin(carol(), "?ver=10&ver=11");
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    expect(r.json.room_version).toBe("11");
    const ev = r.json.event as J;
    expect(ev).toMatchObject({ type: "m.room.member", room_id: roomId, sender: carol(), state_key: carol(), content: { membership: "join" } });
    expect((ev.prev_events as unknown[]).length).toBeGreaterThan(0);
    expect((ev.auth_events as unknown[]).length).toBeGreaterThanOrEqual(3);
    expect(ev.signatures).toBeUndefined();
  });

  it("a room version missing from ver is M_INCOMPATIBLE_ROOM_VERSION (and ver defaults to [1])", async () => {
    for (const query of ["?ver=1&ver=2", ""]) {
      const r = await makeJoin(carol(), query);
      expect(r.status).toBe(400);
      expect(r.json.errcode).toBe("M_INCOMPATIBLE_ROOM_VERSION");
      expect(r.json.room_version).toBe("11");
    }
  });

  it("a banned user gets 403, a user of another server 403, an unknown room 404", async () => {
    const ban = await api(a, "POST", `/rooms/${enc(roomId)}/ban`, alice.token, { user_id: carol() });
    expect(ban.status, JSON.stringify(ban.json)).toBe(200);
    const banned = await makeJoin(carol(), "?ver=11");
    expect(banned.status).toBe(403);
    expect(banned.json.errcode).toBe("M_FORBIDDEN");
    const foreign = await makeJoin(`@dave:${nameA}`, "?ver=11");
    expect(foreign.status).toBe(403);
    const unknown = await signedFedRequest(
      a,
      nameB,
      coreKey(b),
      nameA,
      "GET",
      `/_matrix/federation/v1/make_join/${enc(`!nope:${nameA}`)}/${enc(carol())}?ver=11`,
    );
    expect(unknown.status).toBe(404);
    expect(unknown.json.errcode).toBe("M_NOT_FOUND");
  });

  it("send_join refuses an event that is not the named join and changes nothing", async () => {
    const t = await makeJoin(`@erin:${nameB}`, "?ver=11");
    expect(t.status).toBe(200);
    const before = await stateIds(a, alice, roomId);
    const bad = await signedFedRequest(
      a,
      nameB,
      coreKey(b),
      nameA,
      "PUT",
      `/_matrix/federation/v2/send_join/${enc(roomId)}/${enc("$notit")}`,
      t.json.event as J,
    );
    expect(bad.status).toBe(400);
    const wrongType = await signedFedRequest(a, nameB, coreKey(b), nameA, "PUT", `/_matrix/federation/v2/send_join/${enc(roomId)}/${enc("$x")}`, {
      ...(t.json.event as J),
      type: "m.room.message",
    });
    expect(wrongType.status).toBe(400);
    expect(wrongType.json.errcode).toBe("M_INVALID_PARAM");
    const notObject = await signedFedRequest(a, nameB, coreKey(b), nameA, "PUT", `/_matrix/federation/v2/send_join/${enc(roomId)}/${enc("$x")}`, {
      pdus: 3,
    } as J);
    expect(notObject.status).toBe(400);
    expect(await stateIds(a, alice, roomId)).toEqual(before);
  });
});

describe("Malformed membership requests never break the resident", () => {
  it("answers 4xx, never 500, and the room is unchanged", async () => {
    const roomId = await createRoom(a, alice, { preset: "public_chat" });
    const before = await stateIds(a, alice, roomId);
    const u = `@gina:${nameB}`;
    const t = await signedFedRequest(a, nameB, coreKey(b), nameA, "GET", `/_matrix/federation/v1/make_join/${enc(roomId)}/${enc(u)}?ver=11`);
    const ev = t.json.event as J;
    const bodies: J[] = [
      {},
      { ...ev, depth: Number.MAX_SAFE_INTEGER },
      { ...ev, depth: -1 },
      { ...ev, content: "join" },
      { ...ev, prev_events: "x" },
      { ...ev, auth_events: [1, 2, 3] },
      { ...ev, sender: 12 },
      { ...ev, room_id: `!other:${nameA}` },
      { ...ev, hashes: { sha256: "bad" }, signatures: { [nameB]: { "ed25519:x": "bad" } } },
    ];
    for (const [i, body] of bodies.entries()) {
      for (const [kind, version] of [
        ["send_join", "v2"],
        ["send_leave", "v2"],
        ["send_knock", "v1"],
      ] as const) {
        const r = await signedFedRequest(a, nameB, coreKey(b), nameA, "PUT", `/_matrix/federation/${version}/${kind}/${enc(roomId)}/${enc(`$bad${i}`)}`, body);
        expect(r.status, `${kind} body ${i}: ${JSON.stringify(r.json)}`).toBeGreaterThanOrEqual(400);
        expect(r.status, `${kind} body ${i}`).toBeLessThan(500);
      }
    }
    for (const path of [
      `/_matrix/federation/v1/make_join/${enc(roomId)}/${enc("not a user")}`,
      `/_matrix/federation/v1/make_join/${enc("not a room")}/${enc(u)}`,
      `/_matrix/federation/v1/make_leave/${enc(roomId)}/${enc(u)}`,
      `/_matrix/federation/v1/make_knock/${enc(roomId)}/${enc(u)}?ver=11`,
    ]) {
      const r = await signedFedRequest(a, nameB, coreKey(b), nameA, "GET", path);
      expect(r.status, `${path}: ${JSON.stringify(r.json)}`).toBeGreaterThanOrEqual(400);
      expect(r.status, path).toBeLessThan(500);
    }
    const unsigned = await fedRequest(a, "GET", `/_matrix/federation/v1/make_join/${enc(roomId)}/${enc(u)}?ver=11`);
    expect(unsigned.status).toBe(401);
    expect(await stateIds(a, alice, roomId)).toEqual(before);
  });
});

describe("Rooms of every version 1-12 can be joined across", () => {
  it("B's user joins a public room of each version on A; both agree on its state", async () => {
    for (let v = 1; v <= 12; v++) {
      const roomId = await createRoom(a, alice, { preset: "public_chat", room_version: String(v) });
      const r = await joinVia(b, bob, roomId, [nameA]);
      expect(r.status, `v${v}: ${JSON.stringify(r.json)}`).toBe(200);
      const stateA = await stateIds(a, alice, roomId);
      expect(stateA[`m.room.member|${bob.userId}`], `v${v}`).toBeDefined();
      expect(await stateIds(b, bob, roomId), `v${v}`).toEqual(stateA);
    }
  }, 120_000);
});

describe("Knocking on a room of another server (make_knock, send_knock)", () => {
  it("B's user knocks; the knock shows in B's /sync and in A's members", async () => {
    const roomId = await createRoom(a, alice, { preset: "private_chat", room_version: "11", name: "Knock here" });
    const jr = await api(a, "PUT", `/rooms/${enc(roomId)}/state/m.room.join_rules/`, alice.token, { join_rule: "knock" });
    expect(jr.status, JSON.stringify(jr.json)).toBe(200);
    const since = (await sync(b, bob)).next_batch as string;
    const r = await api(b, "POST", `/knock/${enc(roomId)}?via=${enc(nameA)}`, bob.token, { reason: "let me in" });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    expect((await members(a, alice, roomId))[bob.userId]).toBe("knock");
    const s = await sync(b, bob, { since });
    const knocked = s.rooms?.knock?.[roomId];
    expect(knocked, JSON.stringify(s.rooms)).toBeDefined();
    const events = knocked.knock_state.events as J[];
    expect(events.find((e) => e.type === "m.room.name")?.content).toEqual({ name: "Knock here" });
    expect(events.find((e) => e.type === "m.room.member" && e.state_key === bob.userId)?.content).toMatchObject({ membership: "knock" });
  });
});

describe("Retracting a knock on a room of another server", () => {
  it("the leave reaches the resident, also for a room id that names no server (v12)", async () => {
    const roomId = await createRoom(a, alice, { preset: "private_chat", room_version: "12" });
    expect((await api(a, "PUT", `/rooms/${enc(roomId)}/state/m.room.join_rules/`, alice.token, { join_rule: "knock" })).status).toBe(200);
    const k = await api(b, "POST", `/knock/${enc(roomId)}?via=${enc(nameA)}`, bob.token, {});
    expect(k.status, JSON.stringify(k.json)).toBe(200);
    expect((await members(a, alice, roomId))[bob.userId]).toBe("knock");
    const since = (await sync(b, bob)).next_batch as string;
    const r = await api(b, "POST", `/rooms/${enc(roomId)}/leave`, bob.token, {});
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    expect((await members(a, alice, roomId))[bob.userId]).toBe("leave");
    const s = await sync(b, bob, { since });
    expect(s.rooms?.knock?.[roomId]).toBeUndefined();
    expect(s.rooms?.leave?.[roomId], JSON.stringify(s.rooms)).toBeDefined();
  });
});

describe("Restricted rooms: joining through membership of a space", () => {
  it("B's user, joined to the space, joins the restricted room, authorised by A's user", async () => {
    const space = await createRoom(a, alice, { preset: "public_chat", creation_content: { type: "m.space" } });
    const restricted = await createRoom(a, alice, {
      preset: "private_chat",
      room_version: "10",
      initial_state: [
        { type: "m.room.join_rules", state_key: "", content: { join_rule: "restricted", allow: [{ type: "m.room_membership", room_id: space }] } },
      ],
    });
    const refused = await joinVia(b, bob, restricted, [nameA]);
    expect(refused.status, JSON.stringify(refused.json)).toBe(403);
    expect((await joinVia(b, bob, space, [nameA])).status).toBe(200);
    const r = await joinVia(b, bob, restricted, [nameA]);
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    const st = await api(a, "GET", `/rooms/${enc(restricted)}/state/m.room.member/${enc(bob.userId)}`, alice.token);
    expect(st.json).toMatchObject({ membership: "join", join_authorised_via_users_server: alice.userId });
    expect(await stateIds(b, bob, restricted)).toEqual(await stateIds(a, alice, restricted));
  });
});

describe("Third-party invites across servers (3pid/onbind on B, exchange_third_party_invite on A)", () => {
  it("a bound third-party invite to a room of A becomes an invite in B's /sync", async () => {
    const roomId = await createRoom(a, alice, { preset: "private_chat" });
    const idKey = signingKeyFromSeed(randomBytes(32), "0");
    const token = `tok${Date.now()}`;
    const put = await api(a, "PUT", `/rooms/${enc(roomId)}/state/m.room.third_party_invite/${token}`, alice.token, {
      display_name: "b...@example.org",
      key_validity_url: "https://id.test/_matrix/identity/v2/pubkey/isvalid",
      public_key: encodeBase64(idKey.publicKey),
    });
    expect(put.status, JSON.stringify(put.json)).toBe(200);
    const signed = signJson({ mxid: bob.userId, token }, "id.test", idKey);
    const since = (await sync(b, bob)).next_batch as string;
    const onbind = await fedRequest(b, "PUT", "/_matrix/federation/v1/3pid/onbind", {
      body: {
        medium: "email",
        address: "bob@example.org",
        mxid: bob.userId,
        invites: [{ medium: "email", address: "bob@example.org", mxid: bob.userId, room_id: roomId, sender: alice.userId, signed }],
      },
    });
    expect(onbind.status, JSON.stringify(onbind.json)).toBe(200);
    const m = await api(a, "GET", `/rooms/${enc(roomId)}/state/m.room.member/${enc(bob.userId)}`, alice.token);
    expect(m.json).toMatchObject({ membership: "invite", third_party_invite: { signed: { token } } });
    const s = await sync(b, bob, { since });
    expect(s.rooms?.invite?.[roomId], JSON.stringify(s.rooms)).toBeDefined();
    // A forged signature is refused by A's auth rules.
    const forged = signJson({ mxid: `@other:${nameB}`, token }, "id.test", signingKeyFromSeed(randomBytes(32), "0"));
    const x = await signedFedRequest(a, nameB, coreKey(b), nameA, "PUT", `/_matrix/federation/v1/exchange_third_party_invite/${enc(roomId)}`, {
      type: "m.room.member",
      room_id: roomId,
      sender: alice.userId,
      state_key: `@other:${nameB}`,
      content: { membership: "invite", third_party_invite: { display_name: "x", signed: forged } },
    });
    expect(x.status).toBe(403);
  });
});

describe("Invites from another server: the receiver's checks (PUT /v2/invite)", () => {
  const put = (roomId: string, eventId: string, body: J) =>
    signedFedRequest(b, nameA, coreKey(a), nameB, "PUT", `/_matrix/federation/v2/invite/${enc(roomId)}/${enc(eventId)}`, body);

  it("refuses unknown room versions, non-invites and users of other servers, and stores nothing", async () => {
    const roomId = `!x${Date.now()}:${nameA}`;
    const ev = (over: J) => ({
      type: "m.room.member",
      room_id: roomId,
      sender: alice.userId,
      state_key: bob.userId,
      content: { membership: "invite" },
      ...over,
    });
    const unknown = await put(roomId, "$e", { room_version: "99", event: ev({}) });
    expect(unknown.status).toBe(400);
    expect(unknown.json.errcode).toBe("M_INCOMPATIBLE_ROOM_VERSION");
    expect(unknown.json.room_version).toBe("99");
    const join = await put(roomId, "$e", { room_version: "11", event: ev({ content: { membership: "join" } }) });
    expect(join.status).toBe(400);
    expect(join.json.errcode).toBe("M_INVALID_PARAM");
    const foreign = await put(roomId, "$e", { room_version: "11", event: ev({ state_key: `@zed:${nameA}` }) });
    expect(foreign.status).toBe(400);
    const spoofed = await put(roomId, "$e", { room_version: "11", event: ev({ sender: `@mallory:${nameB}` }) });
    expect(spoofed.status).toBe(400);
    const noEvent = await put(roomId, "$e", { room_version: "11" });
    expect(noEvent.status).toBe(400);
    expect((await sync(b, bob)).rooms?.invite?.[roomId]).toBeUndefined();
  });
});

describe("send_join with omit_members (partial state)", () => {
  it("answers the state without members, the auth chain, and the servers in the room", async () => {
    const roomId = await createRoom(a, alice, { preset: "public_chat", name: "Partial" });
    const userId = `@frank:${nameB}`;
    const t = await signedFedRequest(a, nameB, coreKey(b), nameA, "GET", `/_matrix/federation/v1/make_join/${enc(roomId)}/${enc(userId)}?ver=11`);
    expect(t.status, JSON.stringify(t.json)).toBe(200);
    const rv = getRoomVersion("11")!;
    const pdu = hashAndSign(eventFromTemplate(t.json.event as J, rv, { serverName: nameB, now: Date.now(), eventIdLocalpart: "x" }), nameB, coreKey(b), rv);
    const eventId = computeEventId(pdu, rv);
    const r = await signedFedRequest(
      a,
      nameB,
      coreKey(b),
      nameA,
      "PUT",
      `/_matrix/federation/v2/send_join/${enc(roomId)}/${enc(eventId)}?omit_members=true`,
      pdu as J,
    );
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    expect(r.json.members_omitted).toBe(true);
    expect(r.json.servers_in_room).toEqual([nameA]);
    const state = r.json.state as J[];
    expect(state.some((e) => e.type === "m.room.create")).toBe(true);
    expect(state.some((e) => e.type === "m.room.name")).toBe(true);
    // The room is named: no hero member events are needed.
    expect(state.filter((e) => e.type === "m.room.member")).toEqual([]);
    // The join's auth chain holds alice's join, which the state left out.
    expect((r.json.auth_chain as J[]).some((e) => e.type === "m.room.member" && e.state_key === alice.userId)).toBe(true);
    expect((await members(a, alice, roomId))[userId]).toBe("join");
    // The deprecated v1 form answers [200, {state, auth_chain}] for the same join (a retry).
    const v1 = await signedFedRequest(a, nameB, coreKey(b), nameA, "PUT", `/_matrix/federation/v1/send_join/${enc(roomId)}/${enc(eventId)}`, pdu as J);
    expect(v1.status).toBe(200);
    const [code, body] = v1.json as unknown as [number, J];
    expect(code).toBe(200);
    expect((body.state as J[]).some((e) => e.type === "m.room.create")).toBe(true);
    expect(Array.isArray(body.auth_chain)).toBe(true);
    // The same join again is answered the same way (a retry).
    const again = await signedFedRequest(a, nameB, coreKey(b), nameA, "PUT", `/_matrix/federation/v2/send_join/${enc(roomId)}/${enc(eventId)}`, pdu as J);
    expect(again.status).toBe(200);
    expect((again.json.state as J[]).some((e) => e.type === "m.room.member" && e.state_key === alice.userId)).toBe(true);
  });
});

describe("Rejecting an invite to a room of another server (make_leave, send_leave)", () => {
  it("with A up, the rejection reaches A and the invite leaves B's /sync", async () => {
    const roomId = await createRoom(a, alice, { preset: "private_chat" });
    expect((await api(a, "POST", `/rooms/${enc(roomId)}/invite`, alice.token, { user_id: bob.userId })).status).toBe(200);
    const since = (await sync(b, bob)).next_batch as string;
    const r = await api(b, "POST", `/rooms/${enc(roomId)}/leave`, bob.token, {});
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    expect((await members(a, alice, roomId))[bob.userId]).toBe("leave");
    const s = await sync(b, bob, { since });
    expect(s.rooms?.invite?.[roomId]).toBeUndefined();
    expect(s.rooms?.leave?.[roomId], JSON.stringify(s.rooms)).toBeDefined();
    expect((await sync(b, bob)).rooms?.invite?.[roomId]).toBeUndefined();
  });

  it("with A stopped, the rejection still succeeds on B and the invite disappears", async () => {
    const roomId = await createRoom(a, alice, { preset: "private_chat" });
    expect((await api(a, "POST", `/rooms/${enc(roomId)}/invite`, alice.token, { user_id: bob.userId })).status).toBe(200);
    const first = await sync(b, bob);
    expect(first.rooms?.invite?.[roomId]).toBeDefined();
    await a.stop();
    const r = await api(b, "POST", `/rooms/${enc(roomId)}/leave`, bob.token, {});
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    const s = await sync(b, bob, { since: first.next_batch as string });
    expect(s.rooms?.invite?.[roomId]).toBeUndefined();
    expect(s.rooms?.leave?.[roomId]).toBeDefined();
    const full = await eventually(async () => {
      const x = await sync(b, bob);
      return x.rooms?.invite?.[roomId] === undefined ? x : undefined;
    });
    expect(full.rooms?.invite?.[roomId]).toBeUndefined();
  }, 60_000);
});
