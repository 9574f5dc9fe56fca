import { readFileSync } from "node:fs";
import https from "node:https";
import sharp from "sharp";
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getRoomVersion, type Pdu } from "../src/core/index.js";
import { signRequestHeader } from "../src/federation/x-matrix.js";
import { parseMediaMultipart } from "../src/media/multipart-parse.js";
import { keysOf, TestServer as RemoteServer, type Built } from "../test/support/remote-server.js";
import { coreKey, freePort, insecureAgent, makeTestCertificate, removeTestCertificate, startFederated, type TlsFiles } from "./federation-helpers.js";
import type { TestServer } from "./harness.js";
import { api, createRoom, enc, newUser, type J, type TestUser } from "./sync-helpers.js";

/**
 * Server-server "Content Repository" across two instances on loopback over
 * HTTPS (A serves its media, B fetches, caches and serves it to its
 * clients), plus remote profiles, remote room directories and the user
 * directory. What A cannot play (legacy fallback, redirects, malformed
 * multipart, profile and directory answers) a small HTTPS stand-in plays.
 */
let tls: TlsFiles;
let a: TestServer;
let b: TestServer;
let nameA: string;
let nameB: string;
let alice: TestUser;
let bob: TestUser;
let peer: Peer;

const MAX_UPLOAD = 1024 * 1024;

interface PeerRequest {
  url: string;
  authorization: string | undefined;
  body: string;
}

interface PeerAnswer {
  status: number;
  headers?: Record<string, string>;
  body: Buffer | string | J;
}

interface Peer {
  name: string;
  port: number;
  requests: PeerRequest[];
  /** Answers by path prefix; undefined falls through to 404 M_UNRECOGNIZED. */
  handler: (req: PeerRequest) => PeerAnswer | undefined;
  close(): Promise<void>;
}

async function startPeer(): Promise<Peer> {
  const port = await freePort();
  const p: Peer = { name: `localhost:${port}`, port, requests: [], handler: () => undefined, close: async () => {} };
  const server = https.createServer({ cert: readFileSync(tls.certificate), key: readFileSync(tls.key) }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const r: PeerRequest = { url: req.url ?? "", authorization: req.headers.authorization, body: Buffer.concat(chunks).toString("utf8") };
      p.requests.push(r);
      const out: PeerAnswer = p.handler(r) ?? { status: 404, body: { errcode: "M_UNRECOGNIZED", error: "Unrecognized request" } };
      const isJson = !Buffer.isBuffer(out.body) && typeof out.body !== "string";
      res.writeHead(out.status, { ...(isJson ? { "content-type": "application/json" } : {}), ...out.headers });
      res.end(isJson ? JSON.stringify(out.body) : out.body);
    });
  });
  await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));
  p.close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return p;
}

