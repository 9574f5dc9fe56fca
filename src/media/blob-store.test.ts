import { existsSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { text } from "node:stream/consumers";
import { afterAll, describe, expect, it } from "vitest";
import { parseConfig } from "../config/load.js";
import { LocalBlobStore } from "./blob-store.js";
import { MediaService, randomMediaId, type MediaServiceDeps } from "./media-service.js";

const root = mkdtempSync(path.join(os.tmpdir(), "blobs-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const H = "ab".repeat(32);

describe("LocalBlobStore", () => {
  const store = new LocalBlobStore(root);

  it("commits a staged file under its hash, reads whole and ranged, removes", async () => {
    const staged = await store.stagingPath();
    writeFileSync(staged, "0123456789");
    await store.commit(staged, H);
    expect(existsSync(staged)).toBe(false);
    expect(await store.size(H)).toBe(10);
    expect(await text(store.open(H))).toBe("0123456789");
    expect(await text(store.open(H, { start: 3, end: 5 }))).toBe("345");
    // Same content again: the blob stays.
    const again = await store.stagingPath();
    writeFileSync(again, "0123456789");
    await store.commit(again, H);
    expect(await store.size(H)).toBe(10);
    await store.remove(H);
    expect(await store.size(H)).toBeUndefined();
  });

  it("never builds a path from something that is not a hash", async () => {
    expect(() => store.open("../../etc/passwd")).toThrow();
    await expect(store.localPath("ZZ")).rejects.toThrow();
  });

  it("sweeps only stale staging files", async () => {
    const stale = await store.stagingPath();
    const fresh = await store.stagingPath();
    writeFileSync(stale, "x");
    writeFileSync(fresh, "y");
    const old = new Date(Date.now() - 2 * 86_400_000);
    utimesSync(stale, old, old);
    expect(await store.sweepStaging(86_400_000)).toBe(1);
    expect(existsSync(stale)).toBe(false);
    expect(existsSync(fresh)).toBe(true);
  });
});

describe("media ids and thumbnail sizes", () => {
  it("media ids are 24 characters of the spec's alphabet and differ", () => {
    const ids = new Set(Array.from({ length: 200 }, randomMediaId));
    expect(ids.size).toBe(200);
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9]{24}$/);
  });

  it("picks the smallest configured size covering the request, else rounds up", () => {
    const svc = new MediaService({ config: parseConfig({}).media } as unknown as MediaServiceDeps);
    expect(svc.thumbnailTarget({ width: 20, height: 20, method: "crop" })).toEqual({ width: 32, height: 32 });
    expect(svc.thumbnailTarget({ width: 64, height: 40, method: "crop" })).toEqual({ width: 96, height: 96 });
    expect(svc.thumbnailTarget({ width: 300, height: 300, method: "scale" })).toEqual({ width: 640, height: 480 });
    expect(svc.thumbnailTarget({ width: 1000, height: 700, method: "scale" })).toEqual({ width: 1024, height: 768 });
    expect(svc.thumbnailTarget({ width: 99999, height: 1, method: "crop" })).toEqual({ width: 4096, height: 128 });
  });
});
