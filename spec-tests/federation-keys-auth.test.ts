import { readFileSync } from "node:fs";
import https from "node:https";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeBase64, signingKeyFromSeed, verifyJsonSignature, verifyKeyFromBase64, type JsonObject } from "../src/core/index.js";
import { ownKeyResponse } from "../src/federation/server-keys.js";
import { signRequestHeader } from "../src/federation/x-matrix.js";
import { TestServer as RemoteServer, type Built } from "../test/support/remote-server.js";
import { coreKey, fedRequest, freePort, makeTestCertificate, removeTestCertificate, startFederated, type TlsFiles } from "./federation-helpers.js";
import type { TestServer } from "./harness.js";
import { api, createRoom, enc, newUser, type J, type TestUser } from "./sync-helpers.js";

// Two instances of this server on loopback over HTTPS (server names 127.0.0.1:PORT),
// plus small HTTPS stand-ins for other servers whose keys the test controls.

let tls: TlsFiles;
let a: TestServer;
let b: TestServer;
let nameA: string;
let nameB: string;

/** A stand-in homeserver: serves its keys (as set) and events by id over HTTPS. */
interface Peer {
  name: string;
  remote: RemoteServer;
  keyResponse: () => JsonObject | undefined;
  events: Map<string, JsonObject>;
  eventRequests: string[];
  close(): Promise<void>;
}

async function startPeer(): Promise<Peer> {
  const port = await freePort();
  const name = `localhost:${port}`;
  const remote = new RemoteServer(name);
  const peer: Peer = {
    name,
    remote,
    keyResponse: () => ownKeyResponse(name, remote.key, {}, Date.now()),
    events: new Map(),
    eventRequests: [],
    close: async () => {},
  };
  const server = https.createServer({ cert: readFileSync(tls.certificate), key: readFileSync(tls.key) }, (req, res) => {
    const url = req.url ?? "";
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    if (url === "/_matrix/key/v2/server") {
      const k = peer.keyResponse();
      return k ? send(200, k) : send(500, { errcode: "M_UNKNOWN", error: "down" });
    }
    const m = /^\/_matrix\/federation\/v1\/event\/([^?]+)$/.exec(url);
    if (m) {
      const id = decodeURIComponent(m[1]!);
      peer.eventRequests.push(id);
      const pdu = peer.events.get(id);
      return pdu ? send(200, { origin: name, origin_server_ts: Date.now(), pdus: [pdu] }) : send(404, { errcode: "M_NOT_FOUND", error: "no" });
    }
    send(404, { errcode: "M_UNRECOGNIZED", error: "no" });
  });
  await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));
  peer.close = () => new Promise<void>((r) => server.close(() => r()));
  return peer;
}

const peers: Peer[] = [];

beforeAll(async () => {
  tls = makeTestCertificate();
  const [pa, pb] = [await freePort(), await freePort()];
  nameA = `localhost:${pa}`;
  nameB = `localhost:${pb}`;
  a = await startFederated(tls, pa);
  // B trusts A as a notary, without pinned keys (A's keys are fetched from A).
  b = await startFederated(tls, pb, { trusted_key_servers: [{ server_name: nameA }] });
}, 120_000);

afterAll(async () => {
  await Promise.all(peers.map((p) => p.close()));
  await a?.close();
  await b?.close();
  removeTestCertificate(tls);
});

function checkSelfSigned(json: J, server: string): void {
  const vk = json.verify_keys as Record<string, { key: string }>;
  const [keyId, { key }] = Object.entries(vk)[0]!;
  expect(verifyJsonSignature(json as JsonObject, server, verifyKeyFromBase64(keyId, key)!).ok).toBe(true);
}

describe('Server-server "Publishing Keys": GET /_matrix/key/v2/server', () => {
  it("serves the current key, self-signed, valid for at least an hour, with old_verify_keys", async () => {
    const r = await fedRequest(b, "GET", "/_matrix/key/v2/server");
    expect(r.status).toBe(200);
    expect(r.json.server_name).toBe(nameB);
    const key = coreKey(b);
    expect(r.json.verify_keys).toEqual({ [key.keyId]: { key: encodeBase64(key.publicKey) } });
    expect(r.json.old_verify_keys).toEqual({});
    expect(r.json.valid_until_ts as number).toBeGreaterThan(Date.now() + 3600_000);
    checkSelfSigned(r.json, nameB);
    // Tampering breaks the signature.
    const tampered = { ...r.json, valid_until_ts: (r.json.valid_until_ts as number) + 1 };
    expect(verifyJsonSignature(tampered as JsonObject, nameB, verifyKeyFromBase64(key.keyId, encodeBase64(key.publicKey))!).ok).toBe(false);
  });
});

