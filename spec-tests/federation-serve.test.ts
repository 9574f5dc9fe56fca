import { readFileSync } from "node:fs";
import https from "node:https";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { computeEventId, getRoomVersion, redact, verifyJsonSignature, verifyKeyOf, type JsonObject, type Pdu } from "../src/core/index.js";
import { ownKeyResponse } from "../src/federation/server-keys.js";
import { TestServer as RemoteServer, type Built } from "../test/support/remote-server.js";
import { coreKey, freePort, makeTestCertificate, removeTestCertificate, signedFedRequest, startFederated, type TlsFiles } from "./federation-helpers.js";
import type { TestServer } from "./harness.js";
import { api, createRoom, enc, newUser, send, type J, type TestUser } from "./sync-helpers.js";

// One instance of this server (A) and two stand-ins for other servers, each
// with an HTTPS key server: P, whose user joins A's rooms, and Q, never in them.
// Both sign their requests with X-Matrix as a homeserver would.

const rv = getRoomVersion("11")!;

let tls: TlsFiles;
let a: TestServer;
let nameA: string;
let alice: TestUser;

interface Peer {
  name: string;
  remote: RemoteServer;
  close(): Promise<void>;
}

async function startKeyPeer(): Promise<Peer> {
  const port = await freePort();
  const name = `localhost:${port}`;
  const remote = new RemoteServer(name);
  const server = https.createServer({ cert: readFileSync(tls.certificate), key: readFileSync(tls.key) }, (req, res) => {
    const ok = req.url === "/_matrix/key/v2/server";
    res.writeHead(ok ? 200 : 404, { "content-type": "application/json" });
    res.end(JSON.stringify(ok ? ownKeyResponse(name, remote.key, {}, Date.now()) : { errcode: "M_UNRECOGNIZED", error: "no" }));
  });
  await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));
  return { name, remote, close: () => new Promise<void>((r) => server.close(() => r())) };
}

let p: Peer;
let q: Peer;

const as = (peer: Peer, method: string, uri: string, body?: JsonObject) => signedFedRequest(a, peer.name, peer.remote.key, nameA, method, uri, body);
const F = "/_matrix/federation/v1";

/** A stored event of A as a Built, so the stand-ins can cite it. */
async function built(eventId: string): Promise<Built> {
  const [row] = await a.server.sql.query<{ pdu: string; depth: number }>("SELECT pdu, depth FROM events WHERE event_id = $1", [eventId]);
  return { pdu: JSON.parse(row!.pdu) as Pdu, id: eventId, depth: Number(row!.depth) };
}

async function currentStateIds(roomId: string): Promise<Map<string, string>> {
  const rows = await a.server.sql.query<{ type: string; state_key: string; event_id: string }>(
    "SELECT type, state_key, event_id FROM current_state WHERE room_id = $1",
    [roomId],
  );
  return new Map(rows.map((r) => [`${r.type}|${r.state_key}`, r.event_id]));
}

let txnSeq = 0;
async function sendPdus(peer: Peer, pdus: JsonObject[]): Promise<J> {
  const r = await as(peer, "PUT", `${F}/send/serve-${++txnSeq}-${Date.now()}`, { origin: peer.name, origin_server_ts: Date.now(), pdus });
  expect(r.status, JSON.stringify(r.json)).toBe(200);
  return r.json.pdus as J;
}

/** `peer`'s user joins a public room of A through PUT /send, citing A's latest event. */
async function joinOverFederation(peer: Peer, roomId: string): Promise<string> {
  const [fx] = await a.server.sql.query<{ event_id: string }>("SELECT event_id FROM room_forward_extremities WHERE room_id = $1", [roomId]);
  const st = await currentStateIds(roomId);
  const auth = await Promise.all(["m.room.create|", "m.room.join_rules|", "m.room.power_levels|"].map((k) => built(st.get(k)!)));
  const user = peer.remote.user("bob");
  const join = peer.remote.event(rv, roomId, {
    type: "m.room.member",
    sender: user,
    stateKey: user,
    content: { membership: "join" },
    prev: [await built(fx!.event_id)],
    auth,
  });
  const results = await sendPdus(peer, [join.pdu]);
  expect(results[join.id]).toEqual({});
  return join.id;
}

