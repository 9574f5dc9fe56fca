import { describe, expect, it } from "vitest";
import { ALICE, BOB, CHARLIE, DagSim, EVELYN, ZARA, type SimEvent } from "../../../test/core/dag-sim.js";
import type { JsonObject } from "../json.js";
import { RoomFixture } from "../../../test/core/room-fixture.js";
import { stateMapKey } from "../events/state-map.js";
import type { RoomEvent } from "../events/pdu.js";
import { resolveState } from "./index.js";
import { splitConflicts } from "./split.js";
import type { StateResDeps } from "./types.js";

const V2_VERSIONS = ["2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12"];
const PL = "m.room.power_levels";
const MEMBER = "m.room.member";
const TOPIC = "m.room.topic";

function expectContains(sim: DagSim, state: Map<string, string>, names: string[], absent: string[] = []) {
  const got = sim.names(state);
  for (const n of names) expect(got, `expected ${n} in ${[...got].join(",")}`).toContain(n);
  for (const n of absent) expect(got, `expected ${n} absent`).not.toContain(n);
}

describe.each(V2_VERSIONS)("state resolution v2 classic scenarios, room version %s", (v) => {
  it("ban vs power level change: the ban wins", async () => {
    const sim = new DagSim(v);
    await sim.initial();
    const events: SimEvent[] = [
        { id: "PA", sender: ALICE, type: PL, stateKey: "", content: { users: { [ALICE]: 100, [BOB]: 50 } } },
        { id: "MA", sender: ALICE, type: MEMBER, stateKey: ALICE, content: { membership: "join" } },
        { id: "MB", sender: ALICE, type: MEMBER, stateKey: BOB, content: { membership: "ban" } },
        { id: "PB", sender: BOB, type: PL, stateKey: "", content: { users: { [ALICE]: 100, [BOB]: 50 } } },
    ];
    const state = await sim.run(
      events.map((e): SimEvent => (v === "12" ? { ...e, content: stripCreator(e.content) } : e)),
      [
        ["END", "MB", "MA", "PA", "START"],
        ["END", "PB", "PA"],
      ],
    );
    expectContains(sim, state, ["PA", "MA", "MB"], ["PB"]);
  });

  it("join rule evasion: the join under the old rule loses", async () => {
    const sim = new DagSim(v);
    await sim.initial();
    const state = await sim.run(
      [
        { id: "JR", sender: ALICE, type: "m.room.join_rules", stateKey: "", content: { join_rule: "invite" } },
        { id: "ME", sender: EVELYN, type: MEMBER, stateKey: EVELYN, content: { membership: "join" } },
      ],
      [
        ["END", "JR", "START"],
        ["END", "ME", "START"],
      ],
    );
    expectContains(sim, state, ["JR"], ["ME"]);
    expect(state.has(stateMapKey(MEMBER, EVELYN))).toBe(false);
  });

  it("off-topic power levels: the chain of delegated changes holds", async () => {
    const sim = new DagSim(v);
    await sim.initial();
    const u = (o: Record<string, number>) => (v === "12" ? stripCreator({ users: o }) : { users: o });
    const state = await sim.run(
      [
        { id: "PA", sender: ALICE, type: PL, stateKey: "", content: u({ [ALICE]: 100, [BOB]: 50 }) },
        { id: "PB", sender: BOB, type: PL, stateKey: "", content: u({ [ALICE]: 100, [BOB]: 50, [CHARLIE]: 50 }) },
        { id: "PC", sender: CHARLIE, type: PL, stateKey: "", content: u({ [ALICE]: 100, [BOB]: 50, [CHARLIE]: 0 }) },
      ],
      [
        ["END", "PC", "PB", "PA", "START"],
        ["END", "PA"],
      ],
    );
    expectContains(sim, state, ["PC"], ["PA", "PB"]);
  });

  it("topic reset: a banned user's topic does not come back", async () => {
    const sim = new DagSim(v);
    await sim.initial();
    const u = (o: Record<string, number>) => (v === "12" ? stripCreator({ users: o }) : { users: o });
    const state = await sim.run(
      [
        { id: "T1", sender: ALICE, type: TOPIC, stateKey: "", content: { topic: "1" } },
        { id: "PA", sender: ALICE, type: PL, stateKey: "", content: u({ [ALICE]: 100, [BOB]: 50 }) },
        { id: "T2", sender: BOB, type: TOPIC, stateKey: "", content: { topic: "2" } },
        { id: "MB", sender: ALICE, type: MEMBER, stateKey: BOB, content: { membership: "ban" } },
      ],
      [
        ["END", "MB", "T2", "PA", "T1", "START"],
        ["END", "T1"],
      ],
    );
    expectContains(sim, state, ["T1", "MB", "PA"], ["T2"]);
  });

  it("topic: mainline ordering picks the topic on the latest power levels", async () => {
    const sim = new DagSim(v);
    await sim.initial();
    const u = (o: Record<string, number>) => (v === "12" ? stripCreator({ users: o }) : { users: o });
    const state = await sim.run(
      [
        { id: "T1", sender: ALICE, type: TOPIC, stateKey: "", content: {} },
        { id: "PA1", sender: ALICE, type: PL, stateKey: "", content: u({ [ALICE]: 100, [BOB]: 50 }) },
        { id: "T2", sender: ALICE, type: TOPIC, stateKey: "", content: {} },
        { id: "PA2", sender: ALICE, type: PL, stateKey: "", content: u({ [ALICE]: 100, [BOB]: 0 }) },
        { id: "PB", sender: BOB, type: PL, stateKey: "", content: u({ [ALICE]: 100, [BOB]: 50 }) },
        { id: "T3", sender: BOB, type: TOPIC, stateKey: "", content: {} },
        { id: "MZ1", sender: ZARA, type: "m.room.message", content: {} },
        { id: "T4", sender: ALICE, type: TOPIC, stateKey: "", content: {} },
      ],
      [
        ["END", "T4", "MZ1", "PA2", "T2", "PA1", "T1", "START"],
        ["END", "MZ1", "T3", "PB", "PA1"],
      ],
    );
    expectContains(sim, state, ["T4", "PA2"], ["T3", "PB"]);
  });

  it("topic basic: bob's demotion wins and his later topic is dropped", async () => {
    const sim = new DagSim(v);
    await sim.initial();
    const u = (o: Record<string, number>) => (v === "12" ? stripCreator({ users: o }) : { users: o });
    const state = await sim.run(
      [
        { id: "T1", sender: ALICE, type: TOPIC, stateKey: "", content: {} },
        { id: "PA1", sender: ALICE, type: PL, stateKey: "", content: u({ [ALICE]: 100, [BOB]: 50 }) },
        { id: "T2", sender: ALICE, type: TOPIC, stateKey: "", content: {} },
        { id: "PA2", sender: ALICE, type: PL, stateKey: "", content: u({ [ALICE]: 100, [BOB]: 0 }) },
        { id: "PB", sender: BOB, type: PL, stateKey: "", content: u({ [ALICE]: 100, [BOB]: 50 }) },
        { id: "T3", sender: BOB, type: TOPIC, stateKey: "", content: {} },
      ],
      [
        ["END", "PA2", "T2", "PA1", "T1", "START"],
        ["END", "T3", "PB", "PA1"],
      ],
    );
    expectContains(sim, state, ["PA2", "T2"], ["T3", "PB"]);
  });

  it("mainline sort: an older-based topic loses to a newer-based one", async () => {
    const sim = new DagSim(v);
    await sim.initial();
    const u = (o: Record<string, number>) => (v === "12" ? stripCreator({ users: o }) : { users: o });
    const state = await sim.run(
      [
        { id: "T1", sender: ALICE, type: TOPIC, stateKey: "", content: {} },
        { id: "PA1", sender: ALICE, type: PL, stateKey: "", content: u({ [ALICE]: 100, [BOB]: 50 }) },
        { id: "T2", sender: ALICE, type: TOPIC, stateKey: "", content: {} },
        { id: "PA2", sender: ALICE, type: PL, stateKey: "", content: { ...u({ [ALICE]: 100, [BOB]: 50 }), state_default: 60 } },
        { id: "PB", sender: BOB, type: PL, stateKey: "", content: u({ [ALICE]: 100, [BOB]: 50 }) },
        { id: "T3", sender: BOB, type: TOPIC, stateKey: "", content: {} },
        { id: "T4", sender: ALICE, type: TOPIC, stateKey: "", content: {} },
      ],
      [
        ["END", "T3", "PA2", "T2", "PA1", "T1", "START"],
        ["END", "T4", "PB", "PA1"],
      ],
    );
    // PB loses to PA2 in the power sort (alice outranks bob); under PA2 bob
    // (50) is below state_default 60, so T3 fails and T4 is the topic.
    expectContains(sim, state, ["PA2", "T4"], ["T3", "PB"]);
  });
});