describe('Server-server "Retrieving server keys": fetching, caching, notaries', () => {
  it("A fetches B's key directly over HTTPS and stores it", async () => {
    const keyB = coreKey(b);
    const k = await a.server.federation.keys.key(nameB, keyB.keyId, Date.now());
    expect(k).toBeDefined();
    expect(encodeBase64(k!.verifyKey.publicKey)).toBe(encodeBase64(keyB.publicKey));
    expect(k!.expiredTs).toBeNull();
    const rows = await a.server.sql.query<{ verify_key: string; valid_until_ts: number }>(
      "SELECT verify_key, valid_until_ts FROM server_signing_keys WHERE server_name = $1",
      [nameB],
    );
    expect(rows.map((x) => x.verify_key)).toEqual([encodeBase64(keyB.publicKey)]);
    // The stored validity is capped at 7 days after the fetch.
    expect(Number(rows[0]!.valid_until_ts)).toBeLessThanOrEqual(Date.now() + 7 * 86400_000);
  });

  it("A's notary endpoint serves B's keys signed by B and by A (GET and POST)", async () => {
    const g = await fedRequest(a, "GET", `/_matrix/key/v2/query/${enc(nameB)}?minimum_valid_until_ts=${Date.now()}`);
    expect(g.status).toBe(200);
    const list = g.json.server_keys as J[];
    expect(list).toHaveLength(1);
    expect(list[0]!.server_name).toBe(nameB);
    checkSelfSigned(list[0]!, nameB);
    const keyA = coreKey(a);
    expect(verifyJsonSignature(list[0] as JsonObject, nameA, verifyKeyFromBase64(keyA.keyId, encodeBase64(keyA.publicKey))!).ok).toBe(true);

    const p = await fedRequest(a, "POST", "/_matrix/key/v2/query", {
      body: { server_keys: { [nameB]: { [coreKey(b).keyId]: { minimum_valid_until_ts: Date.now() } }, [nameA]: {} } },
    });
    expect(p.status).toBe(200);
    const names = (p.json.server_keys as J[]).map((x) => x.server_name).sort();
    expect(names).toEqual([nameA, nameB].sort());
    for (const x of p.json.server_keys as J[]) checkSelfSigned(x, x.server_name as string);

    const empty = await fedRequest(a, "POST", "/_matrix/key/v2/query", { body: { server_keys: {} } });
    expect(empty.json).toEqual({ server_keys: [] });
    const bad = await fedRequest(a, "POST", "/_matrix/key/v2/query", { body: { server_keys: [] } });
    expect(bad.status).toBe(400);
    expect(bad.json.errcode).toBe("M_BAD_JSON");
  });

  it("B gets the keys of a server that stopped answering through its trusted notary A", async () => {
    const peer = await startPeer();
    peers.push(peer);
    // A, as notary, caches the peer's keys while it is up.
    const first = await fedRequest(a, "GET", `/_matrix/key/v2/query/${enc(peer.name)}`);
    expect((first.json.server_keys as J[]).length).toBe(1);
    peer.keyResponse = () => undefined;
    const k = await b.server.federation.keys.key(peer.name, peer.remote.key.keyId, 0);
    expect(k).toBeDefined();
    expect(encodeBase64(k!.verifyKey.publicKey)).toBe(encodeBase64(peer.remote.key.publicKey));
    // An unknown server with no notary copy gives nothing.
    const none = await fedRequest(a, "GET", `/_matrix/key/v2/query/${enc("127.0.0.1:1")}`);
    expect(none.json).toEqual({ server_keys: [] });
  });
});