const multipart = (second: string | Buffer, boundary = "b0undary") =>
  Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Type: application/json\r\n\r\n{}\r\n--${boundary}\r\n`),
    Buffer.isBuffer(second) ? second : Buffer.from(second),
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
const mixed = { "content-type": "multipart/mixed; boundary=b0undary" };

async function png(w: number, h: number, color = { r: 200, g: 30, b: 90 }): Promise<Buffer> {
  return sharp({ create: { width: w, height: h, channels: 3, background: color } })
    .png()
    .toBuffer();
}

async function upload(hs: TestServer, u: TestUser, data: Buffer, type: string, name?: string): Promise<string> {
  const r = await hs.request("POST", `/_matrix/media/v3/upload${name ? `?filename=${enc(name)}` : ""}`, {
    token: u.token,
    rawBody: data,
    headers: { "content-type": type },
  });
  expect(r.status, r.text).toBe(200);
  return (r.json.content_uri as string).split("/").pop()!;
}

async function download(
  hs: TestServer,
  token: string,
  server: string,
  id: string,
  query = "",
): Promise<{ status: number; type: string | null; bytes: Buffer; json: J | undefined }> {
  const res = await fetch(`${hs.url}/_matrix/client/v1/media/download/${enc(server)}/${id}${query}`, { headers: { authorization: `Bearer ${token}` } });
  const bytes = Buffer.from(await res.arrayBuffer());
  let json: J | undefined;
  try {
    json = JSON.parse(bytes.toString("utf8")) as J;
  } catch {
    json = undefined;
  }
  return { status: res.status, type: res.headers.get("content-type"), bytes, json };
}

const thumbnail = (hs: TestServer, token: string, server: string, id: string, q: string) =>
  fetch(`${hs.url}/_matrix/client/v1/media/thumbnail/${enc(server)}/${id}?${q}`, { headers: { authorization: `Bearer ${token}` } }).then(async (res) => ({
    status: res.status,
    type: res.headers.get("content-type"),
    bytes: Buffer.from(await res.arrayBuffer()),
  }));

/** A request to A's federation listener signed as B (or unsigned). */
async function fedGet(uri: string, signed = true): Promise<{ status: number; type: string | undefined; body: Buffer }> {
  const headers: Record<string, string> = signed ? { authorization: signRequestHeader(coreKey(b), nameB, nameA, "GET", uri, undefined) } : {};
  const res = await request(`${a.federationUrl}${uri}`, { dispatcher: insecureAgent, headers });
  const body = Buffer.from(await res.body.arrayBuffer());
  const type = res.headers["content-type"];
  return { status: res.statusCode, type: Array.isArray(type) ? type[0] : type, body };
}

let image: Buffer;
let imageId: string;
/** Media of A of which B has only fetched a thumbnail. */
let thumbOnly: { id: string; bytes: Buffer };

beforeAll(async () => {
  tls = makeTestCertificate();
  const [pa, pb] = [await freePort(), await freePort()];
  nameA = `localhost:${pa}`;
  nameB = `localhost:${pb}`;
  a = await startFederated(tls, pa);
  // B's redirects may reach 127.0.0.1 (the stand-in) but no other private address.
  b = await startFederated(
    tls,
    pb,
    {},
    { media: { max_upload_bytes: MAX_UPLOAD, remote: { redirect_allow_ip_ranges: ["127.0.0.1/32"], timeout_ms: 15_000 } } },
  );
  [alice, bob] = await Promise.all([newUser(a, "alice"), newUser(b, "bob")]);
  peer = await startPeer();
  image = await png(300, 200);
  imageId = await upload(a, alice, image, "image/png", "pic.png");
}, 120_000);

afterAll(async () => {
  await peer?.close();
  await a?.close();
  await b?.close();
  removeTestCertificate(tls);
});

describe('Server-server "Content Repository": serving our media', () => {
  it("answers a signed download with multipart/mixed: {} then the bytes with their type and name", async () => {
    const r = await fedGet(`/_matrix/federation/v1/media/download/${imageId}`);
    expect(r.status).toBe(200);
    const parsed = parseMediaMultipart(r.type, r.body);
    expect(parsed.metadata).toEqual({});
    expect(parsed.media.headers["content-type"]).toBe("image/png");
    expect(parsed.media.headers["content-disposition"]).toBe('inline; filename="pic.png"');
    expect(parsed.media.body.equals(image)).toBe(true);
  });

  it("answers a signed thumbnail request with a multipart image no smaller than asked", async () => {
    const r = await fedGet(`/_matrix/federation/v1/media/thumbnail/${imageId}?width=96&height=96&method=crop`);
    expect(r.status).toBe(200);
    const parsed = parseMediaMultipart(r.type, r.body);
    expect(parsed.media.headers["content-type"]).toMatch(/^image\/(png|jpeg|webp)$/);
    const meta = await sharp(parsed.media.body).metadata();
    expect([meta.width, meta.height]).toEqual([96, 96]);
  });

  it("refuses an unsigned request with 401 M_UNAUTHORIZED and a missing id with 404 M_NOT_FOUND", async () => {
    const unsigned = await fedGet(`/_matrix/federation/v1/media/download/${imageId}`, false);
    expect([unsigned.status, JSON.parse(unsigned.body.toString()).errcode]).toEqual([401, "M_UNAUTHORIZED"]);
    const thumbUnsigned = await fedGet(`/_matrix/federation/v1/media/thumbnail/${imageId}?width=32&height=32`, false);
    expect(thumbUnsigned.status).toBe(401);
    const missing = await fedGet("/_matrix/federation/v1/media/download/doesNotExist123");
    expect([missing.status, JSON.parse(missing.body.toString()).errcode]).toEqual([404, "M_NOT_FOUND"]);
    const badThumb = await fedGet(`/_matrix/federation/v1/media/thumbnail/${imageId}?width=0&height=32`);
    expect(badThumb.status).toBe(400);
  });
});

describe("remote media for our clients", () => {
  it("B's client downloads media uploaded on A, with the same bytes and type; allow_remote=false and unknown ids are 404", async () => {
    const none = await download(b, bob.token, nameA, imageId, "?allow_remote=false");
    expect([none.status, none.json?.errcode]).toEqual([404, "M_NOT_FOUND"]);
    const r = await download(b, bob.token, nameA, imageId);
    expect(r.status).toBe(200);
    expect(r.type).toBe("image/png");
    expect(r.bytes.equals(image)).toBe(true);
    const missing = await download(b, bob.token, nameA, "noSuchMedia42");
    expect([missing.status, missing.json?.errcode]).toEqual([404, "M_NOT_FOUND"]);
    // Once cached, allow_remote=false serves it.
    expect((await download(b, bob.token, nameA, imageId, "?allow_remote=false")).status).toBe(200);
    // The deprecated unauthenticated endpoint is frozen for media cached now (spec: "newly-uploaded" for remote media).
    const legacy = await b.request("GET", `/_matrix/media/v3/download/${enc(nameA)}/${imageId}`);
    expect([legacy.status, legacy.json?.errcode]).toEqual([404, "M_NOT_FOUND"]);
  });

  it("B's client gets a thumbnail of A's media from A's thumbnail endpoint, cached without the original", async () => {
    const other = await png(640, 480, { r: 10, g: 200, b: 10 });
    const id = await upload(a, alice, other, "image/png");
    expect((await thumbnail(b, bob.token, nameA, id, "width=32&height=32&method=crop&allow_remote=false")).status).toBe(404);
    const t = await thumbnail(b, bob.token, nameA, id, "width=32&height=32&method=crop");
    expect(t.status).toBe(200);
    expect(t.type).toMatch(/^image\/(png|jpeg|webp)$/);
    const meta = await sharp(t.bytes).metadata();
    expect([meta.width, meta.height]).toEqual([32, 32]);
    const rows = await b.server.sql.query<{ n: number }>("SELECT count(*)::int AS n FROM media WHERE origin = $1 AND media_id = $2", [nameA, id]);
    expect(rows[0]!.n).toBe(0);
    const thumbs = await b.server.sql.query<{ n: number }>("SELECT count(*)::int AS n FROM media_thumbnails WHERE origin = $1 AND media_id = $2", [nameA, id]);
    expect(thumbs[0]!.n).toBe(1);
    thumbOnly = { id, bytes: t.bytes };
  });

  it("concurrent requests for the same remote media make one fetch", async () => {
    const data = Buffer.from("shared bytes ".repeat(100));
    let served = 0;
    peer.handler = (r) => {
      if (!r.url.startsWith("/_matrix/federation/v1/media/download/coalesce1")) return undefined;
      served++;
      return { status: 200, headers: mixed, body: multipart(Buffer.concat([Buffer.from("Content-Type: text/plain\r\n\r\n"), data])) };
    };
    const all = await Promise.all(Array.from({ length: 6 }, () => download(b, bob.token, peer.name, "coalesce1")));
    for (const r of all) {
      expect(r.status).toBe(200);
      expect(r.bytes.equals(data)).toBe(true);
    }
    expect(served).toBe(1);
    const req = peer.requests.find((x) => x.url.startsWith("/_matrix/federation/v1/media/download/coalesce1"))!;
    expect(req.authorization).toMatch(/^X-Matrix /);
  });

  it("falls back to the legacy endpoint, unsigned and with allow_remote=false, only on 404 M_UNRECOGNIZED", async () => {
    const data = Buffer.from("legacy bytes");
    peer.handler = (r) => {
      if (r.url.startsWith(`/_matrix/media/v3/download/${enc(peer.name)}/legacy1`)) {
        return { status: 200, headers: { "content-type": "text/plain", "content-disposition": 'attachment; filename="old.txt"' }, body: data };
      }
      if (r.url.startsWith("/_matrix/federation/v1/media/download/gone1")) return { status: 404, body: { errcode: "M_NOT_FOUND", error: "no" } };
      return undefined;
    };
    const r = await download(b, bob.token, peer.name, "legacy1");
    expect(r.status).toBe(200);
    expect(r.bytes.equals(data)).toBe(true);
    const legacy = peer.requests.find((x) => x.url.startsWith("/_matrix/media/v3/download/"))!;
    expect(new URL(legacy.url, "https://x").searchParams.get("allow_remote")).toBe("false");
    expect(legacy.authorization).toBeUndefined();
    const [row] = await b.server.sql.query<{ upload_name: string }>("SELECT upload_name FROM media WHERE origin = $1 AND media_id = 'legacy1'", [peer.name]);
    expect(row!.upload_name).toBe("old.txt");
    // A plain 404 M_NOT_FOUND is final: no legacy request.
    const before = peer.requests.length;
    const gone = await download(b, bob.token, peer.name, "gone1");
    expect([gone.status, gone.json?.errcode]).toEqual([404, "M_NOT_FOUND"]);
    expect(peer.requests.slice(before).map((x) => x.url.split("?")[0])).toEqual(["/_matrix/federation/v1/media/download/gone1"]);
  });

  it("follows a Location part to an allowed address, and refuses one pointing at a private address", async () => {
    const data = Buffer.from("from the cdn");
    peer.handler = (r) => {
      if (r.url.startsWith("/_matrix/federation/v1/media/download/redir1")) {
        return { status: 200, headers: mixed, body: multipart(`Location: https://127.0.0.1:${peer.port}/cdn/redir1\r\n\r\n`) };
      }
      if (r.url.startsWith("/_matrix/federation/v1/media/download/redir2")) {
        return { status: 200, headers: mixed, body: multipart(`Location: https://127.0.0.2:${peer.port}/cdn/redir2\r\n\r\n`) };
      }
      if (r.url === "/cdn/redir1") return { status: 200, headers: { "content-type": "text/plain" }, body: data };
      return undefined;
    };
    const ok = await download(b, bob.token, peer.name, "redir1");
    expect(ok.status).toBe(200);
    expect(ok.bytes.equals(data)).toBe(true);
    const refused = await download(b, bob.token, peer.name, "redir2");
    expect(refused.status).toBe(502);
    expect(refused.json?.error).toMatch(/address this server does not fetch from/);
    expect(peer.requests.some((x) => x.url === "/cdn/redir2")).toBe(false);
    const cached = await b.server.sql.query("SELECT 1 FROM media WHERE origin = $1 AND media_id = 'redir2'", [peer.name]);
    expect(cached).toHaveLength(0);
  });

  it("maps malformed, over-size and not-yet-uploaded answers to 502, 502 M_TOO_LARGE and 504", async () => {
    peer.handler = (r) => {
      const u = r.url.split("?")[0];
      if (u === "/_matrix/federation/v1/media/download/broken1")
        return { status: 200, headers: mixed, body: Buffer.from("--b0undary\r\nContent-Type: application/json\r\n\r\n{}") };
      if (u === "/_matrix/federation/v1/media/download/onepart1")
        return { status: 200, headers: mixed, body: Buffer.from("--b0undary\r\nContent-Type: application/json\r\n\r\n{}\r\n--b0undary--") };
      if (u === "/_matrix/federation/v1/media/download/huge1")
        return {
          status: 200,
          headers: mixed,
          body: multipart(Buffer.concat([Buffer.from("Content-Type: application/octet-stream\r\n\r\n"), Buffer.alloc(MAX_UPLOAD + 1)])),
        };
      if (u === "/_matrix/federation/v1/media/download/later1") return { status: 504, body: { errcode: "M_NOT_YET_UPLOADED", error: "later" } };
      if (u === "/_matrix/federation/v1/media/download/oops1") return { status: 500, body: { errcode: "M_UNKNOWN", error: "oops" } };
      return undefined;
    };
    expect((await download(b, bob.token, peer.name, "broken1")).status).toBe(502);
    expect((await download(b, bob.token, peer.name, "onepart1")).status).toBe(502);
    const huge = await download(b, bob.token, peer.name, "huge1");
    expect([huge.status, huge.json?.errcode]).toEqual([502, "M_TOO_LARGE"]);
    const later = await download(b, bob.token, peer.name, "later1");
    expect([later.status, later.json?.errcode]).toEqual([504, "M_NOT_YET_UPLOADED"]);
    expect((await download(b, bob.token, peer.name, "oops1")).status).toBe(502);
    const cached = await b.server.sql.query(
      "SELECT media_id FROM media WHERE origin = $1 AND media_id IN ('broken1', 'onepart1', 'huge1', 'later1', 'oops1')",
      [peer.name],
    );
    expect(cached).toHaveLength(0);
  });
});