describe.each(V2_VERSIONS)("classic mainline sort, room version %s", (v) => {
  it("the topic based on the resolved power levels' mainline sorts last and wins", async () => {
    const sim = new DagSim(v);
    await sim.initial();
    const u = (o: Record<string, number>): JsonObject => (v === "12" ? stripCreator({ users: o }) : { users: o });
    const state = await sim.run(
      [
        { id: "T1", sender: ALICE, type: TOPIC, stateKey: "", content: {} },
        { id: "PA1", sender: ALICE, type: PL, stateKey: "", content: u({ [ALICE]: 100, [BOB]: 50 }) },
        { id: "T2", sender: ALICE, type: TOPIC, stateKey: "", content: {} },
        { id: "PA2", sender: ALICE, type: PL, stateKey: "", content: { ...u({ [ALICE]: 100, [BOB]: 50 }), events: { [PL]: 100 } } },
        { id: "PB", sender: BOB, type: PL, stateKey: "", content: u({ [ALICE]: 100, [BOB]: 50 }) },
        { id: "T3", sender: BOB, type: TOPIC, stateKey: "", content: {} },
        { id: "T4", sender: ALICE, type: TOPIC, stateKey: "", content: {} },
      ],
      [
        ["END", "T3", "PA2", "T2", "PA1", "T1", "START"],
        ["END", "T4", "PB", "PA1"],
      ],
    );
    expectContains(sim, state, ["T3", "PA2"], ["T4", "PB"]);
  });
});