describe('Server-server "Request Authentication": X-Matrix', () => {
  const emptyTxn = () => ({ origin: nameA, origin_server_ts: Date.now(), pdus: [] });

  it("accepts a request A signs (PUT /send through A's FederationClient)", async () => {
    const r = await a.server.federation.client.put(nameB, `/_matrix/federation/v1/send/ok-${Date.now()}`, emptyTxn());
    expect(r).toEqual({ pdus: {} });
  });

  it("refuses a missing, forged, tampered or wrong-destination header with 401 M_UNAUTHORIZED", async () => {
    const uri = `/_matrix/federation/v1/send/bad-${Date.now()}`;
    const body = emptyTxn();
    const keyA = coreKey(a);
    const missing = await fedRequest(b, "PUT", uri, { body });
    expect([missing.status, missing.json.errcode]).toEqual([401, "M_UNAUTHORIZED"]);

    const forger = signingKeyFromSeed(new Uint8Array(32).fill(7), keyA.version);
    const forged = await fedRequest(b, "PUT", uri, { body, authorization: signRequestHeader(forger, nameA, nameB, "PUT", uri, body) });
    expect([forged.status, forged.json.errcode]).toEqual([401, "M_UNAUTHORIZED"]);

    const tampered = await fedRequest(b, "PUT", uri, {
      body: { ...body, pdus: [{}] },
      authorization: signRequestHeader(keyA, nameA, nameB, "PUT", uri, body),
    });
    expect([tampered.status, tampered.json.errcode]).toEqual([401, "M_UNAUTHORIZED"]);

    const otherUri = await fedRequest(b, "PUT", uri, { body, authorization: signRequestHeader(keyA, nameA, nameB, "PUT", `${uri}x`, body) });
    expect(otherUri.status).toBe(401);

    const wrongDest = await fedRequest(b, "PUT", uri, { body, authorization: signRequestHeader(keyA, nameA, "elsewhere.example", "PUT", uri, body) });
    expect([wrongDest.status, wrongDest.json.errcode]).toEqual([401, "M_UNAUTHORIZED"]);

    // The same request correctly signed passes: the refusals above are about the header.
    const good = await fedRequest(b, "PUT", uri, { body, authorization: signRequestHeader(keyA, nameA, nameB, "PUT", uri, body) });
    expect(good.status).toBe(200);
    expect(good.json).toEqual({ pdus: {} });
  });

  it("refuses a request signed with a key whose validity has ended, and with an unknown key id", async () => {
    const peer = await startPeer();
    peers.push(peer);
    const past = Date.now() - 60_000;
    peer.keyResponse = () => ({ ...ownKeyResponse(peer.name, peer.remote.key, {}, past - 86400_000 + 1) });
    const uri = `/_matrix/federation/v1/send/exp-${Date.now()}`;
    const body = { origin: peer.name, origin_server_ts: Date.now(), pdus: [] };
    const expired = await fedRequest(b, "PUT", uri, { body, authorization: signRequestHeader(peer.remote.key, peer.name, nameB, "PUT", uri, body) });
    expect([expired.status, expired.json.errcode]).toEqual([401, "M_UNAUTHORIZED"]);
    const stored = await b.server.sql.query<{ valid_until_ts: number }>("SELECT valid_until_ts FROM server_signing_keys WHERE server_name = $1", [peer.name]);
    expect(Number(stored[0]!.valid_until_ts)).toBeLessThan(Date.now());

    const stranger = signingKeyFromSeed(new Uint8Array(32).fill(9), "nope");
    const unknown = await fedRequest(b, "PUT", uri, { body, authorization: signRequestHeader(stranger, peer.name, nameB, "PUT", uri, body) });
    expect(unknown.status).toBe(401);
  });
});

