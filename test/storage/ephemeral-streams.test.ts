import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PresenceService } from "../../src/ephemeral/presence.js";
import { ReceiptsService } from "../../src/ephemeral/receipts.js";
import { PresenceRepo } from "../../src/storage/presence-repo.js";
import { ReceiptsRepo } from "../../src/storage/receipts-repo.js";
import { Notifier } from "../../src/sync/notifier.js";
import { ZERO_TOKEN } from "../../src/sync/tokens.js";
import { openTestSql, testDatabaseUrl, type TestSql } from "../support/databases.js";

const engine = testDatabaseUrl() ? "postgres" : "pglite";
let db: TestSql;
beforeAll(async () => {
  db = await openTestSql();
});
afterAll(() => db.dispose());

const rooms = {
  async isJoined(userId: string, roomId: string) {
    return roomId === "!r:x" && userId !== "@outsider:x";
  },
  async hasEvent(_roomId: string, eventId: string) {
    return eventId.startsWith("$");
  },
};

describe(`receipts on ${engine}`, () => {
  it("hands out unique, increasing positions under concurrency and reads windows exactly once", async () => {
    const repo = new ReceiptsRepo(db.sql);
    const start = await repo.currentPosition();
    const positions = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        repo.upsert({ room_id: "!w:x", receipt_type: "m.read", user_id: `@u${i}:x`, thread_id: "", event_id: `$e${i}`, ts: i }),
      ),
    );
    expect(new Set(positions).size).toBe(20);
    const end = await repo.currentPosition();
    expect(end).toBe(Math.max(...positions));
    const mid = [...positions].sort((a, b) => a - b)[9]!;
    const first = await repo.changedIn(["!w:x"], start, mid);
    const second = await repo.changedIn(["!w:x"], mid, end);
    expect(first.length + second.length).toBe(20);
    expect(new Set([...first, ...second].map((r) => r.user_id)).size).toBe(20);
  });

  it("keeps one receipt per (user, type, thread); private receipts reach only their owner", async () => {
    const n = new Notifier();
    const svc = new ReceiptsService(new ReceiptsRepo(db.sql), rooms, n, { now: () => 1000 });
    const since = await svc.currentPosition();
    const bobWakes = n.wait({ userIds: ["@bob:x"], roomIds: ["!r:x"] }, { ...ZERO_TOKEN, receipts: since }, 5000);
    await svc.setReceipt("@alice:x", "!r:x", "m.read", "$1", undefined);
    expect(await bobWakes).toBe(true);
    await svc.setReceipt("@alice:x", "!r:x", "m.read", "$2", undefined);
    await svc.setReceipt("@alice:x", "!r:x", "m.read", "$t", "main");
    await svc.setReceipt("@alice:x", "!r:x", "m.read.private", "$3", undefined);
    const upto = await svc.currentPosition();
    const forBob = (await svc.forSync("@bob:x", ["!r:x"], since, upto)).get("!r:x");
    expect(forBob).toEqual({
      $2: { "m.read": { "@alice:x": { ts: 1000 } } },
      $t: { "m.read": { "@alice:x": { ts: 1000, thread_id: "main" } } },
    });
    const forAlice = (await svc.forSync("@alice:x", ["!r:x"], since, upto)).get("!r:x");
    expect(forAlice?.$3).toEqual({ "m.read.private": { "@alice:x": { ts: 1000 } } });
  });

  it("refuses non-members, unknown events, bad thread ids and receipt types, storing nothing", async () => {
    const svc = new ReceiptsService(new ReceiptsRepo(db.sql), rooms, new Notifier());
    const before = await svc.currentPosition();
    await expect(svc.setReceipt("@outsider:x", "!r:x", "m.read", "$1", undefined)).rejects.toMatchObject({ status: 403, errcode: "M_FORBIDDEN" });
    await expect(svc.setReceipt("@alice:x", "!r:x", "m.read", "nope", undefined)).rejects.toMatchObject({ status: 404 });
    await expect(svc.setReceipt("@alice:x", "!r:x", "m.read", "$1", "")).rejects.toMatchObject({ status: 400, errcode: "M_INVALID_PARAM" });
    await expect(svc.setReceipt("@alice:x", "!r:x", "m.bogus", "$1", undefined)).rejects.toMatchObject({ status: 400 });
    expect(await svc.currentPosition()).toBe(before);
  });
});

describe(`presence on ${engine}`, () => {
  it("sets, reads with idle and activity, and streams changes to users sharing a room", async () => {
    let now = 1_000_000;
    const audience = { usersSharingRoomWith: async (u: string) => (u === "@stranger:x" ? [] : ["@alice:x", "@bob:x"].filter((x) => x !== u)) };
    const n = new Notifier();
    const svc = new PresenceService(new PresenceRepo(db.sql), audience, n, { enabled: true, idleTimeoutMs: 300_000 }, { now: () => now });
    const since = await svc.currentPosition();
    const bobWakes = n.wait({ userIds: ["@bob:x"] }, { ...ZERO_TOKEN, presence: since }, 5000);
    await svc.setPresence("@alice:x", "online", "lunch");
    expect(await bobWakes).toBe(true);
    now += 10_000;
    expect(await svc.getPresence("@bob:x", "@alice:x")).toEqual({ presence: "online", last_active_ago: 10_000, currently_active: true, status_msg: "lunch" });
    now += 400_000;
    expect((await svc.getPresence("@alice:x", "@alice:x")).presence).toBe("unavailable");
    await expect(svc.getPresence("@stranger:x", "@alice:x")).rejects.toMatchObject({ status: 403, errcode: "M_FORBIDDEN" });
    const events = await svc.forSync("@bob:x", since, await svc.currentPosition());
    expect(events.map((e) => [e.sender, e.content.status_msg])).toEqual([["@alice:x", "lunch"]]);
    await expect(svc.setPresence("@alice:x", "online", "x".repeat(2000))).rejects.toMatchObject({ status: 400 });
  });
});