const idOf = (pdu: J) => computeEventId(pdu as Pdu, rv);
const pdusOf = (r: { json: J }) => r.json.pdus as J[];

// Room R: public, shared history. Alice sends m1..m5, P's bob joins, alice sends m6.
let roomR: string;
let m: string[] = [];
let joinP: string;
// Room H: history visible to joined members only; then denied to 127.0.0.* by its server ACL.
let roomH: string;
let secret: string;
let after: string;
// A space S (public) with children R, X (invite-only) and one unknown room.
let space: string;
let roomX: string;

beforeAll(async () => {
  tls = makeTestCertificate();
  const port = await freePort();
  nameA = `localhost:${port}`;
  a = await startFederated(tls, port);
  p = await startKeyPeer();
  q = await startKeyPeer();
  alice = await newUser(a, "alice");
  expect((await api(a, "PUT", `/profile/${enc(alice.userId)}/displayname`, alice.token, { displayname: "Alice A" })).status).toBe(200);

  roomR = await createRoom(a, alice, { preset: "public_chat", visibility: "public", room_alias_name: "serve", name: "Serve room", room_version: "11" });
  m = [];
  for (let i = 1; i <= 5; i++) m.push(await send(a, alice, roomR, `m${i}`));
  joinP = await joinOverFederation(p, roomR);
  m.push(await send(a, alice, roomR, "m6"));

  roomH = await createRoom(a, alice, {
    preset: "public_chat",
    room_version: "11",
    initial_state: [{ type: "m.room.history_visibility", state_key: "", content: { history_visibility: "joined" } }],
  });
  secret = await send(a, alice, roomH, "before bob joined");
  await joinOverFederation(p, roomH);
  after = await send(a, alice, roomH, "after bob joined");

  space = await createRoom(a, alice, { preset: "public_chat", visibility: "public", name: "Space", creation_content: { type: "m.space" } });
  roomX = await createRoom(a, alice, { preset: "private_chat", name: "Private" });
  const child = (roomId: string, content: J) => api(a, "PUT", `/rooms/${enc(space)}/state/m.space.child/${enc(roomId)}`, alice.token, content);
  expect((await child(roomR, { via: [nameA], suggested: true })).status).toBe(200);
  expect((await child(roomX, { via: [nameA] })).status).toBe(200);
  expect((await child(`!unknown:${q.name}`, { via: [q.name] })).status).toBe(200);
}, 120_000);

afterAll(async () => {
  await p?.close();
  await q?.close();
  await a?.close();
  removeTestCertificate(tls);
});

