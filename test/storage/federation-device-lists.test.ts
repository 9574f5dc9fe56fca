import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DeviceListOutboundRepo } from "../../src/storage/device-list-outbound-repo.js";
import { RemoteDeviceListsRepo } from "../../src/storage/remote-device-lists-repo.js";
import { openTestSql, testDatabaseUrl, type TestSql } from "../support/databases.js";

const engine = testDatabaseUrl() ? "postgres" : "pglite";
let db: TestSql;
beforeAll(async () => {
  db = await openTestSql();
});
afterAll(() => db?.dispose());

const u = "@alice:remote.example";
const update = (over: Partial<Parameters<RemoteDeviceListsRepo["applyUpdate"]>[0]>) => ({
  userId: u,
  deviceId: "D2",
  displayName: "phone",
  keyJson: '{"k":2}',
  deleted: false,
  streamId: 6,
  expectStreamId: 5,
  ...over,
});

describe(`federation device list storage on ${engine}`, () => {
  it("a resync replaces the cache; an update applies only at the expected stream_id; stale lists are not fresh", async () => {
    const repo = new RemoteDeviceListsRepo(db.sql);
    await repo.replace({ userId: u, streamId: 9, devices: [{ deviceId: "OLD", displayName: null, keyJson: null }], master: '{"m":0}' }, 1);
    await repo.replace({ userId: u, streamId: 5, devices: [{ deviceId: "D1", displayName: null, keyJson: '{"k":1}' }], selfSigning: '{"s":1}' }, 2);
    expect(await repo.get(u)).toEqual({ user_id: u, stream_id: 5, stale: false });
    expect((await repo.devices([u])).map((d) => d.device_id)).toEqual(["D1"]);
    expect(await repo.signingKeys([u])).toEqual([{ user_id: u, key_type: "self_signing", key_json: '{"s":1}' }]);

    expect(await repo.applyUpdate(update({ expectStreamId: 4 }), 3, 1000)).toBe(false);
    expect(await repo.applyUpdate(update({}), 3, 1000)).toBe(true);
    expect(await repo.applyUpdate(update({ deviceId: "D1", deleted: true, streamId: 7, expectStreamId: 6 }), 4, 1000)).toBe(true);
    expect(await repo.devices([u])).toEqual([{ user_id: u, device_id: "D2", display_name: "phone", key_json: '{"k":2}' }]);
    expect(await repo.get(u)).toMatchObject({ stream_id: 7 });

    expect(await repo.fresh([u, "@other:remote.example"])).toEqual(new Set([u]));
    await repo.markStale(u);
    expect(await repo.fresh([u])).toEqual(new Set());
    expect(await repo.applyUpdate(update({ streamId: 8, expectStreamId: 7 }), 5, 1000)).toBe(false);
  });

  it("updates beyond the device cap add no device but still change known ones", async () => {
    const repo = new RemoteDeviceListsRepo(db.sql);
    const v = "@many:remote.example";
    await repo.replace({ userId: v, streamId: 1, devices: [{ deviceId: "A", displayName: null, keyJson: null }] }, 1);
    expect(await repo.applyUpdate(update({ userId: v, deviceId: "B", streamId: 2, expectStreamId: 1 }), 2, 1)).toBe(true);
    expect(await repo.applyUpdate(update({ userId: v, deviceId: "A", displayName: "renamed", streamId: 3, expectStreamId: 2 }), 3, 1)).toBe(true);
    expect(await repo.devices([v])).toEqual([{ user_id: v, device_id: "A", display_name: "renamed", key_json: '{"k":2}' }]);
  });

  it("outbound: the stream id, signing digest and per-device digests as last sent", async () => {
    const repo = new DeviceListOutboundRepo(db.sql);
    const me = "@me:local.example";
    expect(await repo.state(me)).toEqual({ streamId: 0, signingDigest: null, devices: new Map() });
    await repo.save(
      me,
      2,
      "sd",
      new Map([
        ["D1", "x"],
        ["D2", "y"],
      ]),
    );
    await repo.save(
      me,
      3,
      "sd2",
      new Map([
        ["D1", null],
        ["D2", "z"],
      ]),
    );
    expect(await repo.state(me)).toEqual({ streamId: 3, signingDigest: "sd2", devices: new Map([["D2", "z"]]) });
    expect(await repo.streamId(me)).toBe(3);
  });
});
