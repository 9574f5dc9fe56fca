import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTestSql, type TestSql } from "../support/databases.js";

let db: TestSql;
beforeAll(async () => {
  db = await openTestSql();
}, 60_000);
afterAll(() => db?.dispose());

describe(`transactions (${process.env.TEST_DATABASE_URL && process.env.TEST_DATABASE_URL !== "none" ? "PostgreSQL" : "PGlite"})`, () => {
  it("refuse to pass a rolled-back transaction off as committed when a failed statement's error was caught", async () => {
    await db.sql.exec("CREATE TABLE IF NOT EXISTS tx_probe (n int)");
    await expect(
      db.sql.transaction(async (tx) => {
        await tx.query("INSERT INTO tx_probe (n) VALUES (1)");
        await tx.query("SELECT 1 / 0").catch(() => undefined);
        return "done";
      }),
    ).rejects.toThrow();
    expect(await db.sql.query("SELECT n FROM tx_probe")).toEqual([]);
  });

  it("run statements issued without waiting in the order they were issued", async () => {
    await db.sql.exec("CREATE TABLE IF NOT EXISTS tx_order (n int PRIMARY KEY)");
    const seen = await db.sql.transaction(async (tx) => {
      const first = tx.query("INSERT INTO tx_order (n) VALUES (1)");
      const second = tx.query<{ c: number }>("SELECT count(*)::int AS c FROM tx_order");
      await first;
      return (await second)[0]?.c;
    });
    expect(seen).toBe(1);
  });
});