describe('"Retrieving events": GET /event, /state, /state_ids', () => {
  it("/event serves the PDU as stored and signed, without unsigned, in a transaction", async () => {
    const r = await as(p, "GET", `${F}/event/${enc(m[2]!)}`);
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    expect(r.json.origin).toBe(nameA);
    expect(typeof r.json.origin_server_ts).toBe("number");
    const [pdu] = pdusOf(r);
    expect(idOf(pdu!)).toBe(m[2]);
    expect((pdu!.content as J).body).toBe("m3");
    expect(pdu!.unsigned).toBeUndefined();
    // Event signatures cover the redacted form ("Signing Events").
    expect(verifyJsonSignature(redact(pdu as JsonObject, rv), nameA, verifyKeyOf(coreKey(a))).ok).toBe(true);
  });

  it("/state_ids and /state give the state before the event with its full auth chain", async () => {
    const ids = await as(p, "GET", `${F}/state_ids/${enc(roomR)}?event_id=${enc(m[5]!)}`);
    expect(ids.status, JSON.stringify(ids.json)).toBe(200);
    // m6 is a message: the state before it is the room's current state.
    const current = [...(await currentStateIds(roomR)).values()].sort();
    expect([...(ids.json.pdu_ids as string[])].sort()).toEqual(current);

    const full = await as(p, "GET", `${F}/state/${enc(roomR)}?event_id=${enc(m[5]!)}`);
    expect(full.status).toBe(200);
    const statePdus = full.json.pdus as J[];
    const chainPdus = full.json.auth_chain as J[];
    expect(statePdus.map(idOf).sort()).toEqual(current);
    expect(chainPdus.map(idOf).sort()).toEqual([...(ids.json.auth_chain_ids as string[])].sort());
    // The auth chain is exactly the closure of the state's auth events.
    const byId = new Map([...statePdus, ...chainPdus].map((x) => [idOf(x), x]));
    const closure = new Set<string>();
    const todo = statePdus.flatMap((x) => x.auth_events as string[]);
    while (todo.length) {
      const id = todo.pop()!;
      if (closure.has(id)) continue;
      closure.add(id);
      expect(byId.has(id), `auth event ${id} is served`).toBe(true);
      todo.push(...(byId.get(id)!.auth_events as string[]));
    }
    expect([...closure].sort()).toEqual([...(ids.json.auth_chain_ids as string[])].sort());
    expect(closure.size).toBeGreaterThan(0);

    // Before P's join, its member event is not yet in the state.
    const before = await as(p, "GET", `${F}/state_ids/${enc(roomR)}?event_id=${enc(joinP)}`);
    expect(before.status).toBe(200);
    expect(before.json.pdu_ids as string[]).not.toContain(joinP);
    expect((before.json.pdu_ids as string[]).length).toBe(current.length - 1);
  });

  it("/event_auth gives the event's full auth chain", async () => {
    const r = await as(p, "GET", `${F}/event_auth/${enc(roomR)}/${enc(m[5]!)}`);
    expect(r.status).toBe(200);
    const chain = r.json.auth_chain as J[];
    const ids = new Set(chain.map(idOf));
    const st = await currentStateIds(roomR);
    for (const k of ["m.room.create|", "m.room.power_levels|", `m.room.member|${alice.userId}`]) expect(ids.has(st.get(k)!), k).toBe(true);
    expect(ids.has(m[5]!)).toBe(false);
    const six = pdusOf(await as(p, "GET", `${F}/event/${enc(m[5]!)}`))[0]!;
    for (const id of six.auth_events as string[]) expect(ids.has(id)).toBe(true);
    for (const x of chain) for (const id of x.auth_events as string[]) expect(ids.has(id), `closed under auth_events: ${id}`).toBe(true);
  });

  it("unknown events and rooms are 404 M_NOT_FOUND; bad parameters 400", async () => {
    const checks = [
      await as(p, "GET", `${F}/event/${enc("$nope")}`),
      await as(p, "GET", `${F}/state_ids/${enc(roomR)}?event_id=${enc("$nope")}`),
      await as(p, "GET", `${F}/state/${enc(roomR)}?event_id=${enc("$nope")}`),
      await as(p, "GET", `${F}/event_auth/${enc(roomR)}/${enc("$nope")}`),
      await as(p, "GET", `${F}/state_ids/${enc(`!nope:${nameA}`)}?event_id=${enc(m[0]!)}`),
      // An event of another room is not found in this one.
      await as(p, "GET", `${F}/state_ids/${enc(roomH)}?event_id=${enc(m[0]!)}`),
    ];
    for (const r of checks) {
      expect(r.status).toBe(404);
      expect(r.json.errcode).toBe("M_NOT_FOUND");
    }
    const missing = await as(p, "GET", `${F}/state_ids/${enc(roomR)}`);
    expect(missing.status).toBe(400);
    expect(missing.json.errcode).toBe("M_MISSING_PARAM");
    const unsigned = await signedFedRequest(a, p.name, q.remote.key, nameA, "GET", `${F}/event/${enc(m[0]!)}`);
    expect(unsigned.status).toBe(401);
  });
});

