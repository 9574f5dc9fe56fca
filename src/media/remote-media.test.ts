import { describe, expect, it } from "vitest";
import { MatrixError } from "../http/errors.js";
import { TransportError } from "../federation/transport.js";
import type { MediaRepo, MediaRow, ThumbnailRow } from "../storage/media-repo.js";
import type { BlobStore } from "./blob-store.js";
import { fileNameOf, RemoteMedia, type OriginResponse, type RemoteMediaDeps } from "./remote-media.js";
import { BlockedAddressError, type FetchedResponse } from "./safe-fetch.js";

type Get = RemoteMediaDeps["get"];

function setup(get: Get, redirect?: (url: string) => Promise<FetchedResponse>, timeoutMs = 5000) {
  const rows = new Map<string, MediaRow>();
  const thumbs: ThumbnailRow[] = [];
  const blobs = new Map<string, Buffer>();
  const repo = {
    insertRemote: async (
      origin: string,
      mediaId: string,
      c: { contentType: string; uploadName: string | null; sizeBytes: number; sha256: string; uploadedTs: number },
    ) => {
      rows.set(`${origin}/${mediaId}`, {
        origin,
        media_id: mediaId,
        user_id: null,
        content_type: c.contentType,
        upload_name: c.uploadName,
        size_bytes: c.sizeBytes,
        sha256: c.sha256,
        created_ts: c.uploadedTs,
        uploaded_ts: c.uploadedTs,
        unused_expires_ts: null,
        authenticated_only: true,
        quarantined_by: null,
        last_access_ts: null,
      });
    },
    get: async (origin: string, mediaId: string) => rows.get(`${origin}/${mediaId}`),
    insertThumbnail: async (t: ThumbnailRow) => void thumbs.push(t),
  } as unknown as MediaRepo;
  const store = { putBuffer: async (sha: string, data: Buffer) => void blobs.set(sha, data) } as unknown as BlobStore;
  const media = new RemoteMedia({
    get,
    redirects: { get: redirect ?? (async () => Promise.reject(new Error("no redirects here"))) },
    repo,
    store,
    clock: () => 1000,
    maxBytes: 100,
    timeoutMs,
    authenticatedOnly: true,
  });
  return { media, rows, thumbs, blobs };
}

const json = (status: number, body: unknown): OriginResponse => ({
  status,
  headers: { "content-type": "application/json" },
  body: Buffer.from(JSON.stringify(body)),
});
const mp = (second: string): OriginResponse => ({
  status: 200,
  headers: { "content-type": "multipart/mixed; boundary=B" },
  body: Buffer.from(`--B\r\nContent-Type: application/json\r\n\r\n{}\r\n--B\r\n${second}\r\n--B--`),
});

async function errorOf(p: Promise<unknown>): Promise<{ status: number; errcode: string }> {
  try {
    await p;
  } catch (err) {
    if (err instanceof MatrixError) return { status: err.status, errcode: err.errcode };
    throw err;
  }
  throw new Error("expected a MatrixError");
}

