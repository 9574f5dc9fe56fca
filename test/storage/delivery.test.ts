import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { backoffMs, DeliveryService, type DeliveryKind, type StreamEventRef } from "../../src/delivery/index.js";
import { DeliveryRepo } from "../../src/storage/delivery-repo.js";
import type { Sql } from "../../src/storage/sql.js";
import { openTestSql, testDatabaseUrl, type TestSql } from "../support/databases.js";

const engine = testDatabaseUrl() ? "postgres" : "pglite";
let db: TestSql;
beforeAll(async () => {
  db = await openTestSql();
});
afterAll(() => db?.dispose());

let nextEvent = 0;
/** Writes a bare room-event row (the delivery path reads only the stream columns). */
async function insertEvent(sql: Sql, roomId: string, streamOrdering: number, extra: { outlier?: boolean; rejected?: boolean; softFailed?: boolean } = {}): Promise<string> {
  const id = `$ev${++nextEvent}_${Math.random().toString(36).slice(2)}`;
  await sql.query(
    `INSERT INTO events (stream_ordering, event_id, room_id, type, state_key, sender, depth, origin_server_ts, pdu, outlier, rejected_reason, soft_failed)
     VALUES ($1, $2, $3, 'm.room.message', NULL, '@a:hs', 1, 0, '{}', $4, $5, $6)`,
    [streamOrdering, id, roomId, extra.outlier ?? false, extra.rejected ? "auth" : null, extra.softFailed ?? false],
  );
  return id;
}

interface Sent {
  destination: string;
  txnId: string;
  payload: { ids: string[] };
}

/** A kind that sends the event ids of its room; `failNext` sends fail that many times. */
function testKind(name: string, roomId: string, sent: Sent[], ctl: { failNext: number }): DeliveryKind {
  return {
    kind: name,
    initialCursor: async () => ({}),
    prepare: async (_dest: string, events: readonly StreamEventRef[], cursor) => {
      const ids = events.filter((e) => e.roomId === roomId).map((e) => e.eventId);
      return { payload: ids.length ? { ids } : undefined, cursor: { ...cursor, seen: ((cursor.seen as number) ?? 0) + events.length } };
    },
    send: async (destination, txnId, payload) => {
      if (ctl.failNext > 0) {
        ctl.failNext -= 1;
        throw new Error("unreachable");
      }
      sent.push({ destination, txnId, payload: payload as { ids: string[] } });
    },
  };
}

function until(cond: () => boolean, ms = 5000): Promise<void> {
  const start = Date.now();
  return new Promise((resolve, reject) => {
    const tick = () => {
      if (cond()) return resolve();
      if (Date.now() - start > ms) return reject(new Error("timed out waiting"));
      setTimeout(tick, 5);
    };
    tick();
  });
}

const fast = { minBackoffMs: 10, maxBackoffMs: 40, idlePollMs: 5_000, leaseRetryMs: 30, batchSize: 3 };

