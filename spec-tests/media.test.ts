import { spawn } from "node:child_process";
import { createHash, createHmac } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import v8 from "node:v8";
import { runInNewContext } from "node:vm";
import sharp from "sharp";
import { createClient } from "matrix-js-sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "./harness.js";

type J = Record<string, unknown>;
let hs: TestServer;
let alice: { user_id: string; access_token: string };
let bob: { user_id: string; access_token: string };
let admin: { user_id: string; access_token: string };
let pagesInternal: http.Server;
let pagesExternal: http.Server;
let internalPort = 0;
let externalPort = 0;
let png: Buffer;

const QUOTA = 60_000_000;
const FIFTY_MB = 50 * 1000 * 1000;

async function register(username: string) {
  const first = await hs.request<J>("POST", "/_matrix/client/v3/register", { body: { username, password: "pass-word-1" } });
  expect(first.status).toBe(401);
  const r = await hs.request<{ user_id: string; access_token: string }>("POST", "/_matrix/client/v3/register", {
    body: { username, password: "pass-word-1", auth: { type: "m.login.dummy", session: first.json.session } },
  });
  expect(r.status).toBe(200);
  return r.json;
}

async function registerAdmin(username: string) {
  const { json } = await hs.request<{ nonce: string }>("GET", "/_synapse/admin/v1/register");
  const mac = createHmac("sha1", "media-secret").update(`${json.nonce}\0${username}\0pass-word-1\0admin`).digest("hex");
  const r = await hs.request<{ user_id: string; access_token: string }>("POST", "/_synapse/admin/v1/register", {
    body: { nonce: json.nonce, username, password: "pass-word-1", admin: true, mac },
  });
  expect(r.status).toBe(200);
  return r.json;
}

async function upload(token: string, data: string | Uint8Array, type?: string, filename?: string) {
  const q = filename ? `?filename=${encodeURIComponent(filename)}` : "";
  const headers: Record<string, string> = type ? { "content-type": type } : {};
  return hs.request<{ content_uri: string }>("POST", `/_matrix/media/v3/upload${q}`, { rawBody: data, token, headers });
}

const mediaPath = (mxc: string) => mxc.slice("mxc://".length);

async function download(mxc: string, token?: string, suffix = "", headers: Record<string, string> = {}) {
  const res = await fetch(`${hs.url}/_matrix/client/v1/media/download/${mediaPath(mxc)}${suffix}`, {
    headers: { ...headers, ...(token ? { authorization: `Bearer ${token}` } : {}) },
  });
  return { res, body: Buffer.from(await res.arrayBuffer()) };
}

function listen(server: http.Server, host: string): Promise<number> {
  return new Promise((resolve) => server.listen(0, host, () => resolve((server.address() as AddressInfo).port)));
}

/** The child's script: streams `size` deterministic bytes to the upload endpoint, prints status, body and sha256. */
const CHILD_UPLOADER = `
import http from "node:http";
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
const [url, token, total] = [process.argv[1], process.argv[2], Number(process.argv[3])];
const hash = createHash("sha256");
let sent = 0, n = 0;
const body = new Readable({ read() {
  if (sent >= total) return this.push(null);
  const size = Math.min(65536, total - sent);
  const chunk = Buffer.alloc(size);
  for (let i = 0; i + 4 <= size; i += 4) chunk.writeUInt32LE((n++ * 2654435761) >>> 0, i);
  sent += size; hash.update(chunk); this.push(chunk);
} });
const u = new URL(url);
const req = http.request({ host: u.hostname, port: u.port, path: u.pathname, method: "POST",
  headers: { authorization: "Bearer " + token, "content-type": "application/octet-stream", "content-length": total } }, (res) => {
  let text = ""; res.setEncoding("utf8"); res.on("data", (c) => (text += c));
  res.on("end", () => process.stdout.write(JSON.stringify({ status: res.statusCode, json: JSON.parse(text), sha256: hash.digest("hex") })));
});
body.pipe(req);
`;

function exposeGc(): (opts: { type: "minor" | "major" }) => void {
  v8.setFlagsFromString("--expose-gc");
  return runInNewContext("gc") as (opts: { type: "minor" | "major" }) => void;
}