describe('"Backfilling and retrieving missing events"', () => {
  it("/backfill returns the given events and those before them, newest first, up to the limit", async () => {
    const r = await as(p, "GET", `${F}/backfill/${enc(roomR)}?v=${enc(m[5]!)}&limit=3`);
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    expect(r.json.origin).toBe(nameA);
    expect(pdusOf(r).map(idOf)).toEqual([m[5], joinP, m[4]]);
    const two = await as(p, "GET", `${F}/backfill/${enc(roomR)}?v=${enc(m[2]!)}&limit=2`);
    expect(pdusOf(two).map(idOf)).toEqual([m[2], m[1]]);
    // Several v, and a limit past the start of the room: everything once, by descending depth.
    const all = await as(p, "GET", `${F}/backfill/${enc(roomR)}?v=${enc(m[5]!)}&v=${enc(m[3]!)}&limit=1000`);
    const depths = pdusOf(all).map((x) => x.depth as number);
    expect(depths).toEqual([...depths].sort((x, y) => y - x));
    expect(new Set(pdusOf(all).map(idOf)).size).toBe(depths.length);
    const [{ n }] = await a.server.sql.query<{ n: number }>("SELECT count(*)::int8 AS n FROM events WHERE room_id = $1", [roomR]);
    expect(depths.length).toBe(Number(n));
    expect(pdusOf(all).at(-1)!.type).toBe("m.room.create");
    const bad = await as(p, "GET", `${F}/backfill/${enc(roomR)}?v=${enc(m[5]!)}&limit=many`);
    expect(bad.status).toBe(400);
  });

  it("/get_missing_events walks back from latest_events to earliest_events, oldest first, within limit and min_depth", async () => {
    const gme = (body: J) => as(p, "POST", `${F}/get_missing_events/${enc(roomR)}`, body as JsonObject);
    const r = await gme({ earliest_events: [m[0]], latest_events: [m[5]], limit: 10 });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    expect((r.json.events as J[]).map(idOf)).toEqual([m[1], m[2], m[3], m[4], joinP]);
    const limited = await gme({ earliest_events: [m[0]], latest_events: [m[5]], limit: 2 });
    expect((limited.json.events as J[]).map(idOf)).toEqual([m[4], joinP]);
    const m4 = pdusOf(await as(p, "GET", `${F}/event/${enc(m[3]!)}`))[0]!;
    const deep = await gme({ earliest_events: [], latest_events: [m[5]], limit: 10, min_depth: m4.depth as number });
    expect((deep.json.events as J[]).map(idOf)).toEqual([m[3], m[4], joinP]);
    const bad = await gme({ earliest_events: "x", latest_events: [m[5]] });
    expect(bad.status).toBe(400);
    expect(bad.json.errcode).toBe("M_BAD_JSON");
  });
});

describe("History visibility for the asking server", () => {
  it("events from before a server's users joined a `joined` room are served redacted", async () => {
    const s = await as(p, "GET", `${F}/event/${enc(secret)}`);
    expect(s.status).toBe(200);
    const [pdu] = pdusOf(s);
    expect(pdu!.content).toEqual({});
    expect(idOf(pdu!)).toBe(secret);
    // Still signed by A: the redacted form keeps the signatures.
    expect(verifyJsonSignature(redact(pdu as JsonObject, rv), nameA, verifyKeyOf(coreKey(a))).ok).toBe(true);
    expect(pdu!.hashes).toBeDefined();
    const later = pdusOf(await as(p, "GET", `${F}/event/${enc(after)}`))[0]!;
    expect((later.content as J).body).toBe("after bob joined");
    const back = pdusOf(await as(p, "GET", `${F}/backfill/${enc(roomH)}?v=${enc(after)}&limit=10`));
    const hidden = back.find((x) => idOf(x) === secret);
    expect(hidden?.content).toEqual({});
  });

  it("a server with no user in the room gets 403 M_FORBIDDEN on every room read", async () => {
    const reads = [
      await as(q, "GET", `${F}/event/${enc(m[2]!)}`),
      await as(q, "GET", `${F}/state/${enc(roomR)}?event_id=${enc(m[5]!)}`),
      await as(q, "GET", `${F}/state_ids/${enc(roomR)}?event_id=${enc(m[5]!)}`),
      await as(q, "GET", `${F}/event_auth/${enc(roomR)}/${enc(m[5]!)}`),
      await as(q, "GET", `${F}/backfill/${enc(roomR)}?v=${enc(m[5]!)}&limit=5`),
      await as(q, "POST", `${F}/get_missing_events/${enc(roomR)}`, { earliest_events: [], latest_events: [m[5]!] }),
      await as(q, "GET", `${F}/timestamp_to_event/${enc(roomR)}?ts=${Date.now()}&dir=b`),
    ];
    for (const r of reads) {
      expect(r.status, JSON.stringify(r.json)).toBe(403);
      expect(r.json.errcode).toBe("M_FORBIDDEN");
    }
  });
});

