/**
 * Builds a small room DAG for state-resolution tests: each event's state
 * before is the resolution of its prev events' states after, and its
 * auth_events are picked from that state by the selection rules, as a real
 * server would. Edge lists read like the classic state-res test suites:
 * ["END", "B", "A", "START"] means END's prev is B, B's prev is A, ...
 */
import { authEventsFor } from "../../src/core/auth/auth-events-selection.js";
import type { RoomEvent } from "../../src/core/events/pdu.js";
import { EventStateMap, stateMapKey, type StateMapKey } from "../../src/core/events/state-map.js";
import { resolveState } from "../../src/core/state-res/index.js";
import type { StateMap, StateResDeps } from "../../src/core/state-res/types.js";
import type { JsonObject } from "../../src/core/json.js";
import { RoomFixture } from "./room-fixture.js";

export const ALICE = "@alice:a";
export const BOB = "@bob:b";
export const CHARLIE = "@charlie:c";
export const EVELYN = "@evelyn:e";
export const ZARA = "@zara:z";

export interface SimEvent {
  readonly id: string;
  readonly sender: string;
  readonly type: string;
  readonly stateKey?: string;
  readonly content?: JsonObject;
  readonly ts?: number;
}

export class DagSim {
  readonly f: RoomFixture;
  readonly stateAfter = new Map<string, Map<StateMapKey, string>>();
  private ts = 0;

  constructor(version: string) {
    this.f = new RoomFixture(version);
  }

  get deps(): StateResDeps {
    return {
      fetchEvents: async (ids) => {
        const out = new Map<string, RoomEvent>();
        for (const id of ids) {
          const e = this.f.events.get(id);
          if (e !== undefined) out.set(id, e);
        }
        return out;
      },
    };
  }

  async resolve(stateSets: StateMap[]): Promise<Map<StateMapKey, string>> {
    return resolveState(this.f.rv, stateSets, this.deps);
  }

  async add(spec: SimEvent, prevs: readonly string[]): Promise<RoomEvent> {
    const prevIds = prevs.map((p) => this.f.id(p));
    const before = prevIds.length === 0 ? new Map<StateMapKey, string>() : await this.resolve(prevIds.map((p) => this.stateAfter.get(p)!));
    const beforeEvents = new EventStateMap([...before.values()].map((id) => this.f.events.get(id)!));
    const skeleton = { type: spec.type, sender: spec.sender, stateKey: spec.stateKey, content: spec.content ?? {} };
    const auth = authEventsFor(skeleton, beforeEvents, this.f.rv);
    const ev = this.f.make({
      id: spec.id,
      type: spec.type,
      sender: spec.sender,
      stateKey: spec.stateKey,
      content: spec.content ?? {},
      auth,
      prev: prevIds,
      ts: spec.ts ?? ++this.ts,
    });
    const after = new Map(before);
    if (ev.stateKey !== undefined) after.set(stateMapKey(ev.type, ev.stateKey), ev.eventId);
    this.stateAfter.set(ev.eventId, after);
    return ev;
  }

  /** The classic initial room: create, alice join, power levels, public join rules, bob and charlie join. */
  async initial(plUsers: JsonObject = { [ALICE]: 100 }): Promise<void> {
    const c: JsonObject = { room_version: this.f.rv.id };
    if (!this.f.rv.creatorIsSender) c.creator = ALICE;
    await this.add({ id: "create", sender: ALICE, type: "m.room.create", stateKey: "", content: c }, []);
    await this.add({ id: "IMA", sender: ALICE, type: "m.room.member", stateKey: ALICE, content: { membership: "join" } }, ["create"]);
    const users = { ...plUsers };
    if (this.f.rv.creatorsHaveInfinitePower) delete users[ALICE];
    await this.add({ id: "IPOWER", sender: ALICE, type: "m.room.power_levels", stateKey: "", content: { users } }, ["IMA"]);
    await this.add({ id: "IJR", sender: ALICE, type: "m.room.join_rules", stateKey: "", content: { join_rule: "public" } }, ["IPOWER"]);
    await this.add({ id: "IMB", sender: BOB, type: "m.room.member", stateKey: BOB, content: { membership: "join" } }, ["IJR"]);
    await this.add({ id: "IMC", sender: CHARLIE, type: "m.room.member", stateKey: CHARLIE, content: { membership: "join" } }, ["IMB"]);
    await this.add({ id: "IMZ", sender: ZARA, type: "m.room.member", stateKey: ZARA, content: { membership: "join" } }, ["IMC"]);
  }

  /**
   * Adds events following the edge lists (each read END <- ... <- START,
   * START meaning the last initial event) and returns the resolved state
   * at a virtual END event (the resolution of its prevs' states).
   */
  async run(events: readonly SimEvent[], edges: readonly (readonly string[])[]): Promise<Map<StateMapKey, string>> {
    const prevs = new Map<string, Set<string>>();
    for (const chain of edges) {
      for (let i = 0; i < chain.length - 1; i++) {
        const child = chain[i];
        const parent = chain[i + 1] === "START" ? "IMZ" : chain[i + 1];
        if (!prevs.has(child)) prevs.set(child, new Set());
        prevs.get(child)!.add(parent);
      }
    }
    const added = new Set<string>(["IMZ"]);
    const byId = new Map(events.map((e) => [e.id, e]));
    // Add events in creation order once their prevs exist (creation order sets timestamps).
    let progress = true;
    while (progress) {
      progress = false;
      for (const e of events) {
        if (added.has(e.id)) continue;
        const ps = [...(prevs.get(e.id) ?? [])];
        if (ps.every((p) => added.has(p))) {
          await this.add(byId.get(e.id)!, ps);
          added.add(e.id);
          progress = true;
        }
      }
    }
    const endPrevs = [...(prevs.get("END") ?? [])].map((p) => this.f.id(p));
    return this.resolve(endPrevs.map((p) => this.stateAfter.get(p)!));
  }

  /** Resolved state projected to short names, for readable assertions. */
  names(state: ReadonlyMap<StateMapKey, string>): Set<string> {
    return new Set([...state.values()].map((id) => id.replace(/^\$/, "").replace(/:a$/, "")));
  }
}