function uploadFromChild(token: string, size: number): Promise<{ status: number; json: J; sha256: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--input-type=module", "-e", CHILD_UPLOADER, `${hs.url}/_matrix/media/v3/upload`, token, String(size)], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (c: string) => (out += c));
    child.on("error", reject);
    child.on("exit", (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`uploader exited with ${code}`))));
  });
}

/** Sends only the headers of an upload declaring `length` bytes and returns the server's early answer. */
function declaredUpload(token: string, length: number): Promise<{ status: number; json: J }> {
  const u = new URL(`${hs.url}/_matrix/media/v3/upload`);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: u.hostname, port: u.port, path: u.pathname, method: "POST", headers: { authorization: `Bearer ${token}`, "content-length": length } },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (text += c));
        res.on("end", () => {
          resolve({ status: res.statusCode!, json: text ? (JSON.parse(text) as J) : {} });
          req.destroy();
        });
      },
    );
    req.on("error", reject);
    req.flushHeaders();
  });
}

beforeAll(async () => {
  hs = await startTestServer({
    registration: { enabled: true, shared_secret: "media-secret" },
    media: { max_bytes_per_user: QUOTA, url_preview: { enabled: true, allow_ip_ranges: ["127.0.0.2/32"], timeout_ms: 5000 } },
  });
  alice = await register("alice");
  bob = await register("bob");
  admin = await registerAdmin("boss");
  png = await sharp({ create: { width: 640, height: 480, channels: 3, background: { r: 200, g: 30, b: 90 } } })
    .png()
    .toBuffer();

  // Web pages for the URL preview: 127.0.0.2 is allowed by the config, 127.0.0.1 stays refused.
  pagesInternal = http.createServer((_req, res) => res.end("<title>internal secret</title>"));
  pagesExternal = http.createServer((req, res) => {
    if (req.url === "/image.png") {
      res.writeHead(200, { "content-type": "image/png" });
      return res.end(png);
    }
    if (req.url === "/to-internal") {
      res.writeHead(302, { location: `http://127.0.0.1:${internalPort}/` });
      return res.end();
    }
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end(
      `<html><head><title>fallback</title><meta property="og:title" content="Preview title">` +
        `<meta property="og:description" content="About things"><meta property="og:image" content="/image.png"></head></html>`,
    );
  });
  internalPort = await listen(pagesInternal, "127.0.0.1");
  externalPort = await listen(pagesExternal, "127.0.0.2");
});

afterAll(async () => {
  pagesInternal?.close();
  pagesExternal?.close();
  await hs?.close();
});

describe("media config", () => {
  it("advertises m.upload.size on the authenticated and legacy endpoints", async () => {
    const a = await hs.request<J>("GET", "/_matrix/client/v1/media/config", { token: alice.access_token });
    expect(a.status).toBe(200);
    expect(a.json["m.upload.size"]).toBe(52428800);
    const b = await hs.request<J>("GET", "/_matrix/media/v3/config", { token: alice.access_token });
    expect(b.json["m.upload.size"]).toBe(52428800);
    const c = await hs.request<J>("GET", "/_matrix/client/v1/media/config");
    expect(c.status).toBe(401);
    expect(c.json.errcode).toBe("M_MISSING_TOKEN");
  });
});