describe("RemoteMedia", () => {
  it("stores the media part under origin and id with its type and file name", async () => {
    const { media, blobs } = setup(async (_o, path, opts) => {
      expect(path).toBe("/_matrix/federation/v1/media/download/abc");
      expect(opts.unsigned).toBe(false);
      return mp("Content-Type: text/plain\r\nContent-Disposition: attachment; filename*=utf-8''na%C3%AFve.txt\r\n\r\nhello");
    });
    const row = await media.fetch("remote.example", "abc", { timeoutMs: 1000 });
    expect(row).toMatchObject({ origin: "remote.example", media_id: "abc", content_type: "text/plain", upload_name: "naïve.txt", size_bytes: 5 });
    expect(blobs.get(row!.sha256!)?.toString()).toBe("hello");
  });

  it("uses the legacy thumbnail endpoint on 404 M_UNRECOGNIZED and refuses a non-image thumbnail", async () => {
    const asked: string[] = [];
    const { media, thumbs } = setup(async (_o, path, opts) => {
      asked.push(`${path} ${opts.unsigned} ${opts.query.allow_remote}`);
      if (path.startsWith("/_matrix/federation/")) return json(404, { errcode: "M_UNRECOGNIZED" });
      if (path.endsWith("/img")) return { status: 200, headers: { "content-type": "image/png" }, body: Buffer.from("png") };
      return { status: 200, headers: { "content-type": "text/html" }, body: Buffer.from("<script>") };
    });
    const t = await media.thumbnail("r.example", "img", { width: 32, height: 32, method: "crop", animated: false }, { timeoutMs: 10 });
    expect(t).toMatchObject({ contentType: "image/png", size: 3 });
    expect(thumbs).toHaveLength(1);
    expect(asked).toEqual(["/_matrix/federation/v1/media/thumbnail/img false undefined", "/_matrix/media/v3/thumbnail/r.example/img true false"]);
    expect(await errorOf(media.thumbnail("r.example", "html", { width: 32, height: 32, method: "crop", animated: false }, { timeoutMs: 10 }))).toEqual({
      status: 502,
      errcode: "M_UNKNOWN",
    });
  });

  it("maps the origin's answers and failures", async () => {
    const answers: Record<string, () => Promise<OriginResponse>> = {
      nf: async () => json(404, { errcode: "M_NOT_FOUND" }),
      big: async () => json(502, { errcode: "M_TOO_LARGE" }),
      late: async () => json(504, { errcode: "M_NOT_YET_UPLOADED" }),
      oversize: async () => mp(`Content-Type: text/plain\r\n\r\n${"x".repeat(101)}`),
      timeout: async () => Promise.reject(new TransportError("x", { cause: Object.assign(new Error("t"), { name: "TimeoutError" }) })),
      down: async () => Promise.reject(new TransportError("connection refused")),
      scheme: async () => mp("Location: file:///etc/passwd\r\n\r\n"),
      blocked: async () => mp("Location: https://10.0.0.1/x\r\n\r\n"),
    };
    const { media, rows } = setup(
      (_o, path) => answers[path.split("/").pop()!]!(),
      async () => Promise.reject(new BlockedAddressError("10.0.0.1")),
    );
    expect(await media.fetch("r", "nf", { timeoutMs: 1 })).toBeUndefined();
    expect(await errorOf(media.fetch("r", "big", { timeoutMs: 1 }))).toEqual({ status: 502, errcode: "M_TOO_LARGE" });
    expect(await errorOf(media.fetch("r", "late", { timeoutMs: 1 }))).toEqual({ status: 504, errcode: "M_NOT_YET_UPLOADED" });
    expect(await errorOf(media.fetch("r", "oversize", { timeoutMs: 1 }))).toEqual({ status: 502, errcode: "M_TOO_LARGE" });
    expect(await errorOf(media.fetch("r", "timeout", { timeoutMs: 1 }))).toEqual({ status: 504, errcode: "M_UNKNOWN" });
    expect(await errorOf(media.fetch("r", "down", { timeoutMs: 1 }))).toEqual({ status: 502, errcode: "M_UNKNOWN" });
    expect(await errorOf(media.fetch("r", "scheme", { timeoutMs: 1 }))).toEqual({ status: 502, errcode: "M_UNKNOWN" });
    expect(await errorOf(media.fetch("r", "blocked", { timeoutMs: 1 }))).toEqual({ status: 502, errcode: "M_UNKNOWN" });
    expect(rows.size).toBe(0);
  });
});

describe("fileNameOf", () => {
  it("reads filename* before filename, unquotes, and drops control characters", () => {
    expect(fileNameOf('attachment; filename="a \\"b\\".txt"')).toBe('a "b".txt');
    expect(fileNameOf("inline; filename=plain.png")).toBe("plain.png");
    expect(fileNameOf("attachment; filename=\"x.txt\"; filename*=UTF-8''%E2%9C%93.txt")).toBe("✓.txt");
    expect(fileNameOf("attachment; filename*=utf-8''%ZZ; filename=fallback.bin")).toBe("fallback.bin");
    expect(fileNameOf('attachment; filename="a\u0001b"')).toBe("ab");
    expect(fileNameOf("attachment")).toBeNull();
    expect(fileNameOf(undefined)).toBeNull();
  });
});

describe("RemoteMedia concurrency", () => {
  it("fetches at most 8 different media at once and shares one fetch per media", async () => {
    let active = 0;
    let peak = 0;
    let calls = 0;
    const { media } = setup(async () => {
      calls++;
      active++;
      peak = Math.max(peak, active);
      await new Promise((r) => setTimeout(r, 5));
      active--;
      return mp("Content-Type: text/plain\r\n\r\nok");
    });
    const ids = Array.from({ length: 20 }, (_, i) => `m${i % 10}`);
    const rows = await Promise.all(ids.map((id) => media.fetch("r", id, { timeoutMs: 1 })));
    expect(rows.every((r) => r?.size_bytes === 2)).toBe(true);
    expect(calls).toBe(10);
    expect(peak).toBe(8);
  });
});

describe("RemoteMedia queueing", () => {
  it("a fetch waiting for a slot past the time limit ends in 504", async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const { media } = setup(
      async () => {
        await gate;
        return mp("Content-Type: text/plain\r\n\r\nok");
      },
      undefined,
      50,
    );
    const busy = Array.from({ length: 8 }, (_, i) => media.fetch("r", `busy${i}`, { timeoutMs: 1 }));
    const queued = media.fetch("r", "queued", { timeoutMs: 1 });
    expect(await errorOf(queued)).toEqual({ status: 504, errcode: "M_UNKNOWN" });
    release();
    expect((await Promise.all(busy)).every((r) => r?.size_bytes === 2)).toBe(true);
  });
});