describe("World-readable history, rejected and soft-failed events", () => {
  // Room W: world-readable. P's bob joins, sends a power-level change he may not make
  // (rejected), is banned, then sends a message citing the graph from before his ban
  // (passes the checks against the state before it, fails against the current state:
  // soft-failed).
  let roomW: string;
  let w1: string;
  let w2: string;
  let joinW: string;
  let rejected: string;
  let softFailed: string;

  beforeAll(async () => {
    roomW = await createRoom(a, alice, {
      preset: "public_chat",
      room_version: "11",
      initial_state: [{ type: "m.room.history_visibility", state_key: "", content: { history_visibility: "world_readable" } }],
    });
    w1 = await send(a, alice, roomW, "w1");
    joinW = await joinOverFederation(p, roomW);
    const st = await currentStateIds(roomW);
    const bob = p.remote.user("bob");
    const auth = await Promise.all(["m.room.create|", "m.room.power_levels|", `m.room.member|${bob}`].map((k) => built(st.get(k)!)));
    const prev = [await built(joinW)];
    const pl = p.remote.event(rv, roomW, { type: "m.room.power_levels", sender: bob, stateKey: "", content: { users: { [bob]: 100 } }, prev, auth });
    rejected = pl.id;
    expect((await sendPdus(p, [pl.pdu]))[pl.id]?.error).toBeDefined();
    const [stored] = await a.server.sql.query<{ rejected_reason: string | null }>("SELECT rejected_reason FROM events WHERE event_id = $1", [rejected]);
    expect(stored?.rejected_reason).toBeTruthy();
    const ban = await api(a, "POST", `/rooms/${enc(roomW)}/ban`, alice.token, { user_id: bob });
    expect(ban.status, JSON.stringify(ban.json)).toBe(200);
    const evading = p.remote.event(rv, roomW, { type: "m.room.message", sender: bob, content: { msgtype: "m.text", body: "evading" }, prev, auth });
    softFailed = evading.id;
    await sendPdus(p, [evading.pdu]);
    const [row] = await a.server.sql.query<{ soft_failed: boolean }>("SELECT soft_failed FROM events WHERE event_id = $1", [softFailed]);
    expect(row?.soft_failed).toBe(true);
    w2 = await send(a, alice, roomW, "w2");
  }, 60_000);

  it("a server with no user in a world-readable room may read its history", async () => {
    const e = await as(q, "GET", `${F}/event/${enc(w1)}`);
    expect(e.status).toBe(200);
    expect((pdusOf(e)[0]!.content as J).body).toBe("w1");
    const ids = await as(q, "GET", `${F}/state_ids/${enc(roomW)}?event_id=${enc(w2)}`);
    expect(ids.status).toBe(200);
    expect([...(ids.json.pdu_ids as string[])].sort()).toEqual([...(await currentStateIds(roomW)).values()].sort());
  });

  it("an erased user's events are served redacted to a server none of whose users was there", async () => {
    const carol = await newUser(a, "carol");
    expect((await api(a, "POST", `/join/${enc(roomW)}`, carol.token, {})).status).toBe(200);
    const words = await send(a, carol, roomW, "carol's words");
    expect((pdusOf(await as(q, "GET", `${F}/event/${enc(words)}`))[0]!.content as J).body).toBe("carol's words");
    const c = await a.request<J>("POST", "/_matrix/client/v3/account/deactivate", { token: carol.token, body: { erase: true } });
    const d = await a.request<J>("POST", "/_matrix/client/v3/account/deactivate", {
      token: carol.token,
      body: {
        erase: true,
        auth: { type: "m.login.password", identifier: { type: "m.id.user", user: "carol" }, password: "correct horse", session: c.json.session },
      },
    });
    expect(d.status, JSON.stringify(d.json)).toBe(200);
    const after = pdusOf(await as(q, "GET", `${F}/event/${enc(words)}`))[0]!;
    expect(after.content).toEqual({});
    expect(idOf(after)).toBe(words);
  });

  it("rejected events are never served; soft-failed ones by /event, and by /backfill only when referenced", async () => {
    for (const peer of [p, q]) {
      const r = await as(peer, "GET", `${F}/event/${enc(rejected)}`);
      expect(r.status).toBe(404);
      expect(r.json.errcode).toBe("M_NOT_FOUND");
    }
    const soft = await as(q, "GET", `${F}/event/${enc(softFailed)}`);
    expect(soft.status).toBe(200);
    expect((pdusOf(soft)[0]!.content as J).body).toBe("evading");
    const back = pdusOf(await as(q, "GET", `${F}/backfill/${enc(roomW)}?v=${enc(w2)}&limit=50`)).map(idOf);
    expect(back).toContain(w1);
    expect(back).toContain(joinW);
    expect(back).not.toContain(rejected);
    expect(back).not.toContain(softFailed);
    const missing = await as(q, "POST", `${F}/get_missing_events/${enc(roomW)}`, { earliest_events: [w1], latest_events: [w2], limit: 50 });
    const ids = (missing.json.events as J[]).map(idOf);
    expect(ids).toContain(joinW);
    expect(ids).not.toContain(rejected);
    expect(ids).not.toContain(softFailed);
    // Starting from the soft-failed event itself, it and what it cites are served.
    const fromSoft = pdusOf(await as(q, "GET", `${F}/backfill/${enc(roomW)}?v=${enc(softFailed)}&limit=2`)).map(idOf);
    expect(fromSoft).toEqual([softFailed, joinW]);
  });
});

