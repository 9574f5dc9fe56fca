import { describe, expect, it } from "vitest";
import { stateMapKey, type JsonObject } from "../core/index.js";
import type { LoadedEvent } from "../rooms/event-store.js";
import { ServerVisibility } from "./server-visibility.js";

// State groups as plain data: group id -> (key -> content). Event ids are the keys.
type Groups = Record<number, Array<[type: string, stateKey: string, content: JsonObject]>>;

function store(groups: Groups) {
  const contents = new Map<string, JsonObject>();
  const maps = new Map<number, Map<string, string>>();
  for (const [g, entries] of Object.entries(groups)) {
    const m = new Map<string, string>();
    for (const [type, sk, content] of entries) {
      const id = `$${g}-${type}-${sk}`;
      contents.set(id, content);
      m.set(stateMapKey(type, sk), id);
    }
    maps.set(Number(g), m);
  }
  return {
    stateGroup: async (g: number | null) => maps.get(g ?? -1) ?? new Map(),
    stateEvents: async (state: ReadonlyMap<string, string>, keys?: readonly string[]) => {
      const out = new Map<string, LoadedEvent>();
      for (const k of keys ?? [...state.keys()]) {
        const id = state.get(k);
        if (id) out.set(k, { event: { content: contents.get(id)! } } as unknown as LoadedEvent);
      }
      return out;
    },
  };
}

function ev(type: string, stateBefore: number, opts: { stateKey?: string; stateAfter?: number } = {}): LoadedEvent {
  return { row: { type, stateKey: opts.stateKey ?? null, stateBefore, stateAfter: opts.stateAfter ?? stateBefore } } as unknown as LoadedEvent;
}

const hv = (v: string): [string, string, JsonObject] => ["m.room.history_visibility", "", { history_visibility: v }];
const member = (user: string, membership: string): [string, string, JsonObject] => ["m.room.member", user, { membership }];

describe("history visibility for another server", () => {
  const vis = new ServerVisibility(
    store({
      1: [hv("joined"), member("@a:here", "join")],
      2: [hv("joined"), member("@a:here", "join"), member("@b:there", "join")],
      3: [hv("invited"), member("@b:there", "invite")],
      4: [hv("shared")],
      5: [hv("world_readable")],
      6: [hv("invited"), member("@b:there.example", "join"), member("@c:there", "leave")],
      7: [hv("nonsense")],
    }),
  );

  it("joined: only events from when one of the server's users was joined", async () => {
    expect(await vis.visible("there", [ev("m.room.message", 1), ev("m.room.message", 2)], true)).toEqual([false, true]);
  });

  it("invited: also events from when one of its users was invited", async () => {
    expect(await vis.visible("there", [ev("m.room.message", 3)], false)).toEqual([true]);
    // Another server's users do not count, nor a user of a server whose name only ends the same.
    expect(await vis.visible("there", [ev("m.room.message", 6)], true)).toEqual([false]);
    expect(await vis.visible("here", [ev("m.room.message", 3)], true)).toEqual([false]);
  });

  it("shared: visible to a server in the room now; unknown values count as shared", async () => {
    expect(await vis.visible("there", [ev("m.room.message", 4), ev("m.room.message", 7)], true)).toEqual([true, true]);
    expect(await vis.visible("there", [ev("m.room.message", 4), ev("m.room.message", 7)], false)).toEqual([false, false]);
  });

  it("world_readable: visible to any server", async () => {
    expect(await vis.visible("elsewhere", [ev("m.room.message", 5)], false)).toEqual([true]);
  });

  it("a history_visibility event counts the visibility before or after it", async () => {
    expect(await vis.visible("elsewhere", [ev("m.room.history_visibility", 1, { stateKey: "", stateAfter: 5 })], false)).toEqual([true]);
    expect(await vis.visible("elsewhere", [ev("m.room.history_visibility", 5, { stateKey: "", stateAfter: 1 })], false)).toEqual([true]);
    expect(await vis.visible("elsewhere", [ev("m.room.history_visibility", 1, { stateKey: "" })], false)).toEqual([false]);
  });

  it("an erased sender's events are hidden unless one of the server's users was joined then", async () => {
    const erased = new Set(["@gone:here"]);
    const e = (group: number) => ({ ...ev("m.room.message", group), row: { ...ev("m.room.message", group).row, sender: "@gone:here" } }) as LoadedEvent;
    expect(await vis.visible("there", [e(5), e(2)], true, erased)).toEqual([false, true]);
    expect(await vis.visible("there", [e(5)], true)).toEqual([true]);
  });

  it("a server always sees its own users' membership events", async () => {
    expect(await vis.visible("there", [ev("m.room.member", 1, { stateKey: "@b:there" }), ev("m.room.member", 1, { stateKey: "@x:other" })], false)).toEqual([
      true,
      false,
    ]);
  });
});
