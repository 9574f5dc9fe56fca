import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { JsonObject } from "../../src/core/index.js";
import { DeliveryService } from "../../src/delivery/index.js";
import { FederationSender } from "../../src/federation/sender/federation-sender.js";
import { createLogger } from "../../src/logging.js";
import type { EventPersisted } from "../../src/rooms/event-bus.js";
import { DeliveryRepo } from "../../src/storage/delivery-repo.js";
import { FederationSenderRepo } from "../../src/storage/federation-sender-repo.js";
import { openTestSql, testDatabaseUrl, type TestSql } from "../support/databases.js";

const engine = testDatabaseUrl() ? "postgres" : "pglite";
const SELF = "hs.test";
let db: TestSql;
beforeAll(async () => {
  db = await openTestSql();
});
afterAll(() => db?.dispose());

let seq = 5000;
async function event(roomId: string, sender: string, type = "m.room.message", stateKey: string | null = null): Promise<{ so: number; id: string }> {
  const so = ++seq;
  const id = `$fs${so}`;
  await db.sql.query(
    `INSERT INTO events (stream_ordering, event_id, room_id, type, state_key, sender, depth, origin_server_ts, pdu, outlier, rejected_reason, soft_failed)
     VALUES ($1, $2, $3, $4, $5, $6, 1, 0, '{}', false, NULL, false)`,
    [so, id, roomId, type, stateKey, sender],
  );
  return { so, id };
}

/** A membership change as the room writer records it: the event, the current membership and the delta stream. */
async function member(roomId: string, userId: string, membership: string, sender = userId): Promise<{ so: number; id: string }> {
  const e = await event(roomId, sender, "m.room.member", userId);
  await db.sql.query(
    `INSERT INTO room_memberships (room_id, user_id, membership, event_id, stream_ordering) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (room_id, user_id) DO UPDATE SET membership = EXCLUDED.membership, event_id = EXCLUDED.event_id, stream_ordering = EXCLUDED.stream_ordering`,
    [roomId, userId, membership, e.id, e.so],
  );
  await db.sql.query("INSERT INTO current_membership_delta (stream_ordering, room_id, user_id, event_id, membership) VALUES ($1, $2, $3, $4, $5)", [
    e.so,
    roomId,
    userId,
    e.id,
    membership,
  ]);
  return e;
}

describe(`FederationSenderRepo on ${engine}`, () => {
  it("answers who was joined when, which servers are in a room, the newest local events, and keeps durable EDUs per destination", async () => {
    const repo = new FederationSenderRepo(db.sql);
    const room = "!repo:hs.test";
    await member(room, `@alice:${SELF}`, "join");
    const j1 = await member(room, "@bob:b.test", "join");
    await member(room, "@carol:b.test", "join");
    const leave = await member(room, "@bob:b.test", "leave");
    await member(room, "@dan:c.test:8448", "invite", `@alice:${SELF}`);
    const msgs = [await event(room, `@alice:${SELF}`), await event(room, "@carol:b.test"), await event(room, `@alice:${SELF}`)];

    expect([...(await repo.serversInRoom(room))].sort()).toEqual(["b.test", "c.test:8448", SELF]);
    expect(await repo.joinedUsersOf(room, "b.test")).toEqual(["@carol:b.test"]);
    expect(await repo.joinedUsersOf(room, "test")).toEqual([]);
    const changes = await repo.changesFrom(room, "b.test", j1.so + 1);
    expect(changes.map((c) => [c.userId, c.membership])).toEqual([
      ["@carol:b.test", "join"],
      ["@bob:b.test", "leave"],
    ]);
    const before = await repo.membershipsBefore(room, ["@bob:b.test", "@carol:b.test", "@nobody:b.test"], leave.so);
    expect(Object.fromEntries(before)).toEqual({ "@bob:b.test": "join", "@carol:b.test": "join" });
    const newest = await repo.newestLocalEvents(room, SELF, msgs[0]!.so, msgs[2]!.so, 10);
    expect(newest.map((r) => r.eventId)).toEqual([msgs[2]!.id, msgs[0]!.id]);
    const joined = await repo.joinedServers(SELF);
    expect(joined.get("b.test")).toBeDefined();
    expect(joined.has(SELF)).toBe(false);
    expect(joined.has("c.test:8448")).toBe(false);

    await repo.insertEdus(["x.test", "y.test"], "m.direct_to_device", { a: 1 }, 10);
    await repo.insertEdus(["x.test"], "m.device_list_update", { b: 2 }, 11);
    const x = await repo.edusFor("x.test", 10);
    expect(x.map((e) => [e.eduType, e.content])).toEqual([
      ["m.direct_to_device", { a: 1 }],
      ["m.device_list_update", { b: 2 }],
    ]);
    expect((await repo.destinationsWithEdus()).sort()).toEqual(["x.test", "y.test"]);
    await repo.deleteEdus("x.test", [x[0]!.id]);
    // Deleting by id names the destination: another destination's row of the same send stays.
    expect((await repo.edusFor("x.test", 10)).map((e) => e.eduType)).toEqual(["m.device_list_update"]);
    expect(await repo.hasEdus("y.test")).toBe(true);
    await db.sql.query("DELETE FROM federation_outbound_edus");
  });
});