describe("remote profiles and room directories", () => {
  it("B's client reads a remote user's profile through /query/profile, cached briefly; unknown users are 404", async () => {
    peer.handler = (r) => {
      const u = new URL(r.url, "https://x");
      if (u.pathname !== "/_matrix/federation/v1/query/profile") return undefined;
      if (u.searchParams.get("user_id") === `@dora:${peer.name}`)
        return { status: 200, body: { displayname: "Dora", avatar_url: "mxc://x/y", "m.tz": "Europe/Paris" } };
      return { status: 404, body: { errcode: "M_NOT_FOUND", error: "no such user" } };
    };
    const dora = `@dora:${peer.name}`;
    const p = await api(b, "GET", `/profile/${enc(dora)}`, bob.token);
    expect(p.status).toBe(200);
    expect(p.json).toEqual({ displayname: "Dora", avatar_url: "mxc://x/y", "m.tz": "Europe/Paris" });
    const dn = await api(b, "GET", `/profile/${enc(dora)}/displayname`, bob.token);
    expect(dn.json).toEqual({ displayname: "Dora" });
    const asked = peer.requests.filter((x) => x.url.startsWith("/_matrix/federation/v1/query/profile"));
    expect(asked).toHaveLength(1);
    expect(asked[0]!.authorization).toMatch(/^X-Matrix /);
    const nobody = await api(b, "GET", `/profile/${enc(`@nobody:${peer.name}`)}`, bob.token);
    expect([nobody.status, nobody.json.errcode]).toEqual([404, "M_NOT_FOUND"]);
  });

  it("B lists a remote server's public rooms with server=, passing limit, since and the filter on", async () => {
    const room = { room_id: "!r1:remote", num_joined_members: 3, world_readable: false, guest_can_join: false, join_rule: "public", name: "Remote room" };
    peer.handler = (r) => {
      const u = new URL(r.url, "https://x");
      if (u.pathname !== "/_matrix/federation/v1/publicRooms") return undefined;
      return { status: 200, body: { chunk: [room, { no: "room id" }], next_batch: "n2", total_room_count_estimate: 7 } };
    };
    const get = await b.request("GET", `/_matrix/client/v3/publicRooms?server=${enc(peer.name)}&limit=1&since=p1`, { token: bob.token });
    expect(get.status).toBe(200);
    expect(get.json).toEqual({ chunk: [room], next_batch: "n2", total_room_count_estimate: 7 });
    const g = new URL(peer.requests.filter((x) => x.url.startsWith("/_matrix/federation/v1/publicRooms")).pop()!.url, "https://x");
    expect([g.searchParams.get("limit"), g.searchParams.get("since")]).toEqual(["1", "p1"]);
    const post = await b.request("POST", `/_matrix/client/v3/publicRooms?server=${enc(peer.name)}`, {
      token: bob.token,
      body: { limit: 5, filter: { generic_search_term: "remote", room_types: [null] } },
    });
    expect(post.status).toBe(200);
    expect((post.json.chunk as J[]).map((x) => x.room_id)).toEqual(["!r1:remote"]);
    const sent = peer.requests.filter((x) => x.url.startsWith("/_matrix/federation/v1/publicRooms")).pop()!;
    expect(JSON.parse(sent.body)).toEqual({ limit: 5, filter: { generic_search_term: "remote", room_types: [null] } });
    // Anonymous clients may not make this server ask others.
    const anon = await b.request("GET", `/_matrix/client/v3/publicRooms?server=${enc(peer.name)}`);
    expect(anon.status).toBe(401);
    // A bad server name is refused before anything is sent.
    const bad = await b.request("GET", "/_matrix/client/v3/publicRooms?server=bad%20name", { token: bob.token });
    expect([bad.status, bad.json.errcode]).toEqual([400, "M_INVALID_PARAM"]);
  });

  it("B resolves a remote alias through that server's /query/directory", async () => {
    const alias = `#lobby:${peer.name}`;
    peer.handler = (r) => {
      const u = new URL(r.url, "https://x");
      if (u.pathname !== "/_matrix/federation/v1/query/directory") return undefined;
      if (u.searchParams.get("room_alias") === alias)
        return { status: 200, body: { room_id: "!lobby:remote", servers: [peer.name, "bad name!", "other.example"] } };
      return { status: 404, body: { errcode: "M_NOT_FOUND", error: "no alias" } };
    };
    const r = await api(b, "GET", `/directory/room/${enc(alias)}`, bob.token);
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ room_id: "!lobby:remote", servers: [peer.name, "other.example"] });
    const missing = await api(b, "GET", `/directory/room/${enc(`#none:${peer.name}`)}`, bob.token);
    expect([missing.status, missing.json.errcode]).toEqual([404, "M_NOT_FOUND"]);
  });

  it("an unreachable server's profile or directory is 502, not a hang", async () => {
    const dead = `localhost:${await freePort()}`;
    const p = await api(b, "GET", `/profile/${enc(`@x:${dead}`)}`, bob.token);
    expect(p.status).toBe(502);
    const d = await b.request("GET", `/_matrix/client/v3/publicRooms?server=${enc(dead)}`, { token: bob.token });
    expect(d.status).toBe(502);
  });

  it("the user directory finds remote users who share a room with the searcher, by their member display name", async () => {
    const remote = new RemoteServer("carol.test");
    const rv = getRoomVersion("10")!;
    const roomId = await createRoom(b, bob, { preset: "public_chat", room_version: "10" });
    const stored = async (eventId: string): Promise<Built> => {
      const [row] = await b.server.sql.query<{ pdu: string; depth: number }>("SELECT pdu, depth FROM events WHERE event_id = $1", [eventId]);
      return { pdu: JSON.parse(row!.pdu) as Pdu, id: eventId, depth: Number(row!.depth) };
    };
    const state = (await api<J[]>(b, "GET", `/rooms/${enc(roomId)}/state`, bob.token)).json;
    const id = (type: string) => state.find((e) => e.type === type && e.state_key === "")!.event_id as string;
    const [head] = await b.server.sql.query<{ event_id: string }>("SELECT event_id FROM room_forward_extremities WHERE room_id = $1", [roomId]);
    const auth = [await stored(id("m.room.create")), await stored(id("m.room.power_levels")), await stored(id("m.room.join_rules"))];
    const carol = remote.user("carol");
    const join = remote.event(rv, roomId, {
      type: "m.room.member",
      sender: carol,
      stateKey: carol,
      content: { membership: "join", displayname: "Carol Faraway" },
      prev: [await stored(head!.event_id)],
      auth,
    });
    expect((await b.server.roomInput.persist(roomId, join.pdu, { kind: "new", keys: keysOf(remote) })).status).toBe("accepted");
    const r = await api(b, "POST", "/user_directory/search", bob.token, { search_term: "faraway" });
    expect(r.status).toBe(200);
    expect(r.json.results).toEqual([{ user_id: carol, display_name: "Carol Faraway" }]);
  });
});