function stripCreator(content: JsonObject | undefined): JsonObject {
  const c: JsonObject = { ...(content ?? {}) };
  const users = c.users;
  if (users !== null && typeof users === "object" && !Array.isArray(users)) {
    const { [ALICE]: _a, ...rest } = users;
    c.users = rest;
  }
  return c;
}

describe("mainline ties", () => {
  it.each(["2", "10", "12"])("version %s: same mainline position breaks ties by timestamp, then event id", async (v) => {
    const f = new RoomFixture(v);
    const create = f.create();
    const aj = f.member("aj", ALICE, "join", { auth: ["create"], prev: ["create"] });
    const plAuth = f.rv.createEventInAuthEvents ? ["create", "aj"] : ["aj"];
    const plContent: JsonObject = f.rv.creatorsHaveInfinitePower ? {} : { users: { [ALICE]: 100 } };
    const pl = f.make({ id: "pl", type: PL, sender: ALICE, stateKey: "", content: plContent, auth: plAuth });
    const tAuth = f.rv.createEventInAuthEvents ? ["create", "pl", "aj"] : ["pl", "aj"];
    // Same ts: event id decides; the greater id sorts last and wins.
    const ta = f.make({ id: "ta", type: TOPIC, sender: ALICE, stateKey: "", content: {}, auth: tAuth, ts: 10 });
    const tb = f.make({ id: "tb", type: TOPIC, sender: ALICE, stateKey: "", content: {}, auth: tAuth, ts: 10 });
    const tc = f.make({ id: "tc", type: TOPIC, sender: ALICE, stateKey: "", content: {}, auth: tAuth, ts: 5 });
    const deps: StateResDeps = {
      fetchEvents: async (ids) => new Map(ids.flatMap((id) => (f.events.has(id) ? [[id, f.events.get(id) as RoomEvent] as const] : []))),
    };
    const base = new Map([create, aj, pl].map((e) => [stateMapKey(e.type, e.stateKey!), e.eventId]));
    const withTopic = (t: RoomEvent) => new Map([...base, [stateMapKey(TOPIC, ""), t.eventId]]);
    const r1 = await resolveState(f.rv, [withTopic(ta), withTopic(tb)], deps);
    expect(r1.get(stateMapKey(TOPIC, ""))).toBe(tb.eventId);
    // Timestamp beats event id: tc (ts 5) sorts first, tb (ts 10) last.
    const r2 = await resolveState(f.rv, [withTopic(tb), withTopic(tc)], deps);
    expect(r2.get(stateMapKey(TOPIC, ""))).toBe(tb.eventId);
    const r3 = await resolveState(f.rv, [withTopic(tc), withTopic(ta)], deps);
    expect(r3.get(stateMapKey(TOPIC, ""))).toBe(ta.eventId);
  });
});

