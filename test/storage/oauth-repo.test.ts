import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OAuthRepo } from "../../src/storage/oauth-repo.js";
import { openTestSql, testDatabaseUrl, type TestSql } from "../support/databases.js";

const engine = testDatabaseUrl() ? "postgres" : "pglite";
const DAY = 24 * 3600_000;
let db: TestSql;
beforeAll(async () => {
  db = await openTestSql();
});
afterAll(() => db?.dispose());

const code = (hash: string, clientId: string, expiresTs: number) => ({
  code_hash: hash,
  client_id: clientId,
  user_id: "@u:hs",
  redirect_uri: "https://app.example.com/cb",
  scope: "urn:matrix:client:api:* urn:matrix:client:device:D",
  device_id: "D",
  code_challenge: "c".repeat(43),
  nonce: null,
  auth_time: 1,
  created_ts: 1,
  expires_ts: expiresTs,
});

describe(`OAuth storage on ${engine}`, () => {
  it("takes a code once: concurrent takers see it unused exactly once", async () => {
    const repo = new OAuthRepo(db.sql);
    await repo.insertClient("C1", { client_uri: "https://example.com/" }, 1);
    await repo.insertCode(code("h1", "C1", 10_000));
    const taken = await Promise.all([1, 2, 3].map((n) => db.sql.transaction((tx) => repo.takeCode("h1", 100 + n, tx))));
    expect(taken.filter((r) => r?.exchanged_ts === null)).toHaveLength(1);
    expect(taken.filter((r) => r !== undefined && r.exchanged_ts !== null)).toHaveLength(2);
    expect(await db.sql.transaction((tx) => repo.takeCode("missing", 1, tx))).toBeUndefined();
  });

  it("decides a device grant once", async () => {
    const repo = new OAuthRepo(db.sql);
    await repo.insertDeviceGrant({ deviceCodeHash: "dc1", userCodeHash: "uc1", clientId: "C1", scope: "s", deviceId: "TV", intervalS: 5, createdTs: 1, expiresTs: 10_000 });
    const row = (await repo.getDeviceGrantByUserCode("uc1"))!;
    expect(row.status).toBe("pending");
    expect(await repo.decideDeviceGrant(row.id, "approved", "@u:hs")).toBe(true);
    expect(await repo.decideDeviceGrant(row.id, "denied", "@v:hs")).toBe(false);
    expect(await repo.getDeviceGrantByUserCode("uc1")).toMatchObject({ status: "approved", user_id: "@u:hs" });
  });

  it("purges what has expired, and client registrations without a session after 30 days", async () => {
    const repo = new OAuthRepo(db.sql);
    const now = 100 * DAY;
    await repo.insertClient("OLD_UNUSED", { client_uri: "https://example.com/" }, 1);
    await repo.insertClient("OLD_USED", { client_uri: "https://example.com/" }, 1);
    await repo.insertClient("NEW", { client_uri: "https://example.com/" }, now - DAY);
    await repo.upsertSession({ user_id: "@u:hs", device_id: "D", client_id: "OLD_USED", scope: "s", created_ts: 1 });
    await repo.insertCode(code("expired", "NEW", now - 1));
    await repo.insertCode(code("live", "NEW", now + 1000));
    await repo.insertBrowserSession("b-old", "@u:hs", 1, now - 1);
    await repo.insertBrowserSession("b-new", "@u:hs", 1, now + 1000);
    await repo.purgeExpired(now);
    expect(await repo.getClient("OLD_UNUSED")).toBeUndefined();
    expect(await repo.getClient("OLD_USED")).toBeDefined();
    expect(await repo.getClient("NEW")).toBeDefined();
    expect(await db.sql.transaction((tx) => repo.takeCode("expired", now, tx))).toBeUndefined();
    expect(await db.sql.transaction((tx) => repo.takeCode("live", now, tx))).toBeDefined();
    expect(await repo.getBrowserSession("b-old")).toBeUndefined();
    expect(await repo.getBrowserSession("b-new")).toBeDefined();
    await repo.deleteSessions("@u:hs", ["D"]);
    expect(await repo.listSessions("@u:hs")).toEqual([]);
  });
});
