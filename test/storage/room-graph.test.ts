import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { computeReferenceHash, encodeBase64, getOwn, isJsonObject, stateMapKey, type JsonObject, type RoomVersion } from "../../src/core/index.js";
import { createRoomsModule, type RoomsModule } from "../../src/rooms/module.js";
import type { PersistResult } from "../../src/rooms/event-writer.js";
import { SyncRepo } from "../../src/storage/sync-repo.js";
import { openTestSql, type TestSql } from "../support/databases.js";
import { keysOf, publicRoom, TestServer, type Built } from "../support/remote-server.js";

/**
 * The room input over a real event graph: PDUs signed by two test servers'
 * keys are given straight to the writer (no federation), in every arrival
 * order a test picks.
 */
const seed = randomBytes(32);
let db: TestSql;
let rooms: RoomsModule;
let sync: SyncRepo;
class TrackedServer extends TestServer {
  override event(...args: Parameters<TestServer["event"]>): Built {
    return track(super.event(...args));
  }
}
const a = new TrackedServer("a.test");
const b = new TrackedServer("b.test");
const keys = keysOf(a, b);
const viewer = (userId: string) => ({ userId, deviceId: "DEV" });

beforeAll(async () => {
  db = await openTestSql();
  rooms = await createRoomsModule({ sql: db.sql, serverName: "test", signingKey: { keyId: "ed25519:k", seed }, defaultRoomVersion: "10" });
  sync = new SyncRepo(db.sql);
}, 60_000);
afterAll(() => db?.dispose());

/** Every event the test servers built, as a federation peer would answer /event with it. */
const built = new Map<string, Built>();
const track = (b: Built): Built => (built.set(b.id, b), b);

/**
 * Persists events as a federation receiver would: an event whose auth events
 * are unknown gets them fetched (here: from `built`) and stored as outliers
 * first ("Checks performed on receipt of a PDU": fetch missing auth events).
 */
async function persistLikeFederation(
  roomId: string,
  e: Built,
  kind: "new" | "backfill" | "outlier",
  stateBefore?: string[],
  roomVersion?: string,
): Promise<PersistResult> {
  for (;;) {
    const r = await rooms.writer.persist(roomId, e.pdu, { kind, keys, stateBefore, roomVersion });
    if (r.status !== "missing_auth_events") return r;
    for (const id of r.missing) {
      const dep = built.get(id);
      if (!dep) return r;
      await persistLikeFederation(roomId, dep, "outlier", undefined, roomVersion);
    }
  }
}

async function inject(roomId: string, events: Built[], kind: "new" | "backfill" | "outlier" = "new") {
  const out: PersistResult[] = [];
  for (const e of events) out.push(await persistLikeFederation(roomId, e, kind));
  return out;
}

/** Current state as (type, state_key) -> content, comparable across rooms. */
async function currentContents(roomId: string): Promise<Map<string, string>> {
  const rows = await rooms.repos.state.currentState(roomId);
  const out = new Map<string, string>();
  for (const r of rows) {
    const e = await rooms.store.getEvent(r.eventId!);
    out.set(`${r.type}|${r.stateKey.replace(/:[ab]\.test$/, "")}`, JSON.stringify(e!.event.content));
  }
  return out;
}

