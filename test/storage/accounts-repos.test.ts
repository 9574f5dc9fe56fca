import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AccountDataRepo } from "../../src/storage/account-data-repo.js";
import { DevicesRepo } from "../../src/storage/devices-repo.js";
import { TokensRepo } from "../../src/storage/tokens-repo.js";
import { UiaRepo } from "../../src/storage/uia-repo.js";
import { UsersRepo } from "../../src/storage/users-repo.js";
import { openTestSql, testDatabaseUrl, type TestSql } from "../support/databases.js";

const engine = testDatabaseUrl() ? "postgres" : "pglite";
// One database for the file (a PGlite copy costs seconds); tests use distinct ids.
let db: TestSql;
beforeAll(async () => {
  db = await openTestSql();
});
afterAll(() => db?.dispose());

describe(`accounts storage on ${engine}`, () => {
  it("users: create once, case-insensitive lookup, profile row made with the user", async () => {
    const users = new UsersRepo(db.sql);
    expect(await users.create({ userId: "@Ann:hs", passwordHash: "h", createdTs: 1 })).toBe(true);
    expect(await users.create({ userId: "@Ann:hs", passwordHash: "h", createdTs: 2 })).toBe(false);
    expect((await users.findCaseInsensitive("@ann:hs")).map((u) => u.user_id)).toEqual(["@Ann:hs"]);
    expect(await users.getProfile("@Ann:hs")).toMatchObject({ displayname: null, fields: {} });
    await users.setFields("@Ann:hs", { "org.x.y": { deep: [1, "two"] }, "m.tz": "UTC" });
    expect((await users.getProfile("@Ann:hs"))!.fields).toEqual({ "org.x.y": { deep: [1, "two"] }, "m.tz": "UTC" });
    const a = await users.nextGuestNumber();
    expect(await users.nextGuestNumber()).toBe(a + 1);
  });

  it("tokens: device revocation keeps the named token, and refresh rotation retires the old token once the new one is used", async () => {
    const tokens = new TokensRepo(db.sql);
    const devices = new DevicesRepo(db.sql);
    await devices.upsert({ userId: "@u:hs", deviceId: "D1", displayName: "one", createdTs: 1 });
    await devices.upsert({ userId: "@u:hs", deviceId: "D1", displayName: null, createdTs: 2 });
    expect((await devices.get("@u:hs", "D1"))!.display_name).toBe("one");
    await tokens.insertAccessToken({ tokenHash: "a1", userId: "@u:hs", deviceId: "D1", createdTs: 1, validUntilTs: null, refreshTokenId: null });
    await tokens.insertAccessToken({ tokenHash: "a2", userId: "@u:hs", deviceId: "D1", createdTs: 1, validUntilTs: null, refreshTokenId: null });
    await tokens.revokeForDevices("@u:hs", ["D1"], { keepTokenHash: "a2" });
    expect(await tokens.getAccessToken("a1")).toBeUndefined();
    expect(await tokens.getAccessToken("a2")).toBeDefined();

    const r1 = await tokens.insertRefreshToken({ tokenHash: "r1", userId: "@u:hs", deviceId: "D1", replacesId: null, expiryTs: null, createdTs: 1 });
    const r2 = await tokens.insertRefreshToken({ tokenHash: "r2", userId: "@u:hs", deviceId: "D1", replacesId: r1, expiryTs: null, createdTs: 2 });
    expect(await tokens.hasPendingReplacement(r2)).toBe(true);
    await tokens.retireReplaced(r2);
    expect(await tokens.hasPendingReplacement(r2)).toBe(false);
    const left = await db.sql.query<{ token_hash: string }>("SELECT token_hash FROM refresh_tokens ORDER BY id");
    expect(left.map((r) => r.token_hash)).toEqual(["r2"]);
  });

  it("login tokens are single use", async () => {
    const tokens = new TokensRepo(db.sql);
    await tokens.insertLoginToken("lt", "@u:hs", 100);
    expect(await tokens.takeLoginToken("lt")).toEqual({ user_id: "@u:hs", expiry_ts: 100 });
    expect(await tokens.takeLoginToken("lt")).toBeUndefined();
  });

  it("registration tokens: reservations never exceed uses_allowed", async () => {
    const uia = new UiaRepo(db.sql);
    await uia.createToken({ token: "t", usesAllowed: 2, expiryTime: null });
    const results = await Promise.all([1, 2, 3, 4].map(() => uia.reserveToken("t", 0)));
    expect(results.filter(Boolean)).toHaveLength(2);
    await uia.completeToken("t");
    await uia.releaseToken("t");
    expect(await uia.getToken("t")).toMatchObject({ pending: 0, completed: 1 });
    await uia.createToken({ token: "old", usesAllowed: null, expiryTime: 50 });
    expect(await uia.reserveToken("old", 100)).toBe(false);
  });

  it("UIA sessions record completed stages once and merge data", async () => {
    const uia = new UiaRepo(db.sql);
    await uia.createSession({ sessionId: "s", operation: "op", userId: null, createdTs: 1 });
    await uia.completeStage("s", "m.login.dummy", { a: 1 });
    const s = await uia.completeStage("s", "m.login.dummy", { b: 2 });
    expect(s!.completed).toEqual(["m.login.dummy"]);
    expect(s!.data).toEqual({ a: 1, b: 2 });
    expect((await uia.deleteExpired(10)).map((x) => x.session_id)).toEqual(["s"]);
  });

  it("account data: every write takes a higher stream position; changedSince reads in order", async () => {
    const repo = new AccountDataRepo(db.sql);
    const p1 = await repo.put("@u:hs", null, "a.b", { v: 1 });
    const p2 = await repo.put("@u:hs", "!r:hs", "a.b", { v: 2 });
    const p3 = await repo.put("@u:hs", null, "a.b", { v: 3 });
    expect(p2).toBeGreaterThan(p1);
    expect(p3).toBeGreaterThan(p2);
    const since = await repo.changedSince("@u:hs", p1);
    expect(since.map((r) => [r.room_id, r.content])).toEqual([
      ["!r:hs", { v: 2 }],
      ["", { v: 3 }],
    ]);
    expect(await repo.currentPosition()).toBe(p3);
    const tagged = await Promise.all(
      ["x", "y", "z"].map((t) => repo.update("@u:hs", "!r:hs", "m.tag", (cur) => ({ tags: { ...((cur?.tags as object) ?? {}), [t]: {} } }))),
    );
    expect(tagged).toHaveLength(3);
    expect(Object.keys((await repo.get("@u:hs", "!r:hs", "m.tag"))!.tags as object).sort()).toEqual(["x", "y", "z"]);
    const f = await repo.createFilter("@u:hs", { room: { timeline: { limit: 5 } } });
    expect(await repo.getFilter("@u:hs", f)).toEqual({ room: { timeline: { limit: 5 } } });
    expect(await repo.getFilter("@v:hs", f)).toBeUndefined();
  });
});
