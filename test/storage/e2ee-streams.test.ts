import { afterEach, describe, expect, it } from "vitest";
import type { DeviceDirectory, RoomAudience, StreamNotifier } from "../../src/e2ee/deps.js";
import { DeviceKeysService } from "../../src/e2ee/device-keys.js";
import { DeviceListService } from "../../src/e2ee/device-lists.js";
import { ToDeviceService } from "../../src/e2ee/to-device.js";
import { E2eeCrossSigningRepo } from "../../src/storage/e2ee-cross-signing-repo.js";
import { E2eeDeviceListsRepo } from "../../src/storage/e2ee-device-lists-repo.js";
import { E2eeKeysRepo } from "../../src/storage/e2ee-keys-repo.js";
import { ToDeviceRepo } from "../../src/storage/to-device-repo.js";
import { openTestSql, testDatabaseUrl, type TestSql } from "../support/databases.js";

const engine = testDatabaseUrl() ? "postgres" : "pglite";
let db: TestSql | undefined;
afterEach(async () => {
  await db?.dispose();
  db = undefined;
});

const devicesOf: Record<string, string[]> = { "@bob:hs": ["B1", "B2"], "@alice:hs": ["A1"] };
const directory: DeviceDirectory = {
  listDevices: async (userId) => (devicesOf[userId] ?? []).map((deviceId) => ({ deviceId, displayName: null })),
};

function recorder() {
  const calls: Array<{ stream: string; position: number; userIds: readonly string[] }> = [];
  const notifier: StreamNotifier = { notify: (stream, position, keys) => void calls.push({ stream, position, userIds: keys.userIds ?? [] }) };
  return { calls, notifier };
}

async function toDeviceService(sqlDb: TestSql, notifier: StreamNotifier) {
  return ToDeviceService.open({ repo: new ToDeviceRepo(sqlDb.sql), devices: directory, notifier, clock: { now: () => 1000 }, serverName: "hs" });
}

const sender = { userId: "@alice:hs", deviceId: "A1" };

