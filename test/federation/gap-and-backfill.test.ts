import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { JsonObject } from "../../src/core/index.js";
import { AuthedInput } from "../../src/federation/inbound/authed-input.js";
import { Backfiller } from "../../src/federation/inbound/backfill.js";
import { GapFiller } from "../../src/federation/inbound/gap-filler.js";
import { RemoteEvents } from "../../src/federation/inbound/remote-events.js";
import { StateAtPrevs } from "../../src/federation/inbound/state-at-prevs.js";
import { storedGraph } from "../../src/federation/inbound/stored-graph.js";
import { createLogger } from "../../src/logging.js";
import { createRoomsModule, type RoomsModule } from "../../src/rooms/module.js";
import { BackfillRepo } from "../../src/storage/backfill-repo.js";
import { openTestSql, testDatabaseUrl, type TestSql } from "../support/databases.js";
import { keysOf, publicRoom, TestServer, type Built } from "../support/remote-server.js";

// The inbound federation work over a real room graph, against a stand-in remote
// answering from the events the test built.
const engine = testDatabaseUrl() ? "postgres" : "pglite";
const log = createLogger("silent");
let db: TestSql;
let rooms: RoomsModule;
const a = new TestServer("a.test");
const b = new TestServer("b.test");
const keys = keysOf(a, b);
const built = new Map<string, Built>();
const stateBefore = new Map<string, string[]>();
const requests: string[] = [];

/** The remote: /event from `built`, /state_ids from `stateBefore`, get_missing_events and /backfill from `answers`. */
const answers: { missing: Built[]; backfill: Built[] } = { missing: [], backfill: [] };
const client = {
  async get(_dest: string, path: string, opts?: { query?: Record<string, unknown> }): Promise<JsonObject> {
    requests.push(path.split("/")[4]!);
    if (path.includes("/event/")) {
      const e = built.get(decodeURIComponent(path.split("/").pop()!));
      if (!e) throw new Error("404");
      return { pdus: [e.pdu as JsonObject] };
    }
    if (path.includes("/state/")) {
      const ids = stateBefore.get(opts!.query!.event_id as string) ?? [];
      const chain = [...built.keys()].filter((id) => built.get(id)!.pdu.state_key !== undefined);
      return { pdus: ids.map((id) => built.get(id)!.pdu as JsonObject), auth_chain: chain.map((id) => built.get(id)!.pdu as JsonObject) };
    }
    if (path.includes("/state_ids/")) {
      const ids = stateBefore.get(opts!.query!.event_id as string);
      if (!ids) throw new Error("404");
      return { pdu_ids: ids, auth_chain_ids: [...built.keys()].filter((id) => built.get(id)!.pdu.state_key !== undefined) };
    }
    return { pdus: answers.backfill.map((e) => e.pdu as JsonObject) };
  },
  async post(): Promise<JsonObject> {
    requests.push("get_missing_events");
    return { events: answers.missing.map((e) => e.pdu as JsonObject) };
  },
};

function track(e: Built, state: Map<string, string>): Built {
  built.set(e.id, e);
  stateBefore.set(e.id, [...state.values()]);
  if (typeof e.pdu.state_key === "string") state.set(`${e.pdu.type as string}|${e.pdu.state_key}`, e.id);
  return e;
}

let gaps: GapFiller;
let backfiller: Backfiller;

beforeAll(async () => {
  db = await openTestSql();
  rooms = await createRoomsModule({ sql: db.sql, serverName: "test", signingKey: { keyId: "ed25519:k", seed: randomBytes(32) }, defaultRoomVersion: "10" });
  const graph = storedGraph(rooms.repos.events);
  const remote = new RemoteEvents({ client, log });
  const input = new AuthedInput({ input: rooms.writer, keys: { prefetch: async () => {}, lookup: keys }, remote, log });
  const states = new StateAtPrevs({ graph, remote, input, log });
  gaps = new GapFiller({ graph, remote, input, states, log });
  backfiller = new Backfiller({
    repo: new BackfillRepo(db.sql),
    graph,
    remote,
    input,
    states,
    roomVersion: (roomId) => rooms.store.roomVersion(roomId),
    servers: async () => ["a.test"],
    serverName: "test",
    log,
  });
}, 60_000);
afterAll(() => db?.dispose());

