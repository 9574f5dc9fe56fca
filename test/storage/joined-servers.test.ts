import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { joinedServers, serverOf } from "../../src/federation/outbound.js";
import { openTestSql, type TestSql } from "../support/databases.js";

let db: TestSql;
beforeAll(async () => {
  db = await openTestSql();
}, 60_000);
afterAll(() => db?.dispose());

const ROOM = "!big:self.test";

describe("joinedServers", () => {
  it("lists each other server with a joined member once, whatever the member count", async () => {
    const members: Array<[string, string]> = [
      ...Array.from({ length: 300 }, (_, i): [string, string] => [`@local${i}:self.test`, "join"]),
      ...Array.from({ length: 50 }, (_, i): [string, string] => [`@r${i}:b.test`, "join"]),
      ["@one:c.test:8448", "join"],
      ["@gone:d.test", "leave"],
      ["@asked:e.test", "invite"],
      ["@x:self.test.evil", "join"],
    ];
    let so = 0;
    for (const [userId, membership] of members) {
      await db.sql.query("INSERT INTO room_memberships (room_id, user_id, membership, event_id, stream_ordering) VALUES ($1, $2, $3, $4, $5)", [
        ROOM,
        userId,
        membership,
        `$m${++so}`,
        so,
      ]);
    }
    const servers = await joinedServers(db.sql, ROOM, "self.test");
    expect(servers).toEqual(["b.test", "c.test:8448", "self.test.evil"]);
    // The SQL takes the server name as serverOf does: what follows the first colon.
    expect(servers).toEqual([...new Set(members.filter(([, m]) => m === "join").map(([u]) => serverOf(u)))].filter((s) => s !== "self.test").sort());
    expect(await joinedServers(db.sql, "!empty:self.test", "self.test")).toEqual([]);
  });
});