describe("upload and download", () => {
  it("round-trips text byte for byte with safe headers", async () => {
    const text = "hello, media repo ✓\n";
    const up = await upload(alice.access_token, text, "text/plain; charset=utf-8", "hello.txt");
    expect(up.status).toBe(200);
    expect(up.json.content_uri).toMatch(/^mxc:\/\/localhost\/[A-Za-z0-9_-]{16,}$/);
    const { res, body } = await download(up.json.content_uri, bob.access_token);
    expect(res.status).toBe(200);
    expect(body.toString("utf8")).toBe(text);
    expect(res.headers.get("content-type")).toBe("text/plain; charset=utf-8");
    expect(res.headers.get("content-disposition")).toBe('inline; filename="hello.txt"');
    expect(res.headers.get("content-security-policy")).toContain("sandbox");
    expect(res.headers.get("cross-origin-resource-policy")).toBe("cross-origin");
    const named = await download(up.json.content_uri, bob.access_token, "/other%20name.txt");
    expect(named.res.headers.get("content-disposition")).toBe('inline; filename="other name.txt"');
  });

  it("round-trips a PNG byte for byte", async () => {
    const up = await upload(alice.access_token, png, "image/png", "pic.png");
    const { res, body } = await download(up.json.content_uri, alice.access_token);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("image/png");
    expect(body.equals(png)).toBe(true);
    const etag = res.headers.get("etag")!;
    expect(etag).toMatch(/^"[0-9a-f]{64}"$/);
    // (fetch adds "Cache-Control: no-cache" to conditional requests unless one is given.)
    const cached = await download(up.json.content_uri, alice.access_token, "", { "if-none-match": etag, "cache-control": "max-age=0" });
    expect(cached.res.status).toBe(304);
    expect(cached.body.length).toBe(0);
  });

  it("answers HEAD with the headers only", async () => {
    const up = await upload(alice.access_token, "head me", "text/plain");
    const res = await fetch(`${hs.url}/_matrix/client/v1/media/download/${mediaPath(up.json.content_uri)}`, {
      method: "HEAD",
      headers: { authorization: `Bearer ${alice.access_token}` },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-length")).toBe("7");
  });

  it("serves unsafe types as attachments and defaults the type", async () => {
    const html = await upload(alice.access_token, "<script>alert(1)</script>", "text/html", "x.html");
    const h = await download(html.json.content_uri, alice.access_token);
    expect(h.res.headers.get("content-disposition")).toBe('attachment; filename="x.html"');
    const none = await hs.request<{ content_uri: string }>("POST", "/_matrix/media/v3/upload", { rawBody: new Uint8Array([1, 2, 3]), token: alice.access_token });
    const n = await download(none.json.content_uri, alice.access_token);
    expect(n.res.headers.get("content-type")).toBe("application/octet-stream");
    expect(n.res.headers.get("content-disposition")).toBe("attachment");
  });

  it("answers a byte range", async () => {
    const up = await upload(alice.access_token, "0123456789", "text/plain");
    const { res, body } = await download(up.json.content_uri, alice.access_token, "", { range: "bytes=2-5" });
    expect(res.status).toBe(206);
    expect(res.headers.get("content-range")).toBe("bytes 2-5/10");
    expect(body.toString()).toBe("2345");
    const bad = await download(up.json.content_uri, alice.access_token, "", { range: "bytes=50-60" });
    expect(bad.res.status).toBe(416);
  });

  it("refuses unauthenticated v1 downloads with 401", async () => {
    const up = await upload(alice.access_token, "secret", "text/plain");
    const { res, body } = await download(up.json.content_uri);
    expect(res.status).toBe(401);
    expect(JSON.parse(body.toString()).errcode).toBe("M_MISSING_TOKEN");
    const bad = await download(up.json.content_uri, "not-a-token");
    expect(bad.res.status).toBe(401);
  });

  it("unknown media and bad ids -> 404 M_NOT_FOUND", async () => {
    // Remote media not cached is 404 when the client forbids fetching it (allow_remote=false).
    for (const p of ["localhost/doesNotExist123", "localhost/bad.id", "otherserver.example/abc?allow_remote=false"]) {
      const r = await hs.request<J>("GET", `/_matrix/client/v1/media/download/${p}`, { token: alice.access_token });
      expect(r.status).toBe(404);
      expect(r.json.errcode).toBe("M_NOT_FOUND");
    }
  });

  it("uploading needs an access token", async () => {
    const r = await hs.request<J>("POST", "/_matrix/media/v3/upload", { rawBody: "x" });
    expect(r.status).toBe(401);
    expect(r.json.errcode).toBe("M_MISSING_TOKEN");
  });

  it("over-size upload -> 413 M_TOO_LARGE before the body is read", async () => {
    const r = await declaredUpload(bob.access_token, 52428801);
    expect(r.status).toBe(413);
    expect(r.json.errcode).toBe("M_TOO_LARGE");
  });

  it("a 50 MB upload streams (RSS grows < 20 MB) and downloads identically", async () => {
    // The uploading client runs in a child process, so only the server's memory is measured here.
    // A first, smaller upload pays the one-time costs of the path (code, pools, allocator
    // arenas: ~30 MB whatever the size, measured), so what is left is growth with size.
    expect((await uploadFromChild(alice.access_token, 4_000_000)).status).toBe(200);
    // V8 frees the socket's read buffers lazily (tens of MB of garbage can wait for a GC),
    // so the sampler runs a cheap young-generation GC first: what is measured is memory
    // the upload holds, which must not grow with the file.
    const gc = exposeGc();
    gc({ type: "minor" });
    // RSS alone can hide retention (freed allocator memory is reused without growing it), so
    // the Buffer memory (arrayBuffers) is bounded as well.
    const start = process.memoryUsage();
    let peakRss = start.rss;
    let peakBuffers = start.arrayBuffers;
    const sample = () => {
      gc({ type: "minor" });
      const m = process.memoryUsage();
      peakRss = Math.max(peakRss, m.rss);
      peakBuffers = Math.max(peakBuffers, m.arrayBuffers);
    };
    const sampler = setInterval(sample, 10);
    const r = await uploadFromChild(alice.access_token, FIFTY_MB);
    clearInterval(sampler);
    sample();
    expect(r.status).toBe(200);
    expect(peakRss - start.rss).toBeLessThan(20 * 1024 * 1024);
    expect(peakBuffers - start.arrayBuffers).toBeLessThan(20 * 1024 * 1024);

    const res = await fetch(`${hs.url}/_matrix/client/v1/media/download/${mediaPath(r.json.content_uri as string)}`, {
      headers: { authorization: `Bearer ${bob.access_token}` },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-length")).toBe(String(FIFTY_MB));
    const downHash = createHash("sha256");
    let size = 0;
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      size += chunk.length;
      downHash.update(chunk);
    }
    expect(size).toBe(FIFTY_MB);
    expect(downHash.digest("hex")).toBe(r.sha256);
  });

  it("the per-user quota refuses with 403 M_FORBIDDEN", async () => {
    // alice has ~50 MB stored; the quota is 60 MB.
    const r = await declaredUpload(alice.access_token, 11_000_000);
    expect(r.status).toBe(403);
    expect(r.json.errcode).toBe("M_FORBIDDEN");
    const stillOk = await upload(alice.access_token, "small", "text/plain");
    expect(stillOk.status).toBe(200);
  });
});

describe("legacy unauthenticated endpoints", () => {
  it("are frozen for media uploaded while frozen", async () => {
    const up = await upload(alice.access_token, "new media", "text/plain");
    const r = await hs.request<J>("GET", `/_matrix/media/v3/download/${mediaPath(up.json.content_uri)}`);
    expect(r.status).toBe(404);
    expect(r.json.errcode).toBe("M_NOT_FOUND");
  });

  it("still serve media from before the freeze", async () => {
    const up = await upload(alice.access_token, "old media", "text/plain", "old.txt");
    // Mark it as uploaded before the freeze (what an upgraded server's old rows look like).
    await hs.server.sql.query("UPDATE media SET authenticated_only = false WHERE media_id = $1", [up.json.content_uri.split("/").pop()]);
    const r = await hs.request("GET", `/_matrix/media/v3/download/${mediaPath(up.json.content_uri)}`);
    expect(r.status).toBe(200);
    expect(r.text).toBe("old media");
    expect(r.headers.get("content-disposition")).toBe('inline; filename="old.txt"');
  });
});

describe("async uploads", () => {
  it("create, wait, upload once, by the creator only", async () => {
    const c = await hs.request<{ content_uri: string; unused_expires_at: number }>("POST", "/_matrix/media/v1/create", { token: alice.access_token });
    expect(c.status).toBe(200);
    expect(c.json.unused_expires_at).toBeGreaterThan(Date.now());
    const p = mediaPath(c.json.content_uri);

    const early = await hs.request<J>("GET", `/_matrix/client/v1/media/download/${p}?timeout_ms=0`, { token: bob.access_token });
    expect(early.status).toBe(504);
    expect(early.json.errcode).toBe("M_NOT_YET_UPLOADED");

    const foreign = await hs.request<J>("PUT", `/_matrix/media/v3/upload/${p}`, { rawBody: "x", token: bob.access_token });
    expect(foreign.status).toBe(403);
    expect(foreign.json.errcode).toBe("M_FORBIDDEN");

    // A download waiting with timeout_ms gets the content as soon as it arrives.
    const waiting = hs.request("GET", `/_matrix/client/v1/media/download/${p}?timeout_ms=10000`, { token: bob.access_token });
    await new Promise((r) => setTimeout(r, 100));
    const put = await hs.request<J>("PUT", `/_matrix/media/v3/upload/${p}?filename=late.txt`, {
      rawBody: "arrived later",
      token: alice.access_token,
      headers: { "content-type": "text/plain" },
    });
    expect(put.status).toBe(200);
    expect(put.json).toEqual({});
    const got = await waiting;
    expect(got.status).toBe(200);
    expect(got.text).toBe("arrived later");

    const again = await hs.request<J>("PUT", `/_matrix/media/v3/upload/${p}`, { rawBody: "y", token: alice.access_token });
    expect(again.status).toBe(409);
    expect(again.json.errcode).toBe("M_CANNOT_OVERWRITE_MEDIA");

    const unknown = await hs.request<J>("PUT", "/_matrix/media/v3/upload/localhost/neverCreated1", { rawBody: "y", token: alice.access_token });
    expect(unknown.status).toBe(404);
    expect(unknown.json.errcode).toBe("M_NOT_FOUND");
  });
});

describe("thumbnails", () => {
  let mxc: string;
  beforeAll(async () => {
    mxc = (await upload(alice.access_token, png, "image/png")).json.content_uri;
  });

  async function thumb(query: string, token: string | null = bob.access_token) {
    const res = await fetch(`${hs.url}/_matrix/client/v1/media/thumbnail/${mediaPath(mxc)}?${query}`, {
      headers: token ? { authorization: `Bearer ${token}` } : {},
    });
    return { res, body: Buffer.from(await res.arrayBuffer()) };
  }

  it.each([
    ["width=32&height=32&method=crop", 32, 32],
    ["width=96&height=96&method=crop", 96, 96],
    ["width=320&height=240&method=scale", 320, 240],
    ["width=640&height=480&method=scale", 640, 480],
  ])("%s has the requested dimensions and is a valid PNG", async (q, w, h) => {
    const { res, body } = await thumb(q);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("image/png");
    expect(res.headers.get("content-disposition")).toBe('inline; filename="thumbnail.png"');
    const meta = await sharp(body).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(["png", w, h]);
    // Cached: the same bytes the second time.
    const again = await thumb(q);
    expect(again.body.equals(body)).toBe(true);
  });

  it("JPEG sources give JPEG thumbnails", async () => {
    const jpeg = await sharp(png).jpeg().toBuffer();
    const up = await upload(alice.access_token, jpeg, "image/jpeg");
    const res = await fetch(`${hs.url}/_matrix/client/v1/media/thumbnail/${mediaPath(up.json.content_uri)}?width=96&height=96&method=crop`, {
      headers: { authorization: `Bearer ${bob.access_token}` },
    });
    const meta = await sharp(Buffer.from(await res.arrayBuffer())).metadata();
    expect([res.headers.get("content-type"), meta.format, meta.width, meta.height]).toEqual(["image/jpeg", "jpeg", 96, 96]);
  });

  it("animated=true keeps an animated GIF moving (WebP); otherwise a still PNG", async () => {
    const frame = (background: string) => sharp({ create: { width: 120, height: 80, channels: 4, background } }).png().toBuffer();
    const gif = await sharp([await frame("red"), await frame("blue")], { join: { animated: true } }).gif().toBuffer();
    const up = await upload(alice.access_token, gif, "image/gif");
    const get = async (animated: string) => {
      const res = await fetch(`${hs.url}/_matrix/client/v1/media/thumbnail/${mediaPath(up.json.content_uri)}?width=32&height=32&method=crop${animated}`, {
        headers: { authorization: `Bearer ${bob.access_token}` },
      });
      return { type: res.headers.get("content-type"), meta: await sharp(Buffer.from(await res.arrayBuffer()), { animated: true }).metadata() };
    };
    const moving = await get("&animated=true");
    expect([moving.type, moving.meta.format, moving.meta.pages]).toEqual(["image/webp", "webp", 2]);
    const still = await get("&animated=false");
    expect([still.type, still.meta.format, still.meta.pages ?? 1]).toEqual(["image/png", "png", 1]);
    const unspecified = await get("");
    expect(unspecified.type).toBe("image/png");
  });

  it("content smaller than the requested size comes back as it is, never upscaled", async () => {
    const small = await sharp({ create: { width: 20, height: 10, channels: 3, background: "green" } }).png().toBuffer();
    const up = await upload(alice.access_token, small, "image/png");
    const res = await fetch(`${hs.url}/_matrix/client/v1/media/thumbnail/${mediaPath(up.json.content_uri)}?width=96&height=96&method=crop`, {
      headers: { authorization: `Bearer ${bob.access_token}` },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("image/png");
    expect(Buffer.from(await res.arrayBuffer()).equals(small)).toBe(true);
  });

  it("a decompression bomb is refused with 413 M_TOO_LARGE", async () => {
    // 6000 x 6000 = 36 Mpx of one colour: a small file over the 32 Mpx default limit.
    const bomb = await sharp({ create: { width: 6000, height: 6000, channels: 3, background: "white" } }).png({ compressionLevel: 9 }).toBuffer();
    expect(bomb.length).toBeLessThan(1_000_000);
    const up = await upload(alice.access_token, bomb, "image/png");
    const r = await hs.request<J>("GET", `/_matrix/client/v1/media/thumbnail/${mediaPath(up.json.content_uri)}?width=32&height=32`, { token: bob.access_token });
    expect(r.status).toBe(413);
    expect(r.json.errcode).toBe("M_TOO_LARGE");
  });

  it("bad parameters, non-images and missing tokens are refused", async () => {
    const missing = await thumb("height=32");
    expect(missing.res.status).toBe(400);
    expect(JSON.parse(missing.body.toString()).errcode).toBe("M_MISSING_PARAM");
    const negative = await thumb("width=-1&height=32");
    expect(negative.res.status).toBe(400);
    expect(JSON.parse(negative.body.toString()).errcode).toBe("M_INVALID_PARAM");
    const anon = await thumb("width=32&height=32", null);
    expect(anon.res.status).toBe(401);
    const text = await upload(alice.access_token, "not an image", "image/png");
    const r = await hs.request<J>("GET", `/_matrix/client/v1/media/thumbnail/${mediaPath(text.json.content_uri)}?width=32&height=32`, { token: bob.access_token });
    expect(r.status).toBe(400);
    expect(r.json.errcode).toBe("M_UNKNOWN");
  });
});

describe("URL previews", () => {
  it("refuses loopback addresses that are not explicitly allowed", async () => {
    const r = await hs.request<J>("GET", `/_matrix/client/v1/media/preview_url?url=${encodeURIComponent(`http://127.0.0.1:${internalPort}/`)}`, {
      token: alice.access_token,
    });
    expect(r.status).toBe(403);
    expect(r.json.errcode).toBe("M_FORBIDDEN");
    const v6 = await hs.request<J>("GET", `/_matrix/client/v1/media/preview_url?url=${encodeURIComponent(`http://[::ffff:127.0.0.1]:${internalPort}/`)}`, {
      token: alice.access_token,
    });
    expect(v6.status).toBe(403);
  });

  it("refuses a redirect from an allowed page into loopback", async () => {
    const r = await hs.request<J>("GET", `/_matrix/client/v1/media/preview_url?url=${encodeURIComponent(`http://127.0.0.2:${externalPort}/to-internal`)}`, {
      token: alice.access_token,
    });
    expect(r.status).toBe(403);
    expect(r.json.errcode).toBe("M_FORBIDDEN");
  });

  it("previews an allowed page with OpenGraph data and a re-hosted image", async () => {
    const r = await hs.request<J>("GET", `/_matrix/client/v1/media/preview_url?url=${encodeURIComponent(`http://127.0.0.2:${externalPort}/page`)}`, {
      token: alice.access_token,
    });
    expect(r.status).toBe(200);
    expect(r.json["og:title"]).toBe("Preview title");
    expect(r.json["og:description"]).toBe("About things");
    expect(r.json["og:image"]).toMatch(/^mxc:\/\/localhost\//);
    expect(r.json["og:image:width"]).toBe(640);
    expect(r.json["matrix:image:size"]).toBe(png.length);
    const img = await download(r.json["og:image"] as string, bob.access_token);
    expect(img.body.equals(png)).toBe(true);
  });

  it("needs authentication and a URL", async () => {
    expect((await hs.request("GET", "/_matrix/client/v1/media/preview_url?url=http://example.org/")).status).toBe(401);
    const r = await hs.request<J>("GET", "/_matrix/client/v1/media/preview_url", { token: alice.access_token });
    expect(r.status).toBe(400);
    expect(r.json.errcode).toBe("M_MISSING_PARAM");
  });
});

describe("media admin API", () => {
  it("quarantine hides media, unquarantine restores it, delete removes it", async () => {
    const up = await upload(bob.access_token, "to be moderated", "text/plain");
    const p = mediaPath(up.json.content_uri);
    const denied = await hs.request<J>("POST", `/_synapse/admin/v1/media/quarantine/${p}`, { token: bob.access_token });
    expect(denied.status).toBe(403);
    expect((await hs.request("POST", `/_synapse/admin/v1/media/quarantine/${p}`, { token: admin.access_token })).status).toBe(200);
    expect((await download(up.json.content_uri, alice.access_token)).res.status).toBe(404);
    expect((await hs.request("POST", `/_synapse/admin/v1/media/unquarantine/${p}`, { token: admin.access_token })).status).toBe(200);
    expect((await download(up.json.content_uri, alice.access_token)).res.status).toBe(200);
    const info = await hs.request<{ media_info: J }>("GET", `/_synapse/admin/v1/media/${p}`, { token: admin.access_token });
    expect(info.json.media_info.user_id).toBe(bob.user_id);
    const del = await hs.request<J>("DELETE", `/_synapse/admin/v1/media/${p}`, { token: admin.access_token });
    expect(del.json).toEqual({ deleted_media: [p.split("/")[1]], total: 1 });
    expect((await download(up.json.content_uri, alice.access_token)).res.status).toBe(404);
  });

  it("reports per-user usage", async () => {
    const r = await hs.request<{ users: Array<{ user_id: string; media_length: number; media_count: number }> }>(
      "GET",
      "/_synapse/admin/v1/statistics/users/media",
      { token: admin.access_token },
    );
    expect(r.status).toBe(200);
    const a = r.json.users.find((u) => u.user_id === alice.user_id)!;
    expect(a.media_length).toBeGreaterThan(FIFTY_MB);
    expect(a.media_count).toBeGreaterThan(5);
    const list = await hs.request<{ media: J[]; total: number }>("GET", `/_synapse/admin/v1/users/${encodeURIComponent(bob.user_id)}/media`, {
      token: admin.access_token,
    });
    expect(list.json.total).toBe(list.json.media.length);
  });

  it("deletes local media older than a timestamp", async () => {
    const up = await upload(bob.access_token, "old stuff", "text/plain");
    const r = await hs.request<{ deleted_media: string[]; total: number }>("POST", `/_synapse/admin/v1/media/delete?before_ts=${Date.now() + 1000}&size_gt=0`, {
      token: admin.access_token,
    });
    expect(r.status).toBe(200);
    expect(r.json.deleted_media).toContain(up.json.content_uri.split("/").pop());
    expect((await download(up.json.content_uri, bob.access_token)).res.status).toBe(404);
  });
});

describe("matrix-js-sdk", () => {
  it("one client uploads, another downloads through the authenticated endpoint", async () => {
    const uploader = createClient({ baseUrl: hs.url, accessToken: alice.access_token, userId: alice.user_id });
    const reader = createClient({ baseUrl: hs.url, accessToken: bob.access_token, userId: bob.user_id });
    const data = Buffer.from("sent with matrix-js-sdk");
    const { content_uri } = await uploader.uploadContent(data, { type: "text/plain", name: "sdk.txt" });
    expect(content_uri).toMatch(/^mxc:\/\/localhost\//);
    const url = reader.mxcUrlToHttp(content_uri, undefined, undefined, undefined, false, true, true);
    expect(url).toContain("/_matrix/client/v1/media/download/");
    const res = await fetch(url!, { headers: { authorization: `Bearer ${bob.access_token}` } });
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).equals(data)).toBe(true);
    uploader.stopClient();
    reader.stopClient();
  });
});
