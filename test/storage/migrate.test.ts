import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { loadMigrations, migrate, SchemaTooNewError, type Migration } from "../../src/storage/migrate.js";
import { PushActionsRepo } from "../../src/storage/push-actions-repo.js";
import { openTestSql, testDatabaseUrl, type TestSql } from "../support/databases.js";

const engine = testDatabaseUrl() ? "postgres" : "pglite";
let db: TestSql | undefined;
afterEach(async () => {
  await db?.dispose();
  db = undefined;
});

const m = (version: number, name: string, sql: string): Migration => ({ version, name, sql });

/** Applies the project's migrations numbered below `version`: the schema a later one starts from. */
const migrateBelow = (t: TestSql, version: number) =>
  migrate(
    t.sql,
    loadMigrations().filter((x) => x.version < version),
  );

describe(`migrations on ${engine}`, () => {
  it("applies the project's migrations once and records each", async () => {
    db = await openTestSql({ migrated: false });
    const all = loadMigrations();
    expect(all.length).toBeGreaterThan(0);
    const first = await migrate(db.sql);
    expect(first.applied).toEqual(all.map((x) => x.version));
    const rows = await db.sql.query<{ version: number; name: string }>("SELECT version, name FROM schema_migrations ORDER BY version");
    expect(rows.map((r) => [r.version, r.name])).toEqual(all.map((x) => [x.version, x.name]));
    const second = await migrate(db.sql);
    expect(second.applied).toEqual([]);
  });

  it("applies only the new ones, in order", async () => {
    db = await openTestSql({ migrated: false });
    const a = m(1, "a", "CREATE TABLE t (x int); INSERT INTO t VALUES (1);");
    const b = m(2, "b", "INSERT INTO t VALUES (2);");
    const c = m(5, "c", "INSERT INTO t VALUES (5);");
    expect((await migrate(db.sql, [a, b])).applied).toEqual([1, 2]);
    expect((await migrate(db.sql, [a, b, c])).applied).toEqual([5]);
    const rows = await db.sql.query<{ x: number }>("SELECT x FROM t ORDER BY x");
    expect(rows.map((r) => r.x)).toEqual([1, 2, 5]);
  });

  it("refuses a database newer than the code", async () => {
    db = await openTestSql({ migrated: false });
    await migrate(db.sql, [m(1, "a", "CREATE TABLE t (x int);"), m(2, "b", "CREATE TABLE u (x int);")]);
    await expect(migrate(db.sql, [m(1, "a", "CREATE TABLE t (x int);")])).rejects.toBeInstanceOf(SchemaTooNewError);
  });

  it("a failing migration rolls back the whole batch", async () => {
    db = await openTestSql({ migrated: false });
    await expect(migrate(db.sql, [m(1, "ok", "CREATE TABLE good (x int);"), m(2, "bad", "CREATE TABLE broken (x nosuchtype);")])).rejects.toThrow();
    const tables = await db.sql.query("SELECT 1 FROM information_schema.tables WHERE table_name = 'good'");
    expect(tables).toHaveLength(0);
    // The runner's own bookkeeping table was created in the same rolled-back transaction.
    const bookkeeping = await db.sql.query("SELECT 1 FROM information_schema.tables WHERE table_name = 'schema_migrations'");
    expect(bookkeeping).toHaveLength(0);
  });

  it("concurrent runs on one handle apply each migration once", async () => {
    db = await openTestSql({ migrated: false });
    const list = [m(1, "a", "CREATE TABLE t (x int);"), m(2, "b", "INSERT INTO t VALUES (1);")];
    const results = await Promise.all([migrate(db.sql, list), migrate(db.sql, list), migrate(db.sql, list)]);
    expect(results.flatMap((r) => r.applied).sort()).toEqual([1, 2]);
    expect(await db.sql.query("SELECT x FROM t")).toHaveLength(1);
  });

  // Separate handles on one database exist only on PostgreSQL (PGlite has one
  // handle per data directory), so this case is registered in the PostgreSQL run.
  if (engine === "postgres")
    it("two processes' pools starting together apply each migration once (advisory lock)", async () => {
      db = await openTestSql({ migrated: false });
      const handles = await Promise.all([db.openAnother(), db.openAnother(), db.openAnother()]);
      // pg_sleep widens the window in which a second runner could slip in without the lock.
      const list = [m(1, "a", "CREATE TABLE t (x int); SELECT pg_sleep(0.2);"), m(2, "b", "INSERT INTO t VALUES (1);")];
      const results = await Promise.all(handles.map((h) => migrate(h, list)));
      expect(results.flatMap((r) => r.applied).sort()).toEqual([1, 2]);
      expect(await db.sql.query("SELECT x FROM t")).toHaveLength(1);
    });

  it("loads files in numeric order, rejects duplicates, ignores other files", () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "mig-"));
    try {
      writeFileSync(path.join(dir, "0002_second.sql"), "SELECT 2;");
      writeFileSync(path.join(dir, "0001_first.sql"), "SELECT 1;");
      writeFileSync(path.join(dir, "README.md"), "not a migration");
      expect(loadMigrations(dir).map((x) => x.name)).toEqual(["first", "second"]);
      writeFileSync(path.join(dir, "0002_again.sql"), "SELECT 3;");
      expect(() => loadMigrations(dir)).toThrow(/duplicate/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe(`Sql interface on ${engine}`, () => {
  it("commits a transaction that resolves and rolls back one that throws", async () => {
    db = await openTestSql();
    await db.sql.exec("CREATE TABLE k (id int PRIMARY KEY, v text)");
    await db.sql.transaction(async (tx) => {
      await tx.query("INSERT INTO k VALUES ($1, $2)", [1, "kept"]);
    });
    await expect(
      db.sql.transaction(async (tx) => {
        await tx.query("INSERT INTO k VALUES ($1, $2)", [2, "lost"]);
        throw new Error("abort");
      }),
    ).rejects.toThrow("abort");
    const rows = await db.sql.query<{ id: number; v: string }>("SELECT id, v FROM k ORDER BY id");
    expect(rows).toEqual([{ id: 1, v: "kept" }]);
  });

  it("returns int8 as number and jsonb as parsed values", async () => {
    db = await openTestSql();
    const [row] = await db.sql.query<{ n: unknown; j: unknown; o: unknown; t: unknown }>(
      "SELECT $1::int8 AS n, $2::jsonb AS j, $3::jsonb AS o, 'x'::text AS t",
      [9007199254740991, JSON.stringify({ a: [1, "b"] }), { c: { d: null } }],
    );
    // A string parameter is JSON text as it is; an object is encoded.
    expect(row).toEqual({ n: 9007199254740991, j: { a: [1, "b"] }, o: { c: { d: null } }, t: "x" });
  });

  it("reports constraint violations as errors with the SQLSTATE code", async () => {
    db = await openTestSql();
    await db.sql.exec("CREATE TABLE u (id int PRIMARY KEY)");
    await db.sql.query("INSERT INTO u VALUES (1)");
    await expect(db.sql.query("INSERT INTO u VALUES (1)")).rejects.toMatchObject({ code: "23505" });
  });
  it("keeps the stored push verdicts when their table is rekeyed by stream position", async () => {
    db = await openTestSql({ migrated: false });
    await migrateBelow(db, 220);
    const actions = ["notify", { set_tweak: "sound", value: "default" }];
    await db.sql.query(
      `INSERT INTO event_push_actions (user_id, event_id, room_id, thread_id, stream_ordering, highlight, actions, ts)
       VALUES ('@a:hs', '$e1', '!r:hs', 'main', 7, true, $1::jsonb, 70), ('@a:hs', '$e2', '!r:hs', 'main', 9, false, '["notify"]', 90)`,
      [JSON.stringify(actions)],
    );
    await migrate(db.sql, loadMigrations());
    const repo = new PushActionsRepo(db.sql);
    const rows = await repo.actionsIn("@a:hs", 0, 10, 10);
    expect(rows.map((r) => [r.eventId, r.streamOrdering, r.highlight, r.actions])).toEqual([
      ["$e1", 7, true, actions],
      ["$e2", 9, false, ["notify"]],
    ]);
    // The same user and position is one verdict: a second row for it is refused.
    await expect(
      db.sql.query(
        `INSERT INTO event_push_actions (user_id, event_id, room_id, thread_id, stream_ordering, highlight, actions, ts)
         VALUES ('@a:hs', '$other', '!r:hs', 'main', 7, false, '[]', 1)`,
      ),
    ).rejects.toMatchObject({ code: "23505" });
  });
  it("keeps every joined member's unread counts when verdicts move to a per-class table", async () => {
    db = await openTestSql({ migrated: false });
    await migrateBelow(db, 230);
    // @a (local, joined) has three verdicts, one highlighted, and read up to 7; @x left.
    await db.sql.query("INSERT INTO users (user_id, created_ts) VALUES ('@a:hs', 1), ('@x:hs', 1)");
    await db.sql.query(
      `INSERT INTO room_memberships (room_id, user_id, membership, event_id, stream_ordering)
       VALUES ('!r:hs', '@a:hs', 'join', '$j', 1), ('!r:hs', '@x:hs', 'leave', '$l', 2), ('!r:hs', '@remote:elsewhere', 'join', '$k', 3)`,
    );
    await db.sql.query(
      `INSERT INTO event_push_actions (user_id, event_id, room_id, thread_id, stream_ordering, highlight, actions, ts)
       VALUES ('@a:hs', '$e7', '!r:hs', 'main', 7, false, '["notify"]', 70), ('@a:hs', '$e8', '!r:hs', 'main', 8, true, '["notify"]', 80),
              ('@a:hs', '$e9', '!r:hs', '$t', 9, false, '["notify"]', 90), ('@x:hs', '$e8', '!r:hs', 'main', 8, false, '["notify"]', 80)`,
    );
    await db.sql.query("INSERT INTO push_read_marks (user_id, room_id, thread_id, stream_ordering) VALUES ('@a:hs', '!r:hs', '', 7)");
    await migrate(db.sql, loadMigrations());
    const repo = new PushActionsRepo(db.sql);
    const counts = (await repo.counters("@a:hs", ["!r:hs"])).map((c) => [c.threadId, c.notificationCount, c.highlightCount]).sort();
    expect(counts).toEqual([
      ["$t", 1, 0],
      ["main", 1, 1],
    ]);
    expect(await repo.unreadTotal("@a:hs")).toBe(2);
    expect(await repo.counters("@x:hs", ["!r:hs"])).toEqual([]);
    // Only local users take a place in the room's class.
    const spans = await db.sql.query<{ user_id: string }>("SELECT user_id FROM push_member_spans ORDER BY user_id");
    expect(spans.map((r) => r.user_id)).toEqual(["@a:hs"]);
  });
});