describe(`to-device readers on ${engine}`, () => {
  it("delivers in order, exactly once, and deletes on acknowledgement", async () => {
    db = await openTestSql();
    const { calls, notifier } = recorder();
    const svc = await toDeviceService(db, notifier);
    expect(svc.currentPosition()).toBe(0);
    for (let n = 1; n <= 5; n++) await svc.send(sender, "m.test", `t${n}`, { "@bob:hs": { B1: { n } } });
    const upto = svc.currentPosition();
    expect(upto).toBe(calls.at(-1)!.position);
    expect(calls.map((c) => c.stream)).toEqual(Array(5).fill("to_device"));
    expect(calls.every((c) => c.userIds.join() === "@bob:hs")).toBe(true);

    // A first sync takes two messages; its token stops at the second.
    const first = await svc.getToDeviceMessages("@bob:hs", "B1", 0, upto, 2);
    expect(first.events.map((e) => e.content.n)).toEqual([1, 2]);
    expect(first.events[0]).toEqual({ sender: "@alice:hs", type: "m.test", content: { n: 1 } });
    expect(first.position).toBeLessThan(upto);
    // Retried with the same since token (the response was lost): the same messages again.
    expect((await svc.getToDeviceMessages("@bob:hs", "B1", 0, upto, 2)).events.map((e) => e.content.n)).toEqual([1, 2]);
    // The next sync acknowledges the first batch and gets the rest.
    expect(await svc.deleteToDeviceUpTo("@bob:hs", "B1", first.position)).toBe(2);
    const second = await svc.getToDeviceMessages("@bob:hs", "B1", first.position, upto, 100);
    expect(second.events.map((e) => e.content.n)).toEqual([3, 4, 5]);
    expect(second.position).toBe(upto);
    await svc.deleteToDeviceUpTo("@bob:hs", "B1", second.position);
    expect((await svc.getToDeviceMessages("@bob:hs", "B1", 0, upto, 100)).events).toEqual([]);
    // Other devices are untouched.
    expect((await svc.getToDeviceMessages("@bob:hs", "B2", 0, upto, 100)).events).toEqual([]);

    // Long-polls with the same token acknowledge once: the DELETE is not repeated. A later message still is.
    const statements: string[] = [];
    const query = db.sql.query.bind(db.sql);
    db.sql.query = ((text: string, params?: readonly unknown[]) => {
      statements.push(text);
      return query(text, params);
    }) as typeof db.sql.query;
    try {
      expect(await svc.deleteToDeviceUpTo("@bob:hs", "B1", second.position)).toBe(0);
      expect(await svc.deleteToDeviceUpTo("@bob:hs", "B1", first.position)).toBe(0);
      expect(statements.filter((t) => t.startsWith("DELETE"))).toEqual([]);
      await svc.send(sender, "m.test", "t6", { "@bob:hs": { B1: { n: 6 } } });
      expect(svc.currentPosition()).toBeGreaterThan(second.position);
      expect(await svc.deleteToDeviceUpTo("@bob:hs", "B1", svc.currentPosition())).toBe(1);
    } finally {
      db.sql.query = query;
    }
  });

  it("a retransmitted transaction stores and announces nothing", async () => {
    db = await openTestSql();
    const { calls, notifier } = recorder();
    const svc = await toDeviceService(db, notifier);
    await svc.send(sender, "m.test", "same", { "@bob:hs": { "*": { x: 1 } } });
    await svc.send(sender, "m.test", "same", { "@bob:hs": { "*": { x: 1 } } });
    expect(calls).toHaveLength(1);
    for (const d of ["B1", "B2"]) expect((await svc.getToDeviceMessages("@bob:hs", d, 0, svc.currentPosition(), 10)).events).toHaveLength(1);
    // Transaction ids are forgotten after a day (checked lazily on a later send).
    let now = 1000;
    const later = await ToDeviceService.open({ repo: new ToDeviceRepo(db.sql), devices: directory, notifier, clock: { now: () => now }, serverName: "hs" });
    await later.send(sender, "m.test", "same", { "@bob:hs": { B1: { x: 2 } } });
    expect(calls).toHaveLength(1);
    now += 25 * 60 * 60 * 1000;
    await later.send(sender, "m.test", "other", {});
    await later.send(sender, "m.test", "same", { "@bob:hs": { B1: { x: 3 } } });
    expect(calls).toHaveLength(2);
    // Positions survive a restart: a new service starts at the committed maximum.
    const reopened = await toDeviceService(db, notifier);
    expect(reopened.currentPosition()).toBe(later.currentPosition());
    expect(later.currentPosition()).toBeGreaterThan(svc.currentPosition());
  });

  it("concurrent sends: positions are increasing and a reader never sees a gap below `current`", async () => {
    db = await openTestSql();
    const { notifier } = recorder();
    const svc = await toDeviceService(db, notifier);
    const seen: number[][] = [];
    let done = false;
    const reader = (async () => {
      while (!done) {
        const upto = svc.currentPosition();
        const batch = await db!.sql.query<{ stream_pos: number }>(
          "SELECT stream_pos FROM to_device_messages WHERE user_id = '@bob:hs' AND device_id = 'B1' AND stream_pos <= $1 ORDER BY stream_pos",
          [upto],
        );
        seen.push(batch.map((r) => r.stream_pos));
        await new Promise((r) => setTimeout(r, 1));
      }
    })();
    await Promise.all(Array.from({ length: 20 }, (_, i) => svc.send(sender, "m.test", `c${i}`, { "@bob:hs": { B1: { i } } })));
    done = true;
    await reader;
    const all = (await svc.getToDeviceMessages("@bob:hs", "B1", 0, svc.currentPosition(), 100)).events;
    expect(all).toHaveLength(20);
    const final = (await db.sql.query<{ stream_pos: number }>("SELECT stream_pos FROM to_device_messages ORDER BY stream_pos")).map((r) => r.stream_pos);
    expect(new Set(final).size).toBe(20);
    expect(svc.currentPosition()).toBe(final.at(-1));
    // Every snapshot a reader took is a prefix of the final order: nothing appeared later below its bound.
    for (const snap of seen) expect(final.slice(0, snap.length)).toEqual(snap);
  });
});

