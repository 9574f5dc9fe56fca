import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTestSql, type TestSql } from "../support/databases.js";

let db: TestSql;
beforeAll(async () => {
  db = await openTestSql({ migrated: false });
}, 60_000);
afterAll(() => db?.dispose());

const engine = process.env.TEST_DATABASE_URL && process.env.TEST_DATABASE_URL !== "none" ? "PostgreSQL" : "PGlite";

describe(`the database session under queued work (${engine})`, () => {
  it("serves transactions and reads in the order they asked, whatever the rooms or kinds", async () => {
    const order: string[] = [];
    const work: Array<Promise<unknown>> = [];
    for (let i = 0; i < 6; i++) {
      work.push(
        db.sql.transaction(async (tx) => {
          order.push(`tx${i}`);
          await tx.query("SELECT pg_sleep(0.002)");
        }),
      );
      if (i % 2 === 1) work.push(db.sql.query("SELECT 1").then(() => order.push(`read${i}`)));
    }
    await Promise.all(work);
    // Only PGlite has one session: on PostgreSQL the pool runs these side by side.
    if (engine === "PGlite") expect(order).toEqual(["tx0", "tx1", "read1", "tx2", "tx3", "read3", "tx4", "tx5", "read5"]);
    else expect(order.sort()).toEqual(["read1", "read3", "read5", "tx0", "tx1", "tx2", "tx3", "tx4", "tx5"]);
  });

  it("lets the event loop turn between one transaction and the next, so I/O that arrived meanwhile is served", async () => {
    // What a socket callback (a new request, an accepted connection) would run, queued while a transaction holds the session.
    const events: string[] = [];
    const txs = [0, 1, 2, 3].map((i) =>
      db.sql.transaction(async (tx) => {
        events.push(`tx${i}`);
        await tx.query("SELECT 1");
        if (i === 0) setImmediate(() => events.push("io"));
      }),
    );
    await Promise.all(txs);
    if (engine === "PGlite") expect(events).toEqual(["tx0", "io", "tx1", "tx2", "tx3"]);
    else expect(events).toContain("io");
  });
});
