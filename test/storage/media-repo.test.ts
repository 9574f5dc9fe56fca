import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MediaRepo, type StoredContent } from "../../src/storage/media-repo.js";
import { openTestSql, testDatabaseUrl, type TestSql } from "../support/databases.js";

const engine = testDatabaseUrl() ? "postgres" : "pglite";
let db: TestSql;
let repo: MediaRepo;
beforeAll(async () => {
  db = await openTestSql();
  repo = new MediaRepo(db.sql);
});
afterAll(() => db?.dispose());

const HS = "example.org";
const content = (sha: string, size = 10, ts = 1000): StoredContent => ({ contentType: "text/plain", uploadName: "a.txt", sizeBytes: size, sha256: sha, uploadedTs: ts });
const sha = (c: string) => c.repeat(64);

describe(`media repository on ${engine}`, () => {
  it("stores uploads and sums a user's usage", async () => {
    await repo.insertUploaded(HS, "m1", "@u:example.org", content(sha("a"), 100), true);
    await repo.insertUploaded(HS, "m2", "@u:example.org", content(sha("a"), 100), false);
    const row = await repo.get(HS, "m1");
    expect(row).toMatchObject({ origin: HS, media_id: "m1", size_bytes: 100, sha256: sha("a"), authenticated_only: true, uploaded_ts: 1000 });
    expect(await repo.usageBytes("@u:example.org")).toBe(200);
    expect(await repo.usageBytes("@nobody:example.org")).toBe(0);
    await expect(repo.insertUploaded(HS, "m1", "@u:example.org", content(sha("b")), true)).rejects.toThrow();
  });

  it("completes a pending upload once, only for its creator and before expiry", async () => {
    await repo.insertPending(HS, "p1", "@c:example.org", 1000, 5000, true);
    await repo.insertPending(HS, "p2", "@c:example.org", 1000, 2000, true);
    expect(await repo.countPending("@c:example.org", 1500)).toBe(2);
    expect(await repo.countPending("@c:example.org", 3000)).toBe(1);
    expect(await repo.completePending(HS, "p1", "@other:example.org", content(sha("c")), 1500)).toBe(false);
    expect(await repo.completePending(HS, "p1", "@c:example.org", content(sha("c")), 1500)).toBe(true);
    expect(await repo.completePending(HS, "p1", "@c:example.org", content(sha("d")), 1500)).toBe(false);
    expect((await repo.get(HS, "p1"))?.sha256).toBe(sha("c"));
    expect(await repo.completePending(HS, "p2", "@c:example.org", content(sha("c")), 2500)).toBe(false);
    expect(await repo.deleteExpiredPending(2500)).toBe(1);
    expect(await repo.get(HS, "p2")).toBeUndefined();
  });

  it("deleting reports only blobs nothing else references", async () => {
    await repo.insertUploaded(HS, "d1", "@d:example.org", content(sha("e")), true);
    await repo.insertUploaded(HS, "d2", "@d:example.org", content(sha("e")), true);
    await repo.insertThumbnail({
      origin: HS, media_id: "d1", target_width: 32, target_height: 32, method: "crop", animated: false,
      width: 32, height: 32, content_type: "image/png", sha256: sha("f"), size_bytes: 5, created_ts: 1,
    });
    expect((await repo.getThumbnail(HS, "d1", 32, 32, "crop", false))?.sha256).toBe(sha("f"));
    const first = await repo.deleteMany([{ origin: HS, mediaId: "d1" }]);
    expect(first.deleted).toEqual(["d1"]);
    expect(first.orphanBlobs).toEqual([sha("f")]);
    const second = await repo.deleteMany([{ origin: HS, mediaId: "d2" }, { origin: HS, mediaId: "nope" }]);
    expect(second).toEqual({ deleted: ["d2"], orphanBlobs: [sha("e")] });
  });

  it("quarantines, lists by age and user, reports stats", async () => {
    expect(await repo.setQuarantine(HS, "m1", "@admin:example.org")).toBe(true);
    expect((await repo.get(HS, "m1"))?.quarantined_by).toBe("@admin:example.org");
    expect(await repo.setQuarantine(HS, "missing", null)).toBe(false);
    await repo.insertUploaded(HS, "new", "@u:example.org", content(sha("1"), 10, 9000), true);
    expect(await repo.listLocalBefore(HS, 5000, 0, 100)).toEqual(expect.arrayContaining(["m1", "m2", "p1"]));
    expect(await repo.listLocalBefore(HS, 5000, 0, 100)).not.toContain("new");
    expect(await repo.listLocalBefore(HS, 5000, 50, 100)).toEqual(expect.arrayContaining(["m1", "m2"]));
    const mine = await repo.listByUser("@u:example.org", 0, 2);
    expect(mine.total).toBe(3);
    expect(mine.rows.map((r) => r.media_id)[0]).toBe("new");
    const stats = await repo.userStats(0, 10);
    expect(stats.users.find((u) => u.user_id === "@u:example.org")).toEqual({ user_id: "@u:example.org", media_count: 3, media_length: 210 });
  });

  it("remote cache entries are listed by last access", async () => {
    await repo.insertUploaded("remote.example", "r1", null, content(sha("9"), 10, 100), true);
    expect(await repo.listRemoteUnusedSince(HS, 200, 10)).toEqual([{ origin: "remote.example", mediaId: "r1" }]);
    await repo.touch("remote.example", "r1", 300);
    expect(await repo.listRemoteUnusedSince(HS, 200, 10)).toEqual([]);
  });

  it("caches URL previews until they expire", async () => {
    await repo.putPreview("https://a.example/", { "og:title": "A" }, 100, 200);
    expect(await repo.getPreview("https://a.example/", 150)).toEqual({ "og:title": "A" });
    expect(await repo.getPreview("https://a.example/", 250)).toBeUndefined();
    await repo.putPreview("https://a.example/", { "og:title": "B" }, 300, 400);
    expect(await repo.getPreview("https://a.example/", 350)).toEqual({ "og:title": "B" });
    expect(await repo.deleteExpiredPreviews(500)).toBe(1);
  });
});