describe("v2.1 (room version 12) vs v2", () => {
  /**
   * Bob (50) changed the join rules on a branch before alice kicked him; both
   * sets agree on the kick. v2 checks bob's change against the unconflicted
   * state (bob already left: rejected). In v2.1 bob's join lies on the auth
   * path jrb -> bj -> jra between the two conflicted join rules, so it joins
   * the conflicted subgraph, is re-applied first, and bob's change passes.
   */
  async function kickScenario(v: string) {
    const f = new RoomFixture(v);
    const c = f.create();
    const withCreate = (ids: string[]) => (f.rv.createEventInAuthEvents ? ["create", ...ids] : ids);
    const aj = f.member("aj", ALICE, "join", { auth: withCreate([]), prev: ["create"] });
    const users: JsonObject = f.rv.creatorsHaveInfinitePower ? { [BOB]: 50 } : { [ALICE]: 100, [BOB]: 50 };
    const pl = f.make({ id: "pl", type: PL, sender: ALICE, stateKey: "", content: { users }, auth: withCreate(["aj"]) });
    const jra = f.make({ id: "jra", type: "m.room.join_rules", sender: ALICE, stateKey: "", content: { join_rule: "public" }, auth: withCreate(["aj", "pl"]) });
    const bj = f.member("bj", BOB, "join", { auth: withCreate(["pl", "jra"]) });
    const jrb = f.make({ id: "jrb", type: "m.room.join_rules", sender: BOB, stateKey: "", content: { join_rule: "invite" }, auth: withCreate(["pl", "bj"]), ts: 100 });
    const kick = f.member("kick", BOB, "leave", { sender: ALICE, auth: withCreate(["pl", "aj", "bj"]), ts: 101 });
    const deps: StateResDeps = {
      fetchEvents: async (ids) => new Map(ids.flatMap((id) => (f.events.has(id) ? [[id, f.events.get(id) as RoomEvent] as const] : []))),
    };
    const key = (e: RoomEvent) => stateMapKey(e.type, e.stateKey!);
    const s1 = new Map([c, aj, pl, jrb, kick].map((e) => [key(e), e.eventId]));
    const s2 = new Map([c, aj, pl, jra, kick].map((e) => [key(e), e.eventId]));
    const r = await resolveState(f.rv, [s1, s2], deps);
    return { r, jra, jrb, kick };
  }

  it("v2: bob's earlier join rules change loses to the agreed kick", async () => {
    const { r, jra, kick } = await kickScenario("11");
    expect(r.get(stateMapKey("m.room.join_rules", ""))).toBe(jra.eventId);
    expect(r.get(stateMapKey(MEMBER, BOB))).toBe(kick.eventId);
  });

  it("v2.1: the subgraph re-applies bob's join, so his change stands", async () => {
    const { r, jrb, kick } = await kickScenario("12");
    expect(r.get(stateMapKey("m.room.join_rules", ""))).toBe(jrb.eventId);
    expect(r.get(stateMapKey(MEMBER, BOB))).toBe(kick.eventId);
  });

  /**
   * Bob's topic T1 cites plX (bob 100); the unconflicted power levels pl0
   * give him 0. The full conflicted set is just {T1, T2} (no subgraph, no
   * auth difference). v2 checks T1 against the unconflicted state (pl0:
   * rejected); v2.1 starts empty and falls back to T1's own auth events
   * (plX: allowed), unless plX was itself rejected.
   */
  async function emptyStartScenario(v: string, rejectPlx: boolean) {
    const f = new RoomFixture(v);
    const withCreate = (ids: string[]) => (f.rv.createEventInAuthEvents ? ["create", ...ids] : ids);
    const c = f.create();
    const aj = f.member("aj", ALICE, "join", { auth: withCreate([]) });
    const pl0 = f.make({ id: "pl0", type: PL, sender: ALICE, stateKey: "", content: f.rv.creatorsHaveInfinitePower ? {} : { users: { [ALICE]: 100 } }, auth: withCreate(["aj"]) });
    const jr = f.make({ id: "jr", type: "m.room.join_rules", sender: ALICE, stateKey: "", content: { join_rule: "public" }, auth: withCreate(["aj", "pl0"]) });
    f.make({ id: "plx", type: PL, sender: ALICE, stateKey: "", content: { users: f.rv.creatorsHaveInfinitePower ? { [BOB]: 100 } : { [ALICE]: 100, [BOB]: 100 } }, auth: withCreate(["aj", "pl0"]) });
    const bj = f.member("bj", BOB, "join", { auth: withCreate(["plx", "jr"]) });
    const t1 = f.make({ id: "t1", type: TOPIC, sender: BOB, stateKey: "", auth: withCreate(["plx", "bj"]), ts: 10 });
    const t2 = f.make({ id: "t2", type: TOPIC, sender: ALICE, stateKey: "", auth: withCreate(["pl0", "aj"]), ts: 5 });
    const key = (e: RoomEvent) => stateMapKey(e.type, e.stateKey!);
    const s1 = new Map([c, aj, pl0, jr, bj, t1].map((e) => [key(e), e.eventId]));
    const s2 = new Map([c, aj, pl0, jr, bj, t2].map((e) => [key(e), e.eventId]));
    const fetchEvents: StateResDeps["fetchEvents"] = async (ids) =>
      new Map(ids.flatMap((id) => (f.events.has(id) ? [[id, f.events.get(id) as RoomEvent] as const] : [])));
    const r = await resolveState(f.rv, [s1, s2], { fetchEvents, isRejected: (id) => rejectPlx && id === f.id("plx") });
    return { topic: r.get(key(t1)), t1: t1.eventId, t2: t2.eventId };
  }

  it("empty start: v2 checks against the unconflicted state, v2.1 against the event's auth events", async () => {
    const v2 = await emptyStartScenario("11", false);
    expect(v2.topic).toBe(v2.t2);
    const v21 = await emptyStartScenario("12", false);
    expect(v21.topic).toBe(v21.t1);
  });

  it("iterative auth checks do not use rejected auth events", async () => {
    const r = await emptyStartScenario("12", true);
    expect(r.topic).toBe(r.t2);
  });

  /**
   * PL1 -> PL2 -> PL3 along auth_events; the sets disagree on PL1 vs PL3 but
   * both contain carol's join authorised by PL2, so PL2 is in every auth
   * chain and not in the auth difference. Only v2.1's conflicted subgraph
   * brings PL2 (which makes bob 100) into the sort, letting bob's PL3 pass.
   */
  async function subgraphScenario(v: string) {
    const f = new RoomFixture(v);
    const c = f.create();
    const withCreate = (ids: string[]) => (f.rv.createEventInAuthEvents ? ["create", ...ids] : ids);
    const aj = f.member("aj", ALICE, "join", { auth: withCreate([]) });
    const u = (o: Record<string, number>): JsonObject => (f.rv.creatorsHaveInfinitePower ? o : { [ALICE]: 100, ...o });
    const pl0 = f.make({ id: "pl0", type: PL, sender: ALICE, stateKey: "", content: { users: u({}) }, auth: withCreate(["aj"]), ts: 1 });
    const jr = f.make({ id: "jr", type: "m.room.join_rules", sender: ALICE, stateKey: "", content: { join_rule: "public" }, auth: withCreate(["aj", "pl0"]), ts: 2 });
    const bj = f.member("bj", BOB, "join", { auth: withCreate(["pl0", "jr"]), ts: 3 });
    const pl1 = f.make({ id: "pl1", type: PL, sender: ALICE, stateKey: "", content: { users: u({ [BOB]: 0 }) }, auth: withCreate(["aj", "pl0"]), ts: 4 });
    const pl2 = f.make({ id: "pl2", type: PL, sender: ALICE, stateKey: "", content: { users: u({ [BOB]: 100 }) }, auth: withCreate(["aj", "pl1"]), ts: 5 });
    const cj = f.member("cj", CHARLIE, "join", { auth: withCreate(["pl2", "jr"]), ts: 6 });
    const pl3 = f.make({ id: "pl3", type: PL, sender: BOB, stateKey: "", content: { users: u({ [BOB]: 100, [CHARLIE]: 100 }) }, auth: withCreate(["bj", "pl2"]), ts: 7 });
    const deps: StateResDeps = {
      fetchEvents: async (ids) => new Map(ids.flatMap((id) => (f.events.has(id) ? [[id, f.events.get(id) as RoomEvent] as const] : []))),
    };
    const key = (e: RoomEvent) => stateMapKey(e.type, e.stateKey!);
    const s1 = new Map([c, aj, jr, bj, cj, pl1].map((e) => [key(e), e.eventId]));
    const s2 = new Map([c, aj, jr, bj, cj, pl3].map((e) => [key(e), e.eventId]));
    expect([...splitConflicts([s1, s2]).conflicted.keys()]).toEqual([stateMapKey(PL, "")]);
    const r = await resolveState(f.rv, [s1, s2], deps);
    return { r, pl1, pl3 };
  }

  it("v2 ignores events between conflicted events that are in every auth chain", async () => {
    const { r, pl1 } = await subgraphScenario("11");
    expect(r.get(stateMapKey(PL, ""))).toBe(pl1.eventId);
  });

  it("v2.1 includes the conflicted state subgraph", async () => {
    const { r, pl3 } = await subgraphScenario("12");
    expect(r.get(stateMapKey(PL, ""))).toBe(pl3.eventId);
  });
});