describe(`gap filling and backfill on ${engine}`, () => {
  it("resolves the state before an event from a known prev and a missing one whose state comes from /state_ids", async () => {
    const r = publicRoom("10", a, b);
    const state = new Map<string, string>();
    for (const e of r.events) track(e, state);
    for (const e of r.events) expect((await rooms.writer.persist(r.roomId, e.pdu, { kind: "new", keys, roomVersion: "10" })).status).toBe("accepted");
    // A fork on the remote: carol joins and sets nothing else; we never see it.
    const carol = b.user("carol");
    const forkState = new Map(state);
    const joinCarol = track(
      b.event(r.rv, r.roomId, {
        type: "m.room.member",
        sender: carol,
        stateKey: carol,
        content: { membership: "join" },
        prev: [r.jr],
        auth: [...r.c, r.pl, r.jr],
      }),
      forkState,
    );
    const fork = track(
      b.event(r.rv, r.roomId, { type: "m.room.message", sender: carol, content: { body: "fork" }, prev: [joinCarol], auth: [...r.c, r.pl, joinCarol] }),
      forkState,
    );
    // The merge cites our head (bob's join) and the fork's tip.
    const merge = track(
      b.event(r.rv, r.roomId, { type: "m.room.message", sender: r.ub, content: { body: "merge" }, prev: [r.joinB, fork], auth: [...r.c, r.pl, r.joinB] }),
      state,
    );
    const waiting = await rooms.writer.persist(r.roomId, merge.pdu, { kind: "new", keys });
    expect(waiting.status).toBe("waiting");
    // get_missing_events answers nothing: the gap stays, /state_ids at the fork's tip fills it.
    answers.missing = [];
    requests.length = 0;
    expect(await gaps.fill("b.test", r.roomId, r.rv, { pdu: merge.pdu, id: merge.id })).toBe(true);
    expect(requests).toContain("state_ids");
    const current = await rooms.repos.state.currentState(r.roomId);
    expect(current.find((c) => c.type === "m.room.member" && c.stateKey === carol)?.eventId).toBe(joinCarol.id);
    const row = await rooms.repos.events.get(merge.id);
    expect(row?.outlier).toBe(false);
    // The fork's tip is a backward extremity of the room now.
    expect(await rooms.repos.events.missingPrevEvents(r.roomId)).toContain(fork.id);
  });

  it("asks /state once instead of /event for each when many state events are unknown", async () => {
    const r = publicRoom("10", a, b);
    const state = new Map<string, string>();
    for (const e of r.events) track(e, state);
    for (const e of r.events) await rooms.writer.persist(r.roomId, e.pdu, { kind: "new", keys, roomVersion: "10" });
    let tip = r.joinB;
    const joiners: Built[] = [];
    for (let i = 0; i < 60; i++) {
      const u = b.user(`u${i}`);
      tip = track(
        b.event(r.rv, r.roomId, { type: "m.room.member", sender: u, stateKey: u, content: { membership: "join" }, prev: [tip], auth: [...r.c, r.pl, r.jr] }),
        state,
      );
      joiners.push(tip);
    }
    const last = track(
      b.event(r.rv, r.roomId, { type: "m.room.message", sender: r.ub, content: { body: "after 60 joins" }, prev: [tip], auth: [...r.c, r.pl, r.joinB] }),
      state,
    );
    expect((await rooms.writer.persist(r.roomId, last.pdu, { kind: "new", keys })).status).toBe("waiting");
    answers.missing = [];
    requests.length = 0;
    expect(await gaps.fill("b.test", r.roomId, r.rv, { pdu: last.pdu, id: last.id })).toBe(true);
    expect(requests.filter((x) => x === "state")).toHaveLength(1);
    // The tip itself (the state_ids answer covers the state before it) is the one /event left.
    expect(requests.filter((x) => x === "event").length).toBeLessThanOrEqual(1);
    const current = await rooms.repos.state.currentState(r.roomId);
    for (const j of joiners) expect(current.find((c) => c.eventId === j.id)).toBeDefined();
  });

  it("remembers a backward extremity no server has, and does not ask for it again", async () => {
    const r = publicRoom("10", a, b);
    const state = new Map<string, string>();
    for (const e of r.events) track(e, state);
    for (const e of [r.create, r.joinA, r.pl, r.jr]) await rooms.writer.persist(r.roomId, e.pdu, { kind: "outlier", keys, roomVersion: "10" });
    const joined = await rooms.writer.persist(r.roomId, r.joinB.pdu, {
      kind: "new",
      keys,
      stateBefore: [r.create.id, r.joinA.id, r.pl.id, r.jr.id],
      roomVersion: "10",
    });
    expect(joined.status).toBe("accepted");
    // The remote answers /backfill without anything useful (an event of another room only).
    answers.backfill = [built.get([...built.keys()][0]!)!];
    requests.length = 0;
    // Both servers are asked (b.test, whose user cited the missing event, and a.test, in the room).
    expect(await backfiller.backfill(r.roomId, 100, 10)).toBe(0);
    expect(requests).toEqual(["backfill", "backfill"]);
    expect(await backfiller.backfill(r.roomId, 100, 10)).toBe(0);
    expect(requests).toEqual(["backfill", "backfill"]);
    // A remote that has the history places it as backfill, oldest first.
    const r2 = publicRoom("10", a, b);
    const s2 = new Map<string, string>();
    for (const e of r2.events) track(e, s2);
    for (const e of [r2.create, r2.joinA, r2.pl, r2.jr]) await rooms.writer.persist(r2.roomId, e.pdu, { kind: "outlier", keys, roomVersion: "10" });
    await rooms.writer.persist(r2.roomId, r2.joinB.pdu, { kind: "new", keys, stateBefore: [r2.create.id, r2.joinA.id, r2.pl.id, r2.jr.id], roomVersion: "10" });
    answers.backfill = [r2.jr, r2.pl, r2.joinA, r2.create];
    expect(await backfiller.backfill(r2.roomId, 100, 10)).toBe(4);
    for (const e of [r2.create, r2.joinA, r2.pl, r2.jr]) expect((await rooms.repos.events.get(e.id))?.outlier).toBe(false);
    expect(await rooms.repos.events.missingPrevEvents(r2.roomId)).toEqual([]);
  });
});