describe('"Querying for information", "Published Room Directory", "Spaces"', () => {
  it("/query/directory resolves a local alias to the room and the servers in it", async () => {
    const r = await as(q, "GET", `${F}/query/directory?room_alias=${enc(`#serve:${nameA}`)}`);
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    expect(r.json.room_id).toBe(roomR);
    expect(r.json.servers).toEqual([nameA, p.name]);
    expect((await as(q, "GET", `${F}/query/directory?room_alias=${enc(`#nope:${nameA}`)}`)).status).toBe(404);
    expect((await as(q, "GET", `${F}/query/directory?room_alias=${enc(`#serve:${q.name}`)}`)).status).toBe(404);
    expect((await as(q, "GET", `${F}/query/directory?room_alias=serve`)).json.errcode).toBe("M_INVALID_PARAM");
  });

  it("/query/profile answers for local users only, one field when asked", async () => {
    const r = await as(q, "GET", `${F}/query/profile?user_id=${enc(alice.userId)}`);
    expect(r.status).toBe(200);
    expect(r.json.displayname).toBe("Alice A");
    const field = await as(q, "GET", `${F}/query/profile?user_id=${enc(alice.userId)}&field=displayname`);
    expect(field.json).toEqual({ displayname: "Alice A" });
    for (const uri of [
      `${F}/query/profile?user_id=${enc(alice.userId)}&field=avatar_url`,
      `${F}/query/profile?user_id=${enc(`@nobody:${nameA}`)}`,
      `${F}/query/profile?user_id=${enc(q.remote.user("bob"))}`,
    ]) {
      const x = await as(q, "GET", uri);
      expect(x.status, uri).toBe(404);
      expect(x.json.errcode).toBe("M_NOT_FOUND");
    }
  });

  it("GET and POST /publicRooms list the published rooms with the client endpoint's filters and pagination", async () => {
    const g = await as(q, "GET", `${F}/publicRooms`);
    expect(g.status).toBe(200);
    const listed = (g.json.chunk as J[]).map((x) => x.room_id);
    expect(listed.sort()).toEqual([roomR, space].sort());
    const r = (g.json.chunk as J[]).find((x) => x.room_id === roomR)!;
    expect(r).toMatchObject({ name: "Serve room", num_joined_members: 2, join_rule: "public", canonical_alias: `#serve:${nameA}` });

    const page1 = await as(q, "GET", `${F}/publicRooms?limit=1`);
    expect(page1.json.chunk as J[]).toHaveLength(1);
    const page2 = await as(q, "GET", `${F}/publicRooms?limit=1&since=${enc(page1.json.next_batch as string)}`);
    expect([(page1.json.chunk as J[])[0]!.room_id, (page2.json.chunk as J[])[0]!.room_id].sort()).toEqual([roomR, space].sort());

    const post = (body: J) => as(q, "POST", `${F}/publicRooms`, body as JsonObject);
    expect(((await post({ filter: { generic_search_term: "serve" } })).json.chunk as J[]).map((x) => x.room_id)).toEqual([roomR]);
    expect((await post({ filter: { generic_search_term: "zzz" } })).json.chunk).toEqual([]);
    expect(((await post({ filter: { room_types: ["m.space"] } })).json.chunk as J[]).map((x) => x.room_id)).toEqual([space]);
    expect(((await post({ filter: { room_types: [null] } })).json.chunk as J[]).map((x) => x.room_id)).toEqual([roomR]);
    expect((await post({ third_party_instance_id: "irc" })).json.chunk).toEqual([]);
    expect(((await post({ include_all_networks: true })).json.chunk as J[]).length).toBe(2);
    expect((await post({ limit: "ten" })).status).toBe(400);
  });

  it("/hierarchy gives the space, its reachable children and the unreachable ones", async () => {
    const r = await as(q, "GET", `${F}/hierarchy/${enc(space)}`);
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    const room = r.json.room as J;
    expect(room.room_id).toBe(space);
    expect(room.room_type).toBe("m.space");
    expect((room.children_state as J[]).map((c) => c.state_key).sort()).toEqual([roomR, roomX, `!unknown:${q.name}`].sort());
    expect((r.json.children as J[]).map((c) => c.room_id)).toEqual([roomR]);
    expect((r.json.children as J[])[0]).toMatchObject({ name: "Serve room", join_rule: "public", children_state: [] });
    expect(r.json.inaccessible_children).toEqual([roomX]);
    const suggested = await as(q, "GET", `${F}/hierarchy/${enc(space)}?suggested_only=true`);
    expect((suggested.json.room as J).children_state as J[]).toHaveLength(1);
    expect(suggested.json.inaccessible_children).toEqual([]);
    // A room the asking server cannot peek or join is not found.
    const hidden = await as(q, "GET", `${F}/hierarchy/${enc(roomX)}`);
    expect(hidden.status).toBe(404);
    expect(hidden.json.errcode).toBe("M_NOT_FOUND");
  });

  it("/timestamp_to_event finds the closest event the server may see in each direction", async () => {
    const three = pdusOf(await as(p, "GET", `${F}/event/${enc(m[2]!)}`))[0]!;
    const ts = three.origin_server_ts as number;
    const f = await as(p, "GET", `${F}/timestamp_to_event/${enc(roomR)}?ts=${ts}&dir=f`);
    expect(f.status, JSON.stringify(f.json)).toBe(200);
    expect(f.json.origin_server_ts).toBe(ts);
    const b = await as(p, "GET", `${F}/timestamp_to_event/${enc(roomR)}?ts=${ts}&dir=b`);
    expect(b.json.origin_server_ts).toBe(ts);
    const none = await as(p, "GET", `${F}/timestamp_to_event/${enc(roomR)}?ts=${Date.now() + 3600_000}&dir=f`);
    expect(none.status).toBe(404);
    expect(none.json.errcode).toBe("M_NOT_FOUND");
    expect((await as(p, "GET", `${F}/timestamp_to_event/${enc(roomR)}?ts=1&dir=x`)).status).toBe(400);
  });
});

describe("Malformed requests", () => {
  it("are answered 400 with a Matrix error and change nothing", async () => {
    const many = Array.from({ length: 101 }, (_, i) => `$e${i}`);
    const cases: Array<[string, string, JsonObject | undefined, string]> = [
      ["GET", `${F}/backfill/${enc(roomR)}?${many.map((x) => `v=${enc(x)}`).join("&")}&limit=5`, undefined, "M_INVALID_PARAM"],
      ["GET", `${F}/backfill/${enc(roomR)}?limit=5`, undefined, "M_MISSING_PARAM"],
      ["POST", `${F}/get_missing_events/${enc(roomR)}`, { earliest_events: [], latest_events: many }, "M_BAD_JSON"],
      ["POST", `${F}/get_missing_events/${enc(roomR)}`, { earliest_events: [], latest_events: [m[5]!], limit: -1 }, "M_BAD_JSON"],
      ["POST", `${F}/get_missing_events/${enc(roomR)}`, { latest_events: [m[5]!] }, "M_BAD_JSON"],
      ["GET", `${F}/state_ids/${enc(roomR)}?event_id=${"x".repeat(300)}`, undefined, "M_INVALID_PARAM"],
      ["GET", `${F}/timestamp_to_event/${enc(roomR)}?ts=soon&dir=f`, undefined, "M_INVALID_PARAM"],
      ["GET", `${F}/publicRooms?include_all_networks=maybe`, undefined, "M_INVALID_PARAM"],
      ["POST", `${F}/publicRooms`, { filter: { room_types: "m.space" } }, "M_BAD_JSON"],
      ["GET", `${F}/hierarchy/${enc(space)}?suggested_only=yes`, undefined, "M_INVALID_PARAM"],
      ["GET", `${F}/query/profile`, undefined, "M_MISSING_PARAM"],
      ["GET", `${F}/query/profile?user_id=alice`, undefined, "M_INVALID_PARAM"],
    ];
    for (const [method, uri, body, errcode] of cases) {
      const r = await as(p, method, uri, body);
      expect(r.status, `${method} ${uri.slice(0, 80)}`).toBe(400);
      expect(r.json.errcode, `${method} ${uri.slice(0, 80)}`).toBe(errcode);
    }
    // The server still answers normally.
    expect((await as(p, "GET", `${F}/event/${enc(m[0]!)}`)).status).toBe(200);
  });
});

describe('"Server Access Control Lists (ACLs)"', () => {
  it("a server denied by the room's ACL gets 403 on every room endpoint and its PDUs are refused", async () => {
    // Port numbers are not considered: "localhost" matches every server of this test, A included,
    // which does not stop A's own users.
    const acl = await api(a, "PUT", `/rooms/${enc(roomH)}/state/m.room.server_acl/`, alice.token, { allow: ["*"], deny: ["localhost"] });
    expect(acl.status, JSON.stringify(acl.json)).toBe(200);
    const aclId = acl.json.event_id as string;
    const calls = [
      await as(p, "GET", `${F}/event/${enc(after)}`),
      await as(p, "GET", `${F}/state/${enc(roomH)}?event_id=${enc(aclId)}`),
      await as(p, "GET", `${F}/state_ids/${enc(roomH)}?event_id=${enc(aclId)}`),
      await as(p, "GET", `${F}/event_auth/${enc(roomH)}/${enc(aclId)}`),
      await as(p, "GET", `${F}/backfill/${enc(roomH)}?v=${enc(aclId)}&limit=5`),
      await as(p, "POST", `${F}/get_missing_events/${enc(roomH)}`, { earliest_events: [], latest_events: [aclId] }),
      await as(p, "GET", `${F}/timestamp_to_event/${enc(roomH)}?ts=${Date.now()}&dir=b`),
      await as(p, "GET", `${F}/hierarchy/${enc(roomH)}`),
    ];
    for (const r of calls) {
      expect(r.status, JSON.stringify(r.json)).toBe(403);
      expect(r.json.errcode).toBe("M_FORBIDDEN");
    }
    // Its PDUs are ignored, with an error for that event id; the room does not change.
    const st = await currentStateIds(roomH);
    const bob = p.remote.user("bob");
    const msg = p.remote.event(rv, roomH, {
      type: "m.room.message",
      sender: bob,
      content: { msgtype: "m.text", body: "denied" },
      prev: [await built(aclId)],
      auth: await Promise.all(["m.room.create|", "m.room.power_levels|", `m.room.member|${bob}`].map((k) => built(st.get(k)!))),
    });
    const results = await sendPdus(p, [msg.pdu]);
    expect(results[msg.id]?.error).toMatch(/ACL/);
    expect(await a.server.sql.query("SELECT 1 FROM events WHERE event_id = $1", [msg.id])).toEqual([]);
    // Another room without an ACL still serves P.
    expect((await as(p, "GET", `${F}/event/${enc(m[0]!)}`)).status).toBe(200);
  });
});