describe("resolveState plumbing", () => {
  it("returns the unconflicted state directly and handles trivial inputs", async () => {
    const f = new RoomFixture("10");
    const deps: StateResDeps = { fetchEvents: async () => new Map() };
    expect(await resolveState(f.rv, [], deps)).toEqual(new Map());
    const s = new Map([["k", "$a"]]);
    expect(await resolveState(f.rv, [s], deps)).toEqual(s);
    expect(await resolveState(f.rv, [s, new Map(s)], deps)).toEqual(s);
  });

  it("uses an injected auth chain index and yields to the event loop", async () => {
    const sim = new DagSim("10");
    await sim.initial();
    let chainCalls = 0;
    let yields = 0;
    const base = sim.deps;
    const deps: StateResDeps = {
      ...base,
      authChain: async (ids) => {
        chainCalls++;
        const seen = new Set<string>();
        const stack = [...ids];
        while (stack.length) for (const a of sim.f.events.get(stack.pop()!)?.authEvents ?? []) if (!seen.has(a)) { seen.add(a); stack.push(a); }
        return seen;
      },
      yieldToEventLoop: async () => { yields++; },
    };
    const ima = sim.stateAfter.get(sim.f.id("IMZ"))!;
    await sim.add({ id: "T1", sender: ALICE, type: TOPIC, stateKey: "", content: {} }, ["IMZ"]);
    await sim.add({ id: "T2", sender: BOB, type: TOPIC, stateKey: "", content: {} }, ["IMZ"]);
    const r = await resolveState(sim.f.rv, [sim.stateAfter.get(sim.f.id("T1"))!, sim.stateAfter.get(sim.f.id("T2"))!], deps);
    expect(chainCalls).toBe(2);
    expect(r.size).toBe(ima.size + 1);
  });

  it("accepts a single-event fetch instead of a batch fetch", async () => {
    const sim = new DagSim("11");
    await sim.initial();
    await sim.add({ id: "T1", sender: ALICE, type: TOPIC, stateKey: "", content: {} }, ["IMZ"]);
    await sim.add({ id: "T2", sender: BOB, type: TOPIC, stateKey: "", content: {} }, ["IMZ"]);
    const sets = [sim.stateAfter.get(sim.f.id("T1"))!, sim.stateAfter.get(sim.f.id("T2"))!];
    const viaOne = await resolveState(sim.f.rv, sets, { fetchEvent: async (id) => sim.f.events.get(id) });
    expect(viaOne).toEqual(await resolveState(sim.f.rv, sets, sim.deps));
    expect(viaOne.get(stateMapKey(TOPIC, ""))).toBe(sim.f.id("T1"));
  });

  it("yields to the event loop during long runs", async () => {
    const f = new RoomFixture("10");
    const c = f.create();
    const aj = f.member("aj", ALICE, "join", { auth: ["create"] });
    const pl = f.make({ id: "pl", type: PL, sender: ALICE, stateKey: "", content: { users: { [ALICE]: 100 } }, auth: ["create", "aj"] });
    const jr = f.make({ id: "jr", type: "m.room.join_rules", sender: ALICE, stateKey: "", content: { join_rule: "public" }, auth: ["create", "aj", "pl"] });
    const key = (e: RoomEvent) => stateMapKey(e.type, e.stateKey!);
    const s1 = new Map([c, aj, pl, jr].map((e) => [key(e), e.eventId]));
    const s2 = new Map(s1);
    for (let i = 0; i < 300; i++) {
      const u = `@u${i}:x`;
      const j1 = f.member(`j1-${i}`, u, "join", { auth: ["create", "pl", "jr"] });
      const j2 = f.member(`j2-${i}`, u, "join", { auth: ["create", "pl", "jr"], content: { displayname: "x" } });
      s1.set(key(j1), j1.eventId);
      s2.set(key(j2), j2.eventId);
    }
    let yields = 0;
    const deps: StateResDeps = {
      fetchEvents: async (ids) => new Map(ids.flatMap((id) => (f.events.has(id) ? [[id, f.events.get(id) as RoomEvent] as const] : []))),
      yieldToEventLoop: async () => { yields++; },
    };
    const r = await resolveState(f.rv, [s1, s2], deps);
    expect(r.size).toBe(304);
    expect(yields).toBeGreaterThan(0);
  });
});

