import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  checkAuthAgainstAuthEvents,
  checkContentHash,
  computeEventId,
  signingKeyFromSeed,
  stateMapKey,
  verifyEventSignatures,
  verifyKeyOf,
} from "../../src/core/index.js";
import type { EventPersisted } from "../../src/rooms/event-bus.js";
import { createRoomsModule, type RoomsModule } from "../../src/rooms/module.js";
import { STATE_SNAPSHOT_INTERVAL } from "../../src/rooms/event-writer.js";
import type { Sql, SqlQueryable } from "../../src/storage/sql.js";
import { openTestSql, type TestSql } from "../support/databases.js";

const seed = randomBytes(32);
const keyId = "ed25519:test";
let db: TestSql;
let rooms: RoomsModule;
const published: EventPersisted[] = [];
const alice = { userId: "@alice:test", deviceId: "DEV" };
const bob = { userId: "@bob:test", deviceId: "BOBDEV" };

beforeAll(async () => {
  db = await openTestSql();
  rooms = await createRoomsModule({ sql: db.sql, serverName: "test", signingKey: { keyId, seed }, defaultRoomVersion: "11" });
  rooms.bus.onPersisted((n) => published.push(n));
}, 60_000);
afterAll(() => db?.dispose());

/** Re-checks every stored event of a room: event id, content hash, our signature, auth against its auth events. */
async function verifyRoom(roomId: string): Promise<number> {
  const verifyKey = verifyKeyOf(signingKeyFromSeed(seed, "test"));
  const rows = await rooms.repos.events.allInRoom(roomId);
  const rv = (await rooms.store.roomVersion(roomId))!;
  for (const row of rows) {
    const loaded = rooms.store.load({ ...row, redactedBy: null }, rv);
    expect(computeEventId(loaded.pdu, rv)).toBe(row.eventId);
    expect(checkContentHash(loaded.pdu, rv)).toBe(true);
    expect(verifyEventSignatures(loaded.pdu, rv, (s, k) => (s === "test" && k === keyId ? verifyKey : undefined))).toEqual({ ok: true });
    const authEvents = [...(await rooms.store.getEvents(loaded.event.authEvents)).values()].map((e) => e.event);
    const create = rv.roomIdIsCreateEventHash ? (await rooms.store.getEvent(`$${roomId.slice(1)}`))?.event : undefined;
    const res = checkAuthAgainstAuthEvents(loaded.event, authEvents, rv, create ? { createEvent: create } : {});
    expect(res, `${row.type} ${row.eventId}`).toMatchObject({ allowed: true });
  }
  return rows.length;
}

