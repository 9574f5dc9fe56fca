import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRoomsModule, type RoomsModule } from "../../src/rooms/module.js";
import { SearchRepo, toPrefixQuery } from "../../src/storage/search-repo.js";
import { openTestSql, type TestSql } from "../support/databases.js";

// The writer's secondary indexes on both engines: event_relations (recursive
// pages, thread summaries) and event_search (tsvector + GIN, ranking), and
// that a redaction removes the redacted event from both.
let db: TestSql;
let rooms: RoomsModule;
let search: SearchRepo;
const alice = { userId: "@alice:test", deviceId: "DEV" };
let roomId: string;
let txn = 0;

const send = async (content: Record<string, unknown>, type = "m.room.message") =>
  rooms.messaging.sendMessage(alice, roomId, type, content as never, `t${++txn}`);

beforeAll(async () => {
  db = await openTestSql();
  rooms = await createRoomsModule({ sql: db.sql, serverName: "test", signingKey: { keyId: "ed25519:t", seed: randomBytes(32) }, defaultRoomVersion: "11" });
  search = new SearchRepo(db.sql);
  roomId = (await rooms.creation.createRoom(alice.userId, { name: "Garden party", topic: "Tomatoes and beans" })).roomId;
}, 60_000);
afterAll(() => db?.dispose());

const max = () => rooms.positions.persistedUpTo;

describe("event_relations", () => {
  it("pages children topologically, follows chains when asked, and forgets redacted children", async () => {
    const root = await send({ msgtype: "m.text", body: "root" });
    const r1 = await send({ msgtype: "m.text", body: "a", "m.relates_to": { rel_type: "m.thread", event_id: root } });
    const r2 = await send({ msgtype: "m.text", body: "b", "m.relates_to": { rel_type: "m.thread", event_id: root } });
    const deep = await send({ "m.relates_to": { rel_type: "m.annotation", event_id: r1, key: "x" } }, "m.reaction");
    const page = (levels: number, relType?: string) =>
      rooms.repos.relations.page({ roomId, parentId: root, relType, dir: "b", limit: 10, maxStream: max(), levels });
    expect((await page(1)).map((r) => r.eventId)).toEqual([r2, r1]);
    expect((await page(3)).map((r) => r.eventId)).toEqual([deep, r2, r1]);
    expect((await page(3, "m.thread")).map((r) => r.eventId)).toEqual([r2, r1]);
    const [summary] = await rooms.repos.relations.threadSummaries([root], "@bob:test", [], max());
    expect(summary).toEqual({ rootId: root, count: 2, participated: false, latestEventId: r2 });
    expect(await rooms.repos.relations.threadSummaries([root], alice.userId, [alice.userId], max())).toEqual([]);

    await rooms.messaging.redact(alice, roomId, r2, `r${++txn}`, undefined);
    expect((await page(1)).map((r) => r.eventId)).toEqual([r1]);
    const roots = await rooms.repos.relations.threadRoots({ roomId, maxStream: max(), ignored: [], limit: 10 });
    expect(roots.map((r) => r.rootId)).toEqual([root]);
  });
});

describe("event_search", () => {
  it("indexes bodies, names and topics, ranks and stems, and drops redacted events", async () => {
    const once = await send({ msgtype: "m.text", body: "beans are growing" });
    const twice = await send({ msgtype: "m.text", body: "beans, beans, more beans" });
    const q = (term: string, keys = ["content.body", "content.name", "content.topic"]) => ({
      tsquery: toPrefixQuery(term)!,
      roomIds: [roomId],
      keys,
      orderBy: "rank" as const,
      offset: 0,
      limit: 10,
      maxStream: max(),
    });
    const hits = await search.search(q("bean"));
    expect(hits.map((h) => h.eventId).slice(0, 2)).toEqual([twice, once]);
    expect(hits.length).toBe(3); // and the topic "Tomatoes and beans"
    expect(await search.count(q("bean"))).toBe(3);
    expect((await search.search(q("grow"))).map((h) => h.eventId)).toEqual([once]);
    expect((await search.search(q("garden", ["content.name"]))).length).toBe(1);
    await rooms.messaging.redact(alice, roomId, once, `r${++txn}`, undefined);
    expect((await search.search(q("grow"))).length).toBe(0);
  });
});