describe('Server-server "Transactions": PUT /_matrix/federation/v1/send/{txnId}', () => {
  let alice: TestUser;
  let peer: Peer;

  beforeAll(async () => {
    alice = await newUser(b, "alice");
    peer = await startPeer();
    peers.push(peer);
  });

  async function stored(eventId: string): Promise<Built> {
    const [row] = await b.server.sql.query<{ pdu: string; depth: number }>("SELECT pdu, depth FROM events WHERE event_id = $1", [eventId]);
    return { pdu: JSON.parse(row!.pdu) as never, id: eventId, depth: Number(row!.depth) };
  }

  async function sendTxn(txnId: string, pdus: JsonObject[]) {
    const uri = `/_matrix/federation/v1/send/${txnId}`;
    const body = { origin: peer.name, origin_server_ts: Date.now(), pdus };
    return fedRequest(b, "PUT", uri, { body, authorization: signRequestHeader(peer.remote.key, peer.name, nameB, "PUT", uri, body) });
  }

  it("persists each PDU through the room input, answers per PDU, fetches missing auth events, and is idempotent", async () => {
    const { getRoomVersion } = await import("../src/core/index.js");
    const rv = getRoomVersion("10")!;
    const roomId = await createRoom(b, alice, { preset: "public_chat", room_version: "10" });
    const state = (await api<J[]>(b, "GET", `/rooms/${enc(roomId)}/state`, alice.token)).json;
    const idOf = (type: string) => state.find((e) => e.type === type && e.state_key === "")!.event_id as string;
    const [head] = await b.server.sql.query<{ event_id: string }>("SELECT event_id FROM room_forward_extremities WHERE room_id = $1", [roomId]);
    const create = await stored(idOf("m.room.create"));
    const pl = await stored(idOf("m.room.power_levels"));
    const jr = await stored(idOf("m.room.join_rules"));
    const last = await stored(head!.event_id);
    const bob = peer.remote.user("bob");
    const carol = peer.remote.user("carol");
    const joinBob = peer.remote.event(rv, roomId, {
      type: "m.room.member",
      sender: bob,
      stateKey: bob,
      content: { membership: "join" },
      prev: [last],
      auth: [create, pl, jr],
    });
    const msg = peer.remote.event(rv, roomId, {
      type: "m.room.message",
      sender: bob,
      content: { msgtype: "m.text", body: "hi" },
      prev: [joinBob],
      auth: [create, pl, joinBob],
    });
    const forgedMsg = peer.remote.event(rv, roomId, {
      type: "m.room.message",
      sender: bob,
      content: { msgtype: "m.text", body: "x" },
      prev: [msg],
      auth: [create, pl, joinBob],
    });
    // A signature that does not verify: receipt check 2 drops the PDU.
    ((forgedMsg.pdu as J).signatures as Record<string, J>)[peer.name] = { [peer.remote.key.keyId]: encodeBase64(new Uint8Array(64).fill(1)) };
    // Carol's join exists only on the peer; her message cites it as an auth event.
    const joinCarol = peer.remote.event(rv, roomId, {
      type: "m.room.member",
      sender: carol,
      stateKey: carol,
      content: { membership: "join" },
      prev: [msg],
      auth: [create, pl, jr],
    });
    peer.events.set(joinCarol.id, joinCarol.pdu as JsonObject);
    const carolMsg = peer.remote.event(rv, roomId, {
      type: "m.room.message",
      sender: carol,
      content: { msgtype: "m.text", body: "c" },
      prev: [msg],
      auth: [create, pl, joinCarol],
    });

    const txnId = `t-${Date.now()}`;
    const r = await sendTxn(txnId, [joinBob.pdu, msg.pdu, forgedMsg.pdu, { room_id: "!nowhere:example.org", type: "x" }, carolMsg.pdu] as JsonObject[]);
    expect(r.status).toBe(200);
    const results = r.json.pdus as Record<string, J>;
    expect(results[joinBob.id]).toEqual({});
    expect(results[msg.id]).toEqual({});
    expect(typeof results[forgedMsg.id]?.error).toBe("string");
    // Carol's join was fetched from the origin; her message then fails against the state before it.
    expect(peer.eventRequests).toContain(joinCarol.id);
    const [outlier] = await b.server.sql.query("SELECT event_id FROM events WHERE event_id = $1", [joinCarol.id]);
    expect(outlier).toBeDefined();
    expect(results[carolMsg.id]?.error).toMatch(/auth|state|member|join/i);
    expect(results["!nowhere:example.org"]).toBeUndefined();

    // Accepted PDUs are in the room for its local members.
    const ctx = await api(b, "GET", `/rooms/${enc(roomId)}/event/${enc(msg.id)}`, alice.token);
    expect(ctx.status).toBe(200);
    expect((ctx.json.content as J).body).toBe("hi");
    const forgedSeen = await api(b, "GET", `/rooms/${enc(roomId)}/event/${enc(forgedMsg.id)}`, alice.token);
    expect(forgedSeen.status).toBe(404);

    // A retry of the same transaction id gets the same answer and changes nothing.
    const again = await sendTxn(txnId, [joinBob.pdu, msg.pdu] as JsonObject[]);
    expect(again.status).toBe(200);
    expect(again.json).toEqual(r.json);
  });

  it("refuses transactions over 50 PDUs and bodies that are not transactions", async () => {
    const many = await sendTxn(
      `big-${Date.now()}`,
      Array.from({ length: 51 }, () => ({})),
    );
    expect([many.status, many.json.errcode]).toEqual([400, "M_BAD_JSON"]);
    const uri = `/_matrix/federation/v1/send/bad-${Date.now()}`;
    const body = { origin: peer.name, pdus: "nope" };
    const bad = await fedRequest(b, "PUT", uri, { body, authorization: signRequestHeader(peer.remote.key, peer.name, nameB, "PUT", uri, body) });
    expect([bad.status, bad.json.errcode]).toEqual([400, "M_BAD_JSON"]);
  });
});