function service(sql: Sql, head: { pos: number }, listeners: Set<() => void>, errors: unknown[] = []) {
  return new DeliveryService({
    sql,
    upTo: () => head.pos,
    onStreamAdvance: (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    onError: (err) => errors.push(err),
    options: fast,
  });
}

describe(`delivery on ${engine}`, () => {
  it("starts at the head, sends every later event of interest once in stream order, in batches, skipping outliers, rejected, soft-failed and non-live positions", async () => {
    const head = { pos: 0 };
    const listeners = new Set<() => void>();
    const before = await insertEvent(db.sql, "!r1", 1000);
    head.pos = 1000;
    const sent: Sent[] = [];
    const svc = service(db.sql, head, listeners);
    svc.addKind(testKind("k1", "!r1", sent, { failNext: 0 }));
    svc.start("k1", "dest");
    const ids: string[] = [];
    // Wait for the row to exist at the head before writing more.
    const repo = new DeliveryRepo(db.sql);
    for (let i = 0; i < 50 && !(await repo.get("k1", "dest")); i++) await new Promise((r) => setTimeout(r, 10));
    expect((await repo.get("k1", "dest"))!.streamPos).toBe(1000);
    for (let i = 1; i <= 7; i++) ids.push(await insertEvent(db.sql, "!r1", 1000 + i));
    await insertEvent(db.sql, "!other", 1008);
    await insertEvent(db.sql, "!r1", 1009, { outlier: true });
    await insertEvent(db.sql, "!r1", 1010, { rejected: true });
    await insertEvent(db.sql, "!r1", -5); // backfilled
    await insertEvent(db.sql, "!r1", 1011, { softFailed: true });
    const last = await insertEvent(db.sql, "!r1", 1012);
    // Nothing past the committed head is read, even if it is in the table.
    await insertEvent(db.sql, "!r1", 1013);
    head.pos = 1012;
    for (const l of listeners) l();
    await until(() => sent.flatMap((s) => s.payload.ids).length >= 8);
    await new Promise((r) => setTimeout(r, 50));
    const all = sent.flatMap((s) => s.payload.ids);
    expect(all).toEqual([...ids, last]);
    expect(all).not.toContain(before);
    // Batches of at most 3 live events: 1001-1003, 1004-1006, then 1007, 1008 (other room) and 1012.
    expect(sent.map((s) => s.payload.ids.length)).toEqual([3, 3, 2]);
    const txns = sent.map((s) => Number(s.txnId));
    expect(new Set(txns).size).toBe(txns.length);
    expect(txns).toEqual([...txns].sort((a, b) => a - b));
    const row = (await repo.get("k1", "dest"))!;
    expect(row.streamPos).toBe(1012);
    expect(row.pending).toBeUndefined();
    expect(row.cursor.seen).toBe(9);
    await svc.close();
  });

  it("retries a failed transaction with the same id and payload, also after a restart, and loses nothing", async () => {
    const head = { pos: 2000 };
    const listeners = new Set<() => void>();
    await insertEvent(db.sql, "!r2", 2000);
    const sent: Sent[] = [];
    const ctl = { failNext: 1_000 };
    const errors: unknown[] = [];
    let svc = service(db.sql, head, listeners, errors);
    svc.addKind(testKind("k2", "!r2", sent, ctl));
    svc.start("k2", "dest");
    const repo = new DeliveryRepo(db.sql);
    for (let i = 0; i < 50 && !(await repo.get("k2", "dest")); i++) await new Promise((r) => setTimeout(r, 10));
    const first = await insertEvent(db.sql, "!r2", 2001);
    head.pos = 2001;
    for (const l of listeners) l();
    await until(() => errors.length >= 3);
    // The failure count is written after each failure is reported.
    for (let i = 0; i < 100 && (await repo.get("k2", "dest"))!.failures < 3; i++) await new Promise((r) => setTimeout(r, 10));
    const pending = (await repo.get("k2", "dest"))!;
    expect(pending.pending?.payload).toEqual({ ids: [first] });
    expect(pending.failures).toBeGreaterThanOrEqual(3);
    await svc.close();

    // More events arrive while the destination is down and the process restarts.
    const more = [await insertEvent(db.sql, "!r2", 2002), await insertEvent(db.sql, "!r2", 2003)];
    head.pos = 2003;
    ctl.failNext = 0;
    svc = service(db.sql, head, listeners, errors);
    svc.addKind(testKind("k2", "!r2", sent, ctl));
    svc.start("k2", "dest");
    await until(() => sent.length >= 2);
    // The pending transaction went first, unchanged, under its id; the rest followed in a new one.
    expect(sent[0]!.payload.ids).toEqual([first]);
    expect(sent[0]!.txnId).toBe(String(pending.txnSeq));
    expect(sent[1]!.payload.ids).toEqual(more);
    expect(Number(sent[1]!.txnId)).toBe(pending.txnSeq + 1);
    expect((await repo.get("k2", "dest"))!.failures).toBe(0);
    await svc.close();
  });

  it("backs off exponentially up to the cap", () => {
    expect([0, 1, 2, 3, 4, 10].map((n) => backoffMs(n, 100, 1000))).toEqual([0, 100, 200, 400, 800, 1000]);
  });

  if (engine === "postgres") {
    it("only one process sends to a destination; the other takes over when the holder goes away", async () => {
      const other = await db.openAnother();
      const head = { pos: 3000 };
      const la = new Set<() => void>();
      const lb = new Set<() => void>();
      const sentA: Sent[] = [];
      const sentB: Sent[] = [];
      const a = service(db.sql, head, la);
      a.addKind(testKind("k3", "!r3", sentA, { failNext: 0 }));
      a.start("k3", "dest");
      const repo = new DeliveryRepo(db.sql);
      for (let i = 0; i < 50 && !(await repo.get("k3", "dest")); i++) await new Promise((r) => setTimeout(r, 10));
      const b = service(other, head, lb);
      b.addKind(testKind("k3", "!r3", sentB, { failNext: 0 }));
      b.start("k3", "dest");
      const e1 = await insertEvent(db.sql, "!r3", 3001);
      head.pos = 3001;
      for (const l of [...la, ...lb]) l();
      await until(() => sentA.length === 1);
      await new Promise((r) => setTimeout(r, 100));
      expect(sentB).toEqual([]);
      await a.close();
      const e2 = await insertEvent(db.sql, "!r3", 3002);
      head.pos = 3002;
      await until(() => sentB.length === 1);
      expect(sentB[0]!.payload.ids).toEqual([e2]);
      expect(sentA.flatMap((s) => s.payload.ids)).toEqual([e1]);
      await b.close();
      await other.close();
    });
  }
});