describe(`device-list stream on ${engine}`, () => {
  it("reports changes in the window to users who share a room", async () => {
    db = await openTestSql();
    const { calls, notifier } = recorder();
    const repo = new E2eeDeviceListsRepo(db.sql);
    const selfOnly = await DeviceListService.open(repo, notifier, { usersSharingRoomWith: async (u) => [u] });
    const p1 = await selfOnly.markChanged("@alice:hs");
    expect(calls).toEqual([{ stream: "device_lists", position: p1, userIds: ["@alice:hs"] }]);
    expect(await selfOnly.getDeviceListChanges("@alice:hs", 0, p1)).toEqual({ changed: ["@alice:hs"], left: [] });
    expect(await selfOnly.getDeviceListChanges("@bob:hs", 0, p1)).toEqual({ changed: [], left: [] });

    const shared: RoomAudience = { usersSharingRoomWith: async () => ["@alice:hs", "@bob:hs"] };
    const inRoom = await DeviceListService.open(repo, notifier, shared);
    expect(inRoom.currentPosition()).toBe(p1);
    expect((await inRoom.getDeviceListChanges("@bob:hs", 0, p1)).changed).toEqual(["@alice:hs"]);
    const p2 = await inRoom.markChanged("@bob:hs");
    expect(p2).toBeGreaterThan(p1);
    expect(calls.at(-1)!.userIds).toEqual(["@alice:hs", "@bob:hs"]);
    // Windows: (p1, p2] has only bob; a bound past `current` is capped.
    expect((await inRoom.getDeviceListChanges("@alice:hs", p1, p2)).changed).toEqual(["@bob:hs"]);
    expect((await inRoom.getDeviceListChanges("@alice:hs", p2, p2 + 100)).changed).toEqual([]);
    // A newer change of alice moves her entry forward.
    const p3 = await inRoom.markChanged("@alice:hs");
    expect((await inRoom.getDeviceListChanges("@bob:hs", p2, p3)).changed).toEqual(["@alice:hs"]);
  });
});

describe(`one-time key counts and fallback keys on ${engine}`, () => {
  async function service(sqlDb: TestSql) {
    const { notifier } = recorder();
    const keys = new E2eeKeysRepo(sqlDb.sql);
    const deviceLists = await DeviceListService.open(new E2eeDeviceListsRepo(sqlDb.sql), notifier, { usersSharingRoomWith: async (u) => [u] });
    const svc = new DeviceKeysService({
      sql: sqlDb.sql,
      keys,
      crossSigning: new E2eeCrossSigningRepo(sqlDb.sql),
      devices: directory,
      deviceLists,
      clock: { now: () => 1 },
      serverName: "hs",
    });
    return { svc, keys };
  }
  const bob = { userId: "@bob:hs", deviceId: "B1" };
  const otks = (from: number, n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`signed_curve25519:K${from + i}`, { key: `k${from + i}` }]));

  it("counts unclaimed keys and tracks whether the fallback key was used", async () => {
    db = await openTestSql();
    const { svc } = await service(db);
    await svc.upload(bob, { one_time_keys: { ...otks(0, 3), "curve25519:plain": "abc" }, fallback_keys: { "signed_curve25519:F1": { key: "f1", fallback: true } } });
    expect(await svc.getOneTimeKeyCounts("@bob:hs", "B1")).toEqual({ signed_curve25519: 3, curve25519: 1 });
    expect(await svc.getUnusedFallbackKeyTypes("@bob:hs", "B1")).toEqual(["signed_curve25519"]);
    for (let i = 0; i < 4; i++) await svc.claim({ "@bob:hs": { B1: "signed_curve25519" } });
    expect(await svc.getOneTimeKeyCounts("@bob:hs", "B1")).toEqual({ curve25519: 1 });
    expect(await svc.getUnusedFallbackKeyTypes("@bob:hs", "B1")).toEqual([]);
    // Re-sending the same fallback key keeps it used; a new one is unused.
    await svc.upload(bob, { fallback_keys: { "signed_curve25519:F1": { key: "f1", fallback: true } } });
    expect(await svc.getUnusedFallbackKeyTypes("@bob:hs", "B1")).toEqual([]);
    await svc.upload(bob, { fallback_keys: { "signed_curve25519:F2": { key: "f2", fallback: true } } });
    expect(await svc.getUnusedFallbackKeyTypes("@bob:hs", "B1")).toEqual(["signed_curve25519"]);
    const claimed = await svc.claim({ "@bob:hs": { B1: "signed_curve25519" } });
    expect(claimed.one_time_keys).toEqual({ "@bob:hs": { B1: { "signed_curve25519:F2": { key: "f2", fallback: true } } } });
    // Deleting the device drops its keys.
    await svc.onDevicesDeleted("@bob:hs", ["B1"]);
    expect(await svc.getOneTimeKeyCounts("@bob:hs", "B1")).toEqual({});
    expect(await svc.getUnusedFallbackKeyTypes("@bob:hs", "B1")).toEqual([]);
  });

  it("50 concurrent claims on 10 keys take each key once", async () => {
    db = await openTestSql();
    const { svc, keys } = await service(db);
    await svc.upload(bob, { one_time_keys: otks(0, 10) });
    const got = await Promise.all(Array.from({ length: 50 }, () => keys.claimOneTimeKey("@bob:hs", "B1", "signed_curve25519")));
    const ids = got.filter((k) => k !== undefined).map((k) => k!.key_id);
    expect(ids.sort()).toEqual(Object.keys(otks(0, 10)).map((k) => k.split(":")[1]).sort());
  });
});