describe("A's profiles, aliases and public rooms, seen from B", () => {
  it("B's client reads the profile of A's user", async () => {
    expect((await api(a, "PUT", `/profile/${enc(alice.userId)}/displayname`, alice.token, { displayname: "Alice of A" })).status).toBe(200);
    const p = await api(b, "GET", `/profile/${enc(alice.userId)}`, bob.token);
    expect(p.status).toBe(200);
    expect(p.json.displayname).toBe("Alice of A");
    const dn = await api(b, "GET", `/profile/${enc(alice.userId)}/displayname`, bob.token);
    expect(dn.json).toEqual({ displayname: "Alice of A" });
    const nobody = await api(b, "GET", `/profile/${enc(`@nobody:${nameA}`)}`, bob.token);
    expect([nobody.status, nobody.json.errcode]).toEqual([404, "M_NOT_FOUND"]);
  });

  it("B lists A's public rooms with server= (GET and POST with a filter) and resolves A's alias", async () => {
    const roomId = await createRoom(a, alice, { preset: "public_chat", visibility: "public", name: "Lobby of A", room_alias_name: "lobby" });
    const get = await b.request("GET", `/_matrix/client/v3/publicRooms?server=${enc(nameA)}`, { token: bob.token });
    expect(get.status).toBe(200);
    const entry = (get.json.chunk as J[]).find((r) => r.room_id === roomId);
    expect(entry).toMatchObject({ room_id: roomId, name: "Lobby of A", num_joined_members: 1, join_rule: "public" });
    const post = await b.request("POST", `/_matrix/client/v3/publicRooms?server=${enc(nameA)}`, {
      token: bob.token,
      body: { limit: 5, filter: { generic_search_term: "lobby of" } },
    });
    expect(post.status).toBe(200);
    expect((post.json.chunk as J[]).map((r) => r.room_id)).toEqual([roomId]);
    const alias = await api(b, "GET", `/directory/room/${enc(`#lobby:${nameA}`)}`, bob.token);
    expect(alias.status).toBe(200);
    expect(alias.json.room_id).toBe(roomId);
    expect(alias.json.servers).toContain(nameA);
  });
});

describe("the cache outlives the origin", () => {
  it("with A stopped, B still serves A's media and thumbnail from its cache", async () => {
    const t1 = await thumbnail(b, bob.token, nameA, imageId, "width=96&height=96&method=crop");
    expect(t1.status).toBe(200);
    await a.close();
    const r = await download(b, bob.token, nameA, imageId);
    expect(r.status).toBe(200);
    expect(r.bytes.equals(image)).toBe(true);
    const t2 = await thumbnail(b, bob.token, nameA, imageId, "width=96&height=96&method=crop");
    expect(t2.status).toBe(200);
    expect(t2.bytes.equals(t1.bytes)).toBe(true);
    const t3 = await thumbnail(b, bob.token, nameA, thumbOnly.id, "width=32&height=32&method=crop");
    expect(t3.status).toBe(200);
    expect(t3.bytes.equals(thumbOnly.bytes)).toBe(true);
    // Not cached and the origin gone: 502, not a hang.
    const gone = await download(b, bob.token, nameA, "neverFetched1");
    expect(gone.status).toBe(502);
    // Purging the remote cache drops the media and the thumbnail-only entry; with the origin gone they are 502 now.
    await b.server.sql.query("UPDATE users SET is_admin = true WHERE user_id = $1", [bob.userId]);
    const purge = await b.request("POST", `/_synapse/admin/v1/purge_media_cache?before_ts=${Date.now() + 1000}`, { token: bob.token });
    expect(purge.status).toBe(200);
    expect(purge.json.deleted).toBeGreaterThanOrEqual(1);
    const left = await b.server.sql.query("SELECT media_id FROM media_thumbnails WHERE origin = $1", [nameA]);
    expect(left).toHaveLength(0);
    expect((await download(b, bob.token, nameA, imageId)).status).toBe(502);
    expect((await thumbnail(b, bob.token, nameA, thumbOnly.id, "width=32&height=32&method=crop")).status).toBe(502);
  });
});