describe("state resolution v1", () => {
  it("resolves power levels by depth and auth, other events by depth", async () => {
    const f = new RoomFixture("1");
    const c = f.create();
    const aj = f.member("aj", ALICE, "join", { auth: ["create"], depth: 2 });
    const pl = f.make({ id: "pl", type: PL, sender: ALICE, stateKey: "", content: { users: { [ALICE]: 100 } }, auth: ["create", "aj"], depth: 3 });
    const bj = f.member("bj", BOB, "join", { auth: ["create", "pl"], depth: 4 });
    const pla = f.make({ id: "pla", type: PL, sender: ALICE, stateKey: "", content: { users: { [ALICE]: 100, [BOB]: 50 } }, auth: ["create", "aj", "pl"], depth: 5 });
    const plb = f.make({ id: "plb", type: PL, sender: BOB, stateKey: "", content: { users: { [ALICE]: 100, [BOB]: 100 } }, auth: ["create", "bj", "pl"], depth: 6 });
    const t1 = f.make({ id: "t1", type: TOPIC, sender: ALICE, stateKey: "", auth: ["create", "aj", "pl"], depth: 5 });
    const t2 = f.make({ id: "t2", type: TOPIC, sender: ALICE, stateKey: "", auth: ["create", "aj", "pl"], depth: 7 });
    const deps: StateResDeps = {
      fetchEvents: async (ids) => new Map(ids.flatMap((id) => (f.events.has(id) ? [[id, f.events.get(id) as RoomEvent] as const] : []))),
    };
    const key = (e: RoomEvent) => stateMapKey(e.type, e.stateKey!);
    const r = await resolveState(f.rv, [
      new Map([c, aj, bj, pla, t1].map((e) => [key(e), e.eventId])),
      new Map([c, aj, bj, plb, t2].map((e) => [key(e), e.eventId])),
    ], deps);
    // pla (depth 5) first; plb (bob, 50 under pla) cannot raise himself: stop.
    expect(r.get(key(pl))).toBe(pla.eventId);
    // topics: highest depth that passes auth.
    expect(r.get(key(t1))).toBe(t2.eventId);
  });
});
