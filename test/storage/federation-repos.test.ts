import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FederationTxnRepo } from "../../src/storage/federation-txn-repo.js";
import { ServerKeysRepo } from "../../src/storage/server-keys-repo.js";
import { openTestSql, testDatabaseUrl, type TestSql } from "../support/databases.js";

const engine = testDatabaseUrl() ? "postgres" : "pglite";
let db: TestSql;
beforeAll(async () => {
  db = await openTestSql();
});
afterAll(() => db?.dispose());

describe(`federation storage on ${engine}`, () => {
  it("server keys: a current key's validity only grows; listing it as old sets its expiry", async () => {
    const repo = new ServerKeysRepo(db.sql);
    const k = { serverName: "a.example", keyId: "ed25519:1", verifyKey: "KEY", validUntilTs: 1000, expiredTs: null, fetchedTs: 1 };
    await repo.storeKeys([k]);
    await repo.storeKeys([{ ...k, validUntilTs: 500, fetchedTs: 2 }]);
    expect((await repo.keysOf("a.example"))[0]).toMatchObject({ validUntilTs: 1000, expiredTs: null, fetchedTs: 2 });
    await repo.storeKeys([{ ...k, validUntilTs: 700, expiredTs: 700, fetchedTs: 3 }]);
    expect((await repo.keysOf("a.example"))[0]).toMatchObject({ validUntilTs: 700, expiredTs: 700 });
    expect(await repo.keysOf("b.example")).toEqual([]);
  });

  it("key responses: the one valid the longest is kept", async () => {
    const repo = new ServerKeysRepo(db.sql);
    await repo.storeResponse({ serverName: "r.example", validUntilTs: 2000, response: '{"v":2}', fetchedTs: 1 });
    await repo.storeResponse({ serverName: "r.example", validUntilTs: 1000, response: '{"v":1}', fetchedTs: 2 });
    expect(await repo.response("r.example")).toEqual({ serverName: "r.example", validUntilTs: 2000, response: '{"v":2}', fetchedTs: 1 });
    await repo.storeResponse({ serverName: "r.example", validUntilTs: 3000, response: '{"v":3}', fetchedTs: 3 });
    expect((await repo.response("r.example"))!.response).toBe('{"v":3}');
    expect(await repo.response("none.example")).toBeUndefined();
  });

  it("inbound transactions: the first answer per (origin, txn id) is kept; pruning drops old ones", async () => {
    const repo = new FederationTxnRepo(db.sql);
    await repo.put("o.example", "t1", { pdus: { $a: {} } }, 10);
    await repo.put("o.example", "t1", { pdus: {} }, 11);
    expect(await repo.get("o.example", "t1")).toEqual({ pdus: { $a: {} } });
    expect(await repo.get("other.example", "t1")).toBeUndefined();
    await repo.prune(11);
    expect(await repo.get("o.example", "t1")).toBeUndefined();
  });
});