/** A seeded generator, so a failing order can be replayed. */
function rng(seedValue: number): () => number {
  let s = seedValue >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function shuffle<T>(xs: T[], rand: () => number): T[] {
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/**
 * Two branches of 10 state changes each from the room's head: a's branch
 * sets topic and name, demotes b (power levels), then sets custom state
 * k4..k10; b's branch sets topic and name and custom state k3..k10.
 */
function fork(version: string) {
  const r = publicRoom(version, a, b);
  const { rv, roomId, ua, ub, c, pl, jr, joinA, joinB } = r;
  const branchA: Built[] = [];
  let prev: Built = joinB;
  let plA: Built = pl;
  for (let i = 1; i <= 10; i++) {
    let e: Built;
    if (i === 1) e = a.event(rv, roomId, { type: "m.room.topic", sender: ua, stateKey: "", content: { topic: "a1" }, prev: [prev], auth: [...c, plA, joinA] });
    else if (i === 2) e = a.event(rv, roomId, { type: "m.room.name", sender: ua, stateKey: "", content: { name: "a2" }, prev: [prev], auth: [...c, plA, joinA] });
    else if (i === 3) {
      e = a.event(rv, roomId, {
        type: "m.room.power_levels",
        sender: ua,
        stateKey: "",
        content: { users: rv.creatorsHaveInfinitePower ? { [ub]: 0 } : { [ua]: 100, [ub]: 0 }, state_default: 50, events_default: 0, ban: 50, kick: 50, redact: 50, invite: 0 },
        prev: [prev],
        auth: [...c, plA, joinA],
      });
      plA = e;
    } else e = a.event(rv, roomId, { type: "x.test", sender: ua, stateKey: `k${i}`, content: { v: `a${i}` }, prev: [prev], auth: [...c, plA, joinA] });
    branchA.push(e);
    prev = e;
  }
  const branchB: Built[] = [];
  prev = joinB;
  for (let i = 1; i <= 10; i++) {
    const f = { sender: ub, prev: [prev], auth: [...c, pl, joinB] };
    const e =
      i === 1
        ? b.event(rv, roomId, { ...f, type: "m.room.topic", stateKey: "", content: { topic: "b1" } })
        : i === 2
          ? b.event(rv, roomId, { ...f, type: "m.room.name", stateKey: "", content: { name: "b2" } })
          : b.event(rv, roomId, { ...f, type: "x.test", stateKey: `k${i}`, content: { v: `b${i}` } });
    branchB.push(e);
    prev = e;
  }
  void jr;
  return { ...r, branchA, branchB };
}

describe("room input over an event graph", () => {
  it("a fork of 20 concurrent state changes from two servers resolves to the same current state in any arrival order", async () => {
    const rand = rng(20261203);
    const results: string[] = [];
    const orders = 50;
    for (let n = 0; n < orders; n++) {
      const f = fork("10");
      const base = await inject(f.roomId, f.events);
      expect(base.map((x) => x.status)).toEqual(["accepted", "accepted", "accepted", "accepted", "accepted"]);
      const all = [...f.branchA, ...f.branchB];
      const order = n === 0 ? all : n === 1 ? [...f.branchB, ...f.branchA] : n === 2 ? [...all].reverse() : shuffle(all, rand);
      const statuses = await inject(f.roomId, order);
      // Every event is stored, whatever came first; none is dropped or rejected.
      for (const s of statuses) expect(["accepted", "waiting", "soft_failed"]).toContain(s.status);
      for (const e of all) {
        const row = await rooms.repos.events.get(e.id);
        expect(row, e.id).toBeDefined();
        expect(row!.outlier).toBe(false);
        expect(row!.rejectedReason).toBeNull();
      }
      expect(await rooms.repos.events.missingPrevEvents(f.roomId)).toEqual([]);
      const state = await currentContents(f.roomId);
      results.push(JSON.stringify([...state].sort()));
      if (n === 0) {
        // Resolution v2: a's demotion of b is a power event, ordered first; b's changes then fail the
        // iterative auth checks, so a's topic and name and only a's custom keys remain.
        expect(JSON.parse(state.get("m.room.topic|")!)).toEqual({ topic: "a1" });
        expect(JSON.parse(state.get("m.room.name|")!)).toEqual({ name: "a2" });
        expect(state.has("x.test|k3")).toBe(false);
        expect(JSON.parse(state.get("x.test|k10")!)).toEqual({ v: "a10" });
        expect(JSON.parse(state.get("m.room.power_levels|")!).users).toEqual({ [f.ua]: 100, [f.ub]: 0 });
        expect((await rooms.repos.state.forwardExtremities(db.sql, f.roomId)).length).toBeLessThanOrEqual(2);
      }
      // The current state table, the room's current state group and the memberships agree.
      const head = await rooms.repos.events.writerHead(undefined, f.roomId, undefined);
      const group = await rooms.store.stateGroup(head.currentGroup);
      const table = await rooms.repos.state.currentState(f.roomId);
      expect(new Map(table.map((t) => [stateMapKey(t.type, t.stateKey), t.eventId]))).toEqual(new Map(group));
      expect((await rooms.repos.state.membership(f.roomId, f.ub))?.membership).toBe("join");
    }
    expect(new Set(results).size).toBe(1);
  }, 240_000);

  it("v12 (state resolution v2.1) converges in any arrival order too", async () => {
    const rand = rng(7);
    const results = new Set<string>();
    for (let n = 0; n < 8; n++) {
      const f = fork("12");
      expect((await inject(f.roomId, f.events)).map((r) => r.status + ("reason" in r ? `: ${r.reason}` : ""))).toEqual(Array(5).fill("accepted"));
      const all = [...f.branchA, ...f.branchB];
      const statuses = await inject(f.roomId, n === 0 ? all : shuffle(all, rand));
      for (const s of statuses) expect(["accepted", "waiting", "soft_failed"]).toContain(s.status);
      results.add(JSON.stringify([...(await currentContents(f.roomId))].sort()));
    }
    expect(results.size).toBe(1);
  }, 120_000);

  it("an event whose prev_events are unknown waits as an outlier and reaches the timeline once connected", async () => {
    const f = publicRoom("10", a, b);
    await inject(f.roomId, f.events);
    const since = rooms.positions.persistedUpTo;
    const m1 = b.event(f.rv, f.roomId, { type: "m.room.message", sender: f.ub, content: { body: "one" }, prev: [f.joinB], auth: [...f.c, f.pl, f.joinB] });
    const m2 = b.event(f.rv, f.roomId, { type: "m.room.message", sender: f.ub, content: { body: "two" }, prev: [m1], auth: [...f.c, f.pl, f.joinB] });
    const [r2] = await inject(f.roomId, [m2]);
    expect(r2).toEqual({ status: "waiting", eventId: m2.id, missingPrevEvents: [m1.id] });
    expect((await rooms.repos.events.get(m2.id))!.outlier).toBe(true);
    expect(await rooms.repos.events.missingPrevEvents(f.roomId)).toEqual([m1.id]);
    // Not in /sync's window, not served, not an extremity.
    const tails = await sync.timelineTails([f.roomId], since, rooms.positions.persistedUpTo, 10);
    expect(tails.get(f.roomId) ?? []).toEqual([]);
    await expect(rooms.reader.event(viewer(f.ub), f.roomId, m2.id)).rejects.toMatchObject({ errcode: "M_NOT_FOUND" });
    expect(await rooms.repos.state.forwardExtremities(db.sql, f.roomId)).toEqual([f.joinB.id]);

    const [r1] = await inject(f.roomId, [m1]);
    expect(r1!.status).toBe("accepted");
    const after = await sync.timelineTails([f.roomId], since, rooms.positions.persistedUpTo, 10);
    expect(after.get(f.roomId)!.map((e) => e.eventId)).toEqual([m2.id, m1.id]);
    expect((await rooms.repos.events.get(m2.id))!.outlier).toBe(false);
    expect(await rooms.repos.state.forwardExtremities(db.sql, f.roomId)).toEqual([m2.id]);
    expect(await rooms.repos.events.missingPrevEvents(f.roomId)).toEqual([]);
  });

  it("stores rejected and soft-failed events, never serves them and never builds on them", async () => {
    const f = publicRoom("10", a, b);
    await inject(f.roomId, f.events);
    const uc = b.user("carol");
    // Rejected: carol never joined (check 5 and check 4 both fail).
    const bad = b.event(f.rv, f.roomId, { type: "m.room.message", sender: uc, content: { body: "x" }, prev: [f.joinB], auth: [...f.c, f.pl] });
    const [rb] = await inject(f.roomId, [bad]);
    expect(rb!.status).toBe("rejected");
    expect((await rooms.repos.events.get(bad.id))!.rejectedReason).toMatch(/auth events|state before/);
    // A retry is a duplicate: rejected events are kept so they are not fetched and checked again.
    expect((await inject(f.roomId, [bad]))[0]!.status).toBe("duplicate");

    // Soft failure: a bans bob; bob's message that does not know of the ban arrives after it.
    const ban = a.event(f.rv, f.roomId, {
      type: "m.room.member",
      sender: f.ua,
      stateKey: f.ub,
      content: { membership: "ban" },
      prev: [f.joinB],
      auth: [...f.c, f.pl, f.joinA, f.joinB],
    });
    expect((await inject(f.roomId, [ban]))[0]!.status).toBe("accepted");
    const late = b.event(f.rv, f.roomId, { type: "m.room.message", sender: f.ub, content: { body: "sneaky" }, prev: [f.joinB], auth: [...f.c, f.pl, f.joinB] });
    const [rl] = await inject(f.roomId, [late]);
    expect(rl!.status).toBe("soft_failed");
    const row = (await rooms.repos.events.get(late.id))!;
    expect(row.softFailed).toBe(true);
    expect(row.streamOrdering).toBeLessThan(0);

    for (const id of [bad.id, late.id]) {
      await expect(rooms.reader.event(viewer(f.ua), f.roomId, id)).rejects.toMatchObject({ errcode: "M_NOT_FOUND" });
    }
    expect(await rooms.repos.state.forwardExtremities(db.sql, f.roomId)).toEqual([ban.id]);
    expect((await rooms.repos.state.membership(f.roomId, f.ub))?.membership).toBe("ban");
    const page = await rooms.reader.messages(viewer(f.ua), f.roomId, { dir: "b", limit: 50, filter: {} } as never);
    const ids = (page.chunk as JsonObject[]).map((e) => e.event_id);
    expect(ids).toContain(ban.id);
    expect(ids).not.toContain(late.id);
    expect(ids).not.toContain(bad.id);
  });

  it("a message that arrived before a concurrent ban stays accepted; the ban still applies", async () => {
    const f = publicRoom("10", a, b);
    await inject(f.roomId, f.events);
    const msg = b.event(f.rv, f.roomId, { type: "m.room.message", sender: f.ub, content: { body: "first" }, prev: [f.joinB], auth: [...f.c, f.pl, f.joinB] });
    const ban = a.event(f.rv, f.roomId, { type: "m.room.member", sender: f.ua, stateKey: f.ub, content: { membership: "ban" }, prev: [f.joinB], auth: [...f.c, f.pl, f.joinA, f.joinB] });
    expect((await inject(f.roomId, [msg, ban])).map((r) => r.status)).toEqual(["accepted", "accepted"]);
    expect((await rooms.repos.state.forwardExtremities(db.sql, f.roomId)).sort()).toEqual([msg.id, ban.id].sort());
    expect((await rooms.repos.state.membership(f.roomId, f.ub))?.membership).toBe("ban");
  });

  it("a local send merges the forward extremities; /messages and /sync hold the same events, each after its prev_events", async () => {
    const f = publicRoom("10", a, b);
    await inject(f.roomId, f.events);
    const since = rooms.positions.persistedUpTo;
    // A local user joins (public room), then two remote branches of messages.
    await rooms.membership.join({ userId: "@local:test", deviceId: "D" }, f.roomId, {} as never).catch(async () => {
      await rooms.writer.send(f.roomId, { type: "m.room.member", stateKey: "@local:test", sender: "@local:test", content: { membership: "join" } });
    });
    const [x] = await rooms.repos.state.forwardExtremities(db.sql, f.roomId);
    const fork0 = (await rooms.store.getEvent(x!))!;
    const root: Built = { pdu: fork0.pdu, id: fork0.row.eventId, depth: fork0.row.depth };
    const left: Built[] = [];
    const right: Built[] = [];
    let l = root;
    let r = root;
    for (let i = 0; i < 3; i++) {
      l = a.event(f.rv, f.roomId, { type: "m.room.message", sender: f.ua, content: { body: `l${i}` }, prev: [l], auth: [...f.c, f.pl, f.joinA] });
      r = b.event(f.rv, f.roomId, { type: "m.room.message", sender: f.ub, content: { body: `r${i}` }, prev: [r], auth: [...f.c, f.pl, f.joinB] });
      left.push(l);
      right.push(r);
    }
    await inject(f.roomId, [left[0]!, right[0]!, right[1]!, left[1]!, left[2]!, right[2]!]);
    expect((await rooms.repos.state.forwardExtremities(db.sql, f.roomId)).sort()).toEqual([l.id, r.id].sort());
    const merged = await rooms.writer.send(f.roomId, { type: "m.room.message", sender: "@local:test", content: { body: "merge" } });
    const mergedRow = (await rooms.store.getEvent(merged.eventId))!;
    expect([...mergedRow.event.prevEvents].sort()).toEqual([l.id, r.id].sort());
    expect(await rooms.repos.state.forwardExtremities(db.sql, f.roomId)).toEqual([merged.eventId]);

    const tails = (await sync.timelineTails([f.roomId], since, rooms.positions.persistedUpTo, 100)).get(f.roomId)!.map((e) => e.eventId).reverse();
    const page = await rooms.reader.messages(viewer("@local:test"), f.roomId, { dir: "b", limit: 100, filter: {} } as never);
    const history = (page.chunk as JsonObject[]).map((e) => e.event_id as string).reverse();
    const expected = [...left, ...right].map((e) => e.id).concat(merged.eventId);
    for (const id of expected) {
      expect(tails.filter((t) => t === id)).toHaveLength(1);
      expect(history.filter((t) => t === id)).toHaveLength(1);
    }
    for (const seq of [tails, history]) {
      for (const id of expected) {
        const e = (await rooms.store.getEvent(id))!;
        for (const p of e.event.prevEvents) if (seq.includes(p)) expect(seq.indexOf(p)).toBeLessThan(seq.indexOf(id));
      }
    }
  });

  it("v1 and v2 rooms cite prev_events and auth_events by reference hash", async () => {
    for (const version of ["1", "2"]) {
      const { roomId } = await rooms.creation.createRoom("@alice:test", { preset: "public_chat", room_version: version, name: "old" } as never);
      const sent = await rooms.writer.send(roomId, { type: "m.room.message", sender: "@alice:test", content: { body: "hi" } });
      const e = (await rooms.store.getEvent(sent.eventId))!;
      const rv = e.rv as RoomVersion;
      const refs = [...(e.pdu.prev_events as unknown[]), ...(e.pdu.auth_events as unknown[])];
      expect(refs.length).toBeGreaterThan(2);
      for (const ref of refs) {
        expect(Array.isArray(ref)).toBe(true);
        const [id, hashes] = ref as [string, JsonObject];
        const target = (await rooms.store.getEvent(id))!;
        expect(getOwn(hashes, "sha256")).toBe(encodeBase64(computeReferenceHash(target.pdu, rv)));
        // The content hash would be the other value under `hashes`; it must not be what is cited.
        const ch = isJsonObject(target.pdu.hashes) ? getOwn(target.pdu.hashes, "sha256") : undefined;
        expect(getOwn(hashes, "sha256")).not.toBe(ch);
      }
    }
  });

  it("a redaction that arrived before its target redacts the target on arrival", async () => {
    const f = publicRoom("10", a, b);
    await inject(f.roomId, f.events);
    const target = b.event(f.rv, f.roomId, { type: "m.room.message", sender: f.ub, content: { body: "secret", msgtype: "m.text" }, prev: [f.joinB], auth: [...f.c, f.pl, f.joinB] });
    const redaction = b.event(f.rv, f.roomId, {
      type: "m.room.redaction",
      sender: f.ub,
      content: { reason: "oops" },
      redacts: target.id,
      prev: [f.joinB],
      auth: [...f.c, f.pl, f.joinB],
    });
    expect((await inject(f.roomId, [redaction]))[0]!.status).toBe("accepted");
    expect((await inject(f.roomId, [target]))[0]!.status).toBe("accepted");
    const stored = (await rooms.store.getEvent(target.id))!;
    expect(stored.row.redactedBy).toBe(redaction.id);
    expect(stored.event.content).toEqual({});
    const served = await rooms.reader.event(viewer(f.ua), f.roomId, target.id);
    expect(served.content).toEqual({});
  });

  it("a joined room's older history arrives as backfill: served by /messages, never new in /sync", async () => {
    // The room's first events are known as state (outliers), as after a join over federation.
    const r = publicRoom("10", a, b);
    const { rv, roomId, ua, c, pl, jr, joinA } = r;
    const m0 = a.event(rv, roomId, { type: "m.room.message", sender: ua, content: { body: "old" }, prev: [jr], auth: [...c, pl, joinA] });
    const joinB = b.event(rv, roomId, { type: "m.room.member", sender: r.ub, stateKey: r.ub, content: { membership: "join" }, prev: [m0], auth: [...c, pl, jr] });
    for (const e of [r.create, joinA, pl, jr]) expect((await persistLikeFederation(roomId, e, "outlier", undefined, "10")).status).toBe("outlier");
    const state = [r.create, joinA, pl, jr].map((e) => e.id);
    const since = rooms.positions.persistedUpTo;
    const joined = await persistLikeFederation(roomId, joinB, "new", state);
    expect(joined.status).toBe("accepted");
    // m0 is the room's backward extremity until backfilled.
    expect(await rooms.repos.events.missingPrevEvents(roomId)).toEqual([m0.id]);
    const afterJoin = rooms.positions.persistedUpTo;
    const rb = await persistLikeFederation(roomId, m0, "backfill", state);
    expect(rb.status).toBe("backfilled");
    expect((await rooms.repos.events.get(m0.id))!.streamOrdering).toBeLessThan(0);
    // The backward extremity moves back: jr is known only as state (an outlier), not in the timeline.
    expect(await rooms.repos.events.missingPrevEvents(roomId)).toEqual([jr.id]);
    expect((await sync.timelineTails([roomId], afterJoin, rooms.positions.persistedUpTo, 10)).get(roomId) ?? []).toEqual([]);
    expect((await sync.timelineTails([roomId], since, rooms.positions.persistedUpTo, 10)).get(roomId)!.map((e) => e.eventId)).toEqual([joinB.id]);
    const page = await rooms.reader.messages(viewer(r.ub), roomId, { dir: "b", limit: 50, filter: {} } as never);
    expect((page.chunk as JsonObject[]).map((e) => e.event_id)).toEqual([joinB.id, m0.id]);
    // Paging one event at a time crosses into backfilled history (negative positions in the tokens).
    const seen: unknown[] = [];
    let from: string | undefined;
    for (let i = 0; i < 4; i++) {
      const p = await rooms.reader.messages(viewer(r.ub), roomId, { dir: "b", limit: 1, from, filter: {} } as never);
      seen.push(...(p.chunk as JsonObject[]).map((e) => e.event_id));
      if (p.end === undefined) break;
      from = p.end as string;
    }
    expect(seen).toEqual([joinB.id, m0.id]);
    // Backfill never moves the forward extremities; the current state is the join's.
    expect(await rooms.repos.state.forwardExtremities(db.sql, roomId)).toEqual([joinB.id]);
    expect((await rooms.repos.state.membership(roomId, r.ub))?.membership).toBe("join");
  });

  it("drops events with bad signatures and asks for unknown auth events, storing nothing", async () => {
    const f = publicRoom("10", a, b);
    await inject(f.roomId, f.events);
    const msg = b.event(f.rv, f.roomId, { type: "m.room.message", sender: f.ub, content: { body: "x" }, prev: [f.joinB], auth: [...f.c, f.pl, f.joinB] });
    const forged = { ...msg.pdu, content: { body: "changed" } };
    // A changed content breaks the signature (which covers the redacted form's hashes): dropped.
    const tampered = { ...forged, signatures: { "b.test": { [b.key.keyId]: "AAAA" } } };
    const r = await rooms.writer.persist(f.roomId, tampered, { kind: "new", keys });
    expect(r.status).toBe("invalid");
    const unknownAuth = b.event(f.rv, f.roomId, { type: "m.room.message", sender: f.ub, content: { body: "y" }, prev: [f.joinB], auth: [...f.c, f.pl, msg] });
    const r2 = await rooms.writer.persist(f.roomId, unknownAuth.pdu, { kind: "new", keys });
    expect(r2).toEqual({ status: "missing_auth_events", eventId: unknownAuth.id, missing: [msg.id] });
    expect(await rooms.repos.events.get(unknownAuth.id)).toBeUndefined();
  });
});
