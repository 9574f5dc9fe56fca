import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { putCustomRule, type PushRuleChanges } from "../../src/core/push-rules.js";
import { PushRulesRepo, type PusherRow } from "../../src/storage/push-rules-repo.js";
import { openTestSql, testDatabaseUrl, type TestSql } from "../support/databases.js";

const engine = testDatabaseUrl() ? "postgres" : "pglite";
let db: TestSql;
beforeAll(async () => {
  db = await openTestSql();
});
afterAll(() => db?.dispose());

const pusher = (userId: string, extra: Partial<PusherRow> = {}): PusherRow => ({
  user_id: userId,
  app_id: "app",
  pushkey: "key",
  kind: "http",
  app_display_name: "App",
  device_display_name: "Phone",
  profile_tag: null,
  lang: "en",
  data: { url: "https://gw.example/_matrix/push/v1/notify" },
  created_ts: 1,
  device_id: null,
  ...extra,
});

describe(`push storage on ${engine}`, () => {
  it("push rule changes: concurrent read-modify-writes of one user all land; a throwing change writes nothing", async () => {
    const repo = new PushRulesRepo(db.sql);
    expect(await repo.getChanges("@p:hs")).toBeUndefined();
    await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        repo.updateChanges("@p:hs", (cur) => putCustomRule(cur ?? { custom: {}, defaults: {} }, "override", { rule_id: `r${i}`, actions: [] }, {})),
      ),
    );
    const got = (await repo.getChanges("@p:hs")) as PushRuleChanges;
    expect(got.custom.override!.map((r) => r.rule_id).sort()).toEqual(["r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7"]);
    await expect(
      repo.updateChanges("@p:hs", () => {
        throw new Error("no");
      }),
    ).rejects.toThrow("no");
    expect(((await repo.getChanges("@p:hs")) as PushRuleChanges).custom.override).toHaveLength(8);
  });

  it("pushers: upsert per (user, app, pushkey); without append others lose the pushkey", async () => {
    const repo = new PushRulesRepo(db.sql);
    await repo.setPusher(pusher("@a:hs"), false);
    await repo.setPusher(pusher("@a:hs", { lang: "de", created_ts: 5 }), false);
    expect((await repo.listPushers("@a:hs")).map((p) => [p.lang, p.created_ts])).toEqual([["de", 1]]);
    await repo.setPusher(pusher("@b:hs"), true);
    expect(await repo.listPushers("@a:hs")).toHaveLength(1);
    await repo.setPusher(pusher("@c:hs"), false);
    expect(await repo.listPushers("@a:hs")).toHaveLength(0);
    expect(await repo.listPushers("@b:hs")).toHaveLength(0);
    expect(await repo.listPushers("@c:hs")).toHaveLength(1);
    await repo.deletePusher("@c:hs", "app", "key");
    expect(await repo.listPushers("@c:hs")).toEqual([]);
    await repo.setPusher(pusher("@d:hs", { pushkey: "k1" }), false);
    await repo.setPusher(pusher("@d:hs", { pushkey: "k2" }), false);
    await repo.setPusher(pusher("@e:hs", { pushkey: "k3" }), false);
    await repo.deleteAllPushers("@d:hs");
    expect(await repo.listPushers("@d:hs")).toEqual([]);
    expect(await repo.listPushers("@e:hs")).toHaveLength(1);
  });

  it("pushers go with the devices that registered them", async () => {
    const repo = new PushRulesRepo(db.sql);
    await repo.setPusher(pusher("@f:hs", { pushkey: "p1", device_id: "DEV1" }), true);
    await repo.setPusher(pusher("@f:hs", { pushkey: "p2", device_id: "DEV2" }), true);
    await repo.setPusher(pusher("@f:hs", { pushkey: "p3", device_id: null }), true);
    await repo.setPusher(pusher("@g:hs", { pushkey: "p4", device_id: "DEV1" }), true);
    await repo.deletePushersOfDevices("@f:hs", ["DEV1"]);
    expect((await repo.listPushers("@f:hs")).map((p) => [p.pushkey, p.device_id]).sort()).toEqual([["p2", "DEV2"], ["p3", null]]);
    expect(await repo.listPushers("@g:hs")).toHaveLength(1);
  });
});