describe("room writer", () => {
  it("creates a room with the spec's event order and current state", async () => {
    const { roomId } = await rooms.creation.createRoom(alice.userId, { preset: "public_chat", name: "Room", topic: "T" });
    const rows = await rooms.repos.events.allInRoom(roomId);
    expect(rows.map((r) => r.type)).toEqual([
      "m.room.create",
      "m.room.member",
      "m.room.power_levels",
      "m.room.join_rules",
      "m.room.history_visibility",
      "m.room.guest_access",
      "m.room.name",
      "m.room.topic",
    ]);
    expect(rows.map((r) => r.depth)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    const current = await rooms.repos.state.currentState(roomId);
    expect(current).toHaveLength(8);
    expect((await rooms.repos.state.membership(roomId, alice.userId))?.membership).toBe("join");
    expect(await rooms.repos.state.forwardExtremities(db.sql, roomId)).toEqual([rows[7]!.eventId]);
    expect(await verifyRoom(roomId)).toBe(8);
  });

  it("persists concurrent sends one after another with gap-free notifications", async () => {
    const { roomId } = await rooms.creation.createRoom(alice.userId, { preset: "public_chat" });
    published.length = 0;
    const ids = await Promise.all(
      Array.from({ length: 30 }, (_, i) => rooms.messaging.sendMessage(alice, roomId, "m.room.message", { body: `m${i}`, msgtype: "m.text" }, `t${i}`)),
    );
    expect(new Set(ids).size).toBe(30);
    const rows = (await rooms.repos.events.allInRoom(roomId)).filter((r) => r.type === "m.room.message");
    expect(rows.map((r) => r.depth)).toEqual(rows.map((_, i) => rows[0]!.depth + i));
    expect(await rooms.repos.state.forwardExtremities(db.sql, roomId)).toHaveLength(1);
    const positions = published.map((p) => p.streamOrdering);
    expect(positions).toEqual([...positions].sort((a, b) => a - b));
    expect(rooms.positions.persistedUpTo).toBe(Math.max(...positions));
    // The same transaction id returns the same event, also from a freshly started module (a restart).
    expect(await rooms.messaging.sendMessage(alice, roomId, "m.room.message", { body: "again" }, "t3")).toBe(ids[3]);
    const restarted = await createRoomsModule({ sql: db.sql, serverName: "test", signingKey: { keyId, seed }, defaultRoomVersion: "11" });
    expect(await restarted.messaging.sendMessage(alice, roomId, "m.room.message", { body: "again" }, "t3")).toBe(ids[3]);
    expect(restarted.positions.persistedUpTo).toBe(rooms.positions.persistedUpTo);
    // A different device's identical transaction id is a different request.
    expect(await rooms.messaging.sendMessage({ ...alice, deviceId: "OTHER" }, roomId, "m.room.message", { body: "x" }, "t3")).not.toBe(ids[3]);
  });

  it("writes sends queued behind the room's writer together, each with its own answer", async () => {
    const { roomId } = await rooms.creation.createRoom(alice.userId, { preset: "public_chat" });
    const msg = (sender: string, body: string) => ({ type: "m.room.message", sender, content: { msgtype: "m.text", body } });
    const txn = (txnId: string) => ({ userId: alice.userId, deviceId: alice.deviceId, kind: "m.room.message", txnId });
    const original = db.sql.transaction;
    let transactions = 0;
    db.sql.transaction = <T,>(fn: (tx: SqlQueryable) => Promise<T>): Promise<T> => {
      transactions++;
      return original.call(db.sql, fn) as Promise<T>;
    };
    try {
      // All at once: the first takes the writer, the rest queue up and go in together.
      const sends = Array.from({ length: 10 }, (_, i) =>
        i === 3
          ? rooms.writer.send(roomId, msg(bob.userId, "not a member"))
          : rooms.writer.send(roomId, msg(alice.userId, `b${i}`), { txn: txn(i === 8 ? "same" : i === 7 ? "same" : `b${i}`) }),
      );
      const results = await Promise.allSettled(sends);
      expect(transactions).toBeLessThan(10);
      expect(results[3]).toMatchObject({ status: "rejected", reason: { status: 403, errcode: "M_FORBIDDEN" } });
      const ok = results.map((r) => (r.status === "fulfilled" ? r.value : undefined));
      expect(ok.filter((r) => r !== undefined)).toHaveLength(9);
      // "Transaction identifiers": the same id twice in one batch is one event.
      expect(ok[8]).toMatchObject({ eventId: ok[7]!.eventId, existing: true });
      const rows = (await rooms.repos.events.allInRoom(roomId)).filter((r) => r.type === "m.room.message");
      expect(rows.map((r) => (JSON.parse(r.pduJson) as { content: { body: string } }).content.body)).toEqual(["b0", "b1", "b2", "b4", "b5", "b6", "b7", "b9"]);
      expect(rows.map((r) => r.depth)).toEqual(rows.map((_, i) => rows[0]!.depth + i));
      expect(await rooms.repos.state.forwardExtremities(db.sql, roomId)).toEqual([rows[7]!.eventId]);
      // Every written event reached the bus, in position order, and readers may read up to the last.
      expect(rooms.positions.persistedUpTo).toBeGreaterThanOrEqual(Math.max(...rows.map((r) => r.streamOrdering)));
      const seen = published.filter((p) => p.roomId === roomId && p.type === "m.room.message");
      expect(seen.map((p) => p.eventId)).toEqual(rows.map((r) => r.eventId));
      expect(await verifyRoom(roomId)).toBeGreaterThan(8);

      // A failure that is not a refusal aborts the shared transaction: each send is then written alone, so
      // only the failing one fails.
      const more = await Promise.allSettled(
        Array.from({ length: 6 }, (_, i) =>
          rooms.writer.send(roomId, msg(alice.userId, `c${i}`), {
            precheck: i === 4 ? () => Promise.reject(new Error("storage went away")) : undefined,
          }),
        ),
      );
      expect(more.map((r) => r.status)).toEqual(["fulfilled", "fulfilled", "fulfilled", "fulfilled", "rejected", "fulfilled"]);
      expect(more[4]).toMatchObject({ reason: { message: "storage went away" } });
      const bodies = (await rooms.repos.events.allInRoom(roomId))
        .filter((r) => r.type === "m.room.message")
        .map((r) => (JSON.parse(r.pduJson) as { content: { body: string } }).content.body);
      expect(bodies.slice(-5)).toEqual(["c0", "c1", "c2", "c3", "c5"]);
      expect(await verifyRoom(roomId)).toBeGreaterThan(13);
    } finally {
      db.sql.transaction = original;
    }
  });

  it("refuses non-members, banned users and power escalation with the auth rule's reason", async () => {
    const { roomId } = await rooms.creation.createRoom(alice.userId, { preset: "public_chat" });
    await expect(rooms.messaging.sendMessage(bob, roomId, "m.room.message", { body: "x" }, "b1")).rejects.toMatchObject({ status: 403, errcode: "M_FORBIDDEN" });
    await rooms.membership.join(bob, roomId);
    await expect(
      rooms.messaging.sendState(bob, roomId, "m.room.power_levels", "", { users: { [bob.userId]: 100 } }),
    ).rejects.toMatchObject({ status: 403 });
    await rooms.membership.ban(alice, roomId, bob.userId, "spam");
    await expect(rooms.membership.join(bob, roomId)).rejects.toMatchObject({ status: 403 });
    expect(await verifyRoom(roomId)).toBe(8);
  });

  it("v12 rooms derive the room id from the create event and keep creators out of power levels", async () => {
    const { roomId } = await rooms.creation.createRoom(alice.userId, { room_version: "12", preset: "private_chat" });
    expect(roomId).toMatch(/^![A-Za-z0-9_-]{43}$/);
    const create = await rooms.store.getEvent(`$${roomId.slice(1)}`);
    expect(create?.row.type).toBe("m.room.create");
    const pl = (await rooms.repos.state.currentState(roomId)).find((e) => e.type === "m.room.power_levels")!;
    const plEvent = await rooms.store.getEvent(pl.eventId!);
    expect(plEvent?.event.content.users).toEqual({});
    expect(await verifyRoom(roomId)).toBe(6);
  });

  it("persists a send in a warm room without reading events back, and redactions replace cached copies", async () => {
    // A module on a Sql that records every statement.
    const statements: string[] = [];
    const record = (h: SqlQueryable): SqlQueryable => ({
      query: (text, params) => (statements.push(text), h.query(text, params)),
      exec: (script) => h.exec(script),
    });
    const counting: Sql = { ...db.sql, ...record(db.sql), transaction: (fn) => db.sql.transaction((tx) => fn(record(tx))) };
    const m = await createRoomsModule({ sql: counting, serverName: "test", signingKey: { keyId, seed }, defaultRoomVersion: "11" });
    const { roomId } = await m.creation.createRoom(alice.userId, { preset: "public_chat" });
    await m.messaging.sendMessage(alice, roomId, "m.room.message", { body: "warm", msgtype: "m.text" }, "w1");
    statements.length = 0;
    const id = await m.messaging.sendMessage(alice, roomId, "m.room.message", { body: "hot", msgtype: "m.text" }, "w2");
    // prev_events and auth events come from the cache filled by committed transactions.
    expect(statements.filter((s) => /FROM events WHERE event_id/.test(s))).toEqual([]);
    // The transaction id lookup shares the extremities read; the txn id and extremity writes ride on the event insert.
    expect(statements.filter((s) => /event_txn_ids|room_forward_extremities/.test(s))).toHaveLength(2);
    // Room lock, head read with the stream position, event insert, search index: four statements (plus BEGIN/COMMIT).
    expect(statements).toHaveLength(4);
    const [txnRow] = await db.sql.query<{ event_id: string }>(
      "SELECT event_id FROM event_txn_ids WHERE user_id = $1 AND device_id = $2 AND room_id = $3 AND kind = 'send' AND txn_id = 'w2'",
      [alice.userId, alice.deviceId, roomId],
    );
    expect(txnRow?.event_id).toBe(id);
    const [edges] = await db.sql.query<{ prev: number; auth: number }>(
      `SELECT (SELECT count(*) FROM event_edges WHERE event_id = $1)::int8 AS prev,
              (SELECT count(*) FROM event_auth_edges WHERE event_id = $1)::int8 AS auth`,
      [id],
    );
    expect(edges).toEqual({ prev: 1, auth: 3 });
    expect(await m.repos.state.forwardExtremities(db.sql, roomId)).toEqual([id]);
    // The redaction reads its target inside the writer's transaction; the cache must not keep the unredacted copy.
    expect((await m.store.getEvent(id))?.event.content.body).toBe("hot");
    await m.messaging.redact(alice, roomId, id, "r1", undefined);
    expect((await m.store.getEvent(id))?.event.content).toEqual({});
    // A refused event (rolled back) leaves nothing behind in the cache or the extremities.
    await expect(m.messaging.sendMessage(bob, roomId, "m.room.message", { body: "x" }, "b1")).rejects.toMatchObject({ status: 403 });
    expect(await db.sql.query("SELECT 1 FROM event_txn_ids WHERE user_id = $1 AND txn_id = 'b1'", [bob.userId])).toEqual([]);
    const [extremity] = await m.repos.state.forwardExtremities(db.sql, roomId);
    expect((await m.store.getEvent(extremity!))?.row.type).toBe("m.room.redaction");
    expect(await verifyRoom(roomId)).toBe(9);
  });

  it("stores state as deltas with periodic full snapshots", async () => {
    const { roomId } = await rooms.creation.createRoom(alice.userId, { preset: "private_chat" });
    for (let i = 0; i < STATE_SNAPSHOT_INTERVAL + 5; i++) {
      await rooms.messaging.sendState(alice, roomId, "org.example.counter", `k${i % 7}`, { n: i });
    }
    const last = (await rooms.repos.events.allInRoom(roomId)).at(-1)!;
    const chain = await rooms.repos.state.loadStateGroupChain(last.stateAfter!);
    expect(chain.length).toBeLessThan(STATE_SNAPSHOT_INTERVAL);
    const fromGroups = await rooms.store.stateGroup(last.stateAfter!);
    const current = await rooms.repos.state.currentState(roomId);
    expect(fromGroups.size).toBe(current.length);
    for (const c of current) expect(fromGroups.get(stateMapKey(c.type, c.stateKey))).toBe(c.eventId);
    const [{ n }] = await db.sql.query<{ n: number }>(
      "SELECT count(*)::int8 AS n FROM state_group_entries e JOIN state_groups g ON g.id = e.group_id WHERE g.room_id = $1",
      [roomId],
    );
    // Deltas: about one row per state change plus the occasional snapshot.
    expect(Number(n)).toBeLessThan(3 * (STATE_SNAPSHOT_INTERVAL + 12));
  });
  it("reads some keys of a group along its delta chain without loading the group", async () => {
    const { roomId } = await rooms.creation.createRoom(alice.userId, { preset: "public_chat" });
    // Past a full snapshot, so the chain walk meets one.
    const n = STATE_SNAPSHOT_INTERVAL + 10;
    for (let i = 0; i < n; i++) await rooms.messaging.sendState(alice, roomId, "org.example.counter", `k${i % 4}`, { n: i });
    const rows = (await rooms.repos.events.allInRoom(roomId)).filter((r) => r.stateAfter !== null);
    // A fresh module: nothing cached, so every answer comes from the keyed read.
    const cold = await createRoomsModule({ sql: db.sql, serverName: "test", signingKey: { keyId, seed }, defaultRoomVersion: "11" });
    const keys = [stateMapKey("org.example.counter", "k1"), stateMapKey("m.room.member", alice.userId), stateMapKey("m.room.member", "@nobody:test"), stateMapKey("org.example.counter", "k3")];
    for (const row of rows.filter((_, i) => i % 7 === 0 || i === rows.length - 1)) {
      const keyed = await cold.store.stateGroupKeys(row.stateAfter, keys);
      const full = await rooms.store.stateGroup(row.stateAfter);
      const expected = new Map(keys.filter((k) => full.has(k)).map((k) => [k, full.get(k)!]));
      expect(keyed).toEqual(expected);
    }
    const last = rows.at(-1)!;
    const picked = await cold.store.stateGroupKeys(last.stateAfter, [stateMapKey("org.example.counter", "k1")]);
    const k1 = (await cold.store.getEvent(picked.get(stateMapKey("org.example.counter", "k1"))!))!;
    // The newest write of k1 wins over older deltas and the snapshot.
    const newest = n - 1 - ((n - 1 - 1) % 4);
    expect(k1.event.content).toEqual({ n: newest });
  });
});