describe(`FederationSender on ${engine}`, () => {
  function harness(head: { pos: number }, extra: { shareEdus?: (destinations: readonly string[]) => void } = {}) {
    const listeners = new Set<(n: EventPersisted) => void>();
    const puts: Array<{ destination: string; body: JsonObject }> = [];
    const delivery = new DeliveryService({
      sql: db.sql,
      upTo: () => head.pos,
      onStreamAdvance: (l) => {
        const f = () => l();
        listeners.add(f);
        return () => listeners.delete(f);
      },
      options: { idlePollMs: 5_000, leaseRetryMs: 30 },
    });
    const sender = new FederationSender({
      serverName: SELF,
      sql: db.sql,
      delivery,
      store: { getEvents: async (ids) => new Map(ids.map((id) => [id, { row: { redactedBy: null }, pdu: { event_id: id } } as never])) },
      upTo: () => head.pos,
      onPersisted: (l) => {
        listeners.add(l);
        return () => listeners.delete(l);
      },
      put: async (destination, _path, body) => {
        puts.push({ destination, body });
        return { pdus: {} };
      },
      options: { minBackoffMs: 10, maxBackoffMs: 40, ephemeralEduTtlMs: 60_000 },
      log: createLogger("silent"),
      ...extra,
    });
    const publish = (n: Partial<EventPersisted> & { roomId: string; streamOrdering: number }) => {
      for (const l of listeners) l({ eventId: "$x", type: "m.room.member", stateKey: undefined, sender: "@x:y", membership: undefined, ...n });
    };
    return { sender, delivery, puts, publish, close: async () => (await sender.close(), await delivery.close()) };
  }

  async function until(cond: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
    const end = Date.now() + ms;
    while (!(await cond())) {
      if (Date.now() > end) throw new Error("timed out");
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  it("starts a worker for a server that joins, from its join; sends local events; lets go of servers that share nothing", async () => {
    const room = "!send:hs.test";
    await member(room, `@alice:${SELF}`, "join");
    const head = { pos: seq };
    const h = harness(head);
    await h.sender.start();
    const join = await member(room, "@eve:e.test", "join");
    const msg = await event(room, `@alice:${SELF}`);
    head.pos = seq;
    h.publish({ roomId: room, streamOrdering: join.so, stateKey: "@eve:e.test", membership: "join" });
    h.publish({ roomId: room, streamOrdering: msg.so, type: "m.room.message" });
    await until(() => h.puts.some((p) => p.destination === "e.test"));
    const pdus = h.puts.filter((p) => p.destination === "e.test").flatMap((p) => p.body.pdus as JsonObject[]);
    expect(pdus.map((p) => p.event_id)).toEqual([msg.id]);
    const positions = new DeliveryRepo(db.sql);
    await until(async () => (await positions.get("federation", "e.test"))?.streamPos === msg.so);

    // sendEdu: never to this server, never to a name that is not a server name.
    await h.sender.sendEdu([SELF, "not a server", "f.test"], { edu_type: "m.direct_to_device", content: { m: 1 } }, { durable: true });
    // Queued for f.test alone; its worker may have sent it and dropped the row already.
    const rows = await db.sql.query<{ destination: string }>("SELECT destination FROM federation_outbound_edus");
    expect(rows.map((r) => r.destination).filter((d) => d !== "f.test")).toEqual([]);
    await until(() => h.puts.some((p) => p.destination === "f.test"));
    expect(h.puts.filter((p) => p.destination === SELF || p.destination === "not a server")).toEqual([]);
    await until(async () => (await db.sql.query("SELECT 1 FROM federation_outbound_edus")).length === 0);

    // Eve leaves: e.test shares no room any more and is owed nothing; f.test never shared one.
    const leave = await member(room, "@eve:e.test", "leave");
    head.pos = seq;
    h.publish({ roomId: room, streamOrdering: leave.so, stateKey: "@eve:e.test", membership: "leave" });
    await until(async () => (await positions.get("federation", "e.test"))?.streamPos === leave.so);
    await until(async () => (await positions.get("federation", "f.test"))?.pending === undefined);
    await h.sender.sweep();
    expect(await positions.get("federation", "e.test")).toBeUndefined();
    expect(await positions.get("federation", "f.test")).toBeUndefined();
    await h.close();
  });

  it("in a cluster, typing queued by a process without the destination's lease is sent by the one holding it", async () => {
    const room = "!cluster:hs.test";
    await member(room, `@alice:${SELF}`, "join");
    await member(room, "@gus:g.test", "join");
    const head = { pos: seq };
    const processes: Array<ReturnType<typeof harness>> = [];
    const other = (i: number) => (d: readonly string[]) => processes[1 - i]!.sender.owed(d);
    processes.push(harness(head, { shareEdus: other(0) }), harness(head, { shareEdus: other(1) }));
    const [a, b] = processes as [ReturnType<typeof harness>, ReturnType<typeof harness>];
    // a starts first and takes g.test's sending lease; b starts after and cannot.
    await a.sender.start();
    const positions = new DeliveryRepo(db.sql);
    await until(async () => (await positions.get("federation", "g.test")) !== undefined);
    await new Promise((r) => setTimeout(r, 200));
    await b.sender.start();
    await b.sender.sendEdu(["g.test"], { edu_type: "m.typing", content: { room_id: room, user_id: `@alice:${SELF}`, typing: true } });
    const typingSent = () =>
      [...a.puts, ...b.puts].some(
        (p) => p.destination === "g.test" && ((p.body.edus as JsonObject[] | undefined) ?? []).some((e) => e.edu_type === "m.typing"),
      );
    await until(typingSent);
    // Sent once, and no longer stored.
    await until(async () => (await db.sql.query("SELECT 1 FROM federation_outbound_edus WHERE destination = 'g.test'")).length === 0);
    await a.close();
    await b.close();
  });
});
