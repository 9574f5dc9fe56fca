import { describe, expect, it } from "vitest";
import { backfillWalk, missingEventsWalk, type LoadNodes, type WalkNode } from "./dag-walks.js";

/** A graph from "id: prev prev ..." lines; depth is one more than the deepest prev. */
function graph(lines: string[]): { nodes: Map<string, WalkNode>; load: LoadNodes; calls: string[][] } {
  const nodes = new Map<string, WalkNode>();
  let stream = 0;
  for (const line of lines) {
    const [id, rest] = line.split(":") as [string, string];
    const prevEvents = rest.trim() ? rest.trim().split(/\s+/) : [];
    const depth = Math.max(0, ...prevEvents.map((p) => nodes.get(p)?.depth ?? 0)) + 1;
    nodes.set(id, { eventId: id, depth, stream: ++stream, prevEvents });
  }
  const calls: string[][] = [];
  const load: LoadNodes = async (ids) => {
    calls.push([...ids]);
    return new Map(ids.flatMap((id) => (nodes.has(id) ? [[id, nodes.get(id)!] as const] : [])));
  };
  return { nodes, load, calls };
}

const ids = (ns: WalkNode[]) => ns.map((n) => n.eventId);

// A linear history with a fork: c and d both follow b; e merges them.
const forked = ["a:", "b: a", "c: b", "d: b", "e: c d", "f: e", "g: f"];

describe("/backfill walk", () => {
  it("returns the given events and their predecessors, newest first, up to the limit", async () => {
    const { load } = graph(forked);
    expect(ids(await backfillWalk(["g"], 3, load))).toEqual(["g", "f", "e"]);
    // Across the fork: both branches (same depth, later stored first), then their common parent.
    expect(ids(await backfillWalk(["g"], 10, load))).toEqual(["g", "f", "e", "d", "c", "b", "a"]);
    expect(ids(await backfillWalk(["e"], 3, load))).toEqual(["e", "d", "c"]);
  });

  it("several start events: each event once, the walk still newest first", async () => {
    const { load } = graph(forked);
    expect(ids(await backfillWalk(["c", "d"], 10, load))).toEqual(["d", "c", "b", "a"]);
    expect(ids(await backfillWalk(["g", "c"], 4, load))).toEqual(["g", "f", "e", "d"]);
  });

  it("unknown or unservable events are neither returned nor walked through", async () => {
    const { load } = graph(["a:", "b: a", "x: b", "c: x"]);
    const hidden: LoadNodes = async (want) => {
      const m = new Map(await load(want));
      m.delete("x");
      return m;
    };
    expect(ids(await backfillWalk(["c"], 10, hidden))).toEqual(["c"]);
    expect(ids(await backfillWalk(["nope"], 10, load))).toEqual([]);
  });

  it("a limit of 0 returns nothing and reads nothing", async () => {
    const { load, calls } = graph(forked);
    expect(await backfillWalk(["g"], 0, load)).toEqual([]);
    expect(calls).toEqual([]);
  });
});

describe("/get_missing_events walk", () => {
  it("walks back from latest_events, stops at earliest_events, oldest first, latest excluded", async () => {
    const { load } = graph(["a:", "b: a", "c: b", "d: c", "e: d"]);
    expect(ids(await missingEventsWalk({ earliest: ["a"], latest: ["e"], limit: 10, minDepth: 0 }, load))).toEqual(["b", "c", "d"]);
    expect(ids(await missingEventsWalk({ earliest: ["b"], latest: ["e"], limit: 10, minDepth: 0 }, load))).toEqual(["c", "d"]);
  });

  it("the limit keeps the events closest to latest_events", async () => {
    const { load } = graph(["a:", "b: a", "c: b", "d: c", "e: d"]);
    expect(ids(await missingEventsWalk({ earliest: ["a"], latest: ["e"], limit: 2, minDepth: 0 }, load))).toEqual(["c", "d"]);
    expect(ids(await missingEventsWalk({ earliest: ["a"], latest: ["e"], limit: 1, minDepth: 0 }, load))).toEqual(["d"]);
  });

  it("breadth-first over a fork; each event once", async () => {
    const { load } = graph(forked);
    expect(ids(await missingEventsWalk({ earliest: ["b"], latest: ["g"], limit: 10, minDepth: 0 }, load))).toEqual(["c", "d", "e", "f"]);
    // With no earliest events the walk reaches the start of the room.
    expect(ids(await missingEventsWalk({ earliest: [], latest: ["e"], limit: 10, minDepth: 0 }, load))).toEqual(["a", "b", "c", "d"]);
  });

  it("min_depth: shallower events are neither returned nor walked past", async () => {
    const { load, nodes } = graph(["a:", "b: a", "c: b", "d: c", "e: d"]);
    const minDepth = nodes.get("c")!.depth;
    expect(ids(await missingEventsWalk({ earliest: [], latest: ["e"], limit: 10, minDepth }, load))).toEqual(["c", "d"]);
  });

  it("a latest event that is also an earliest one, or unknown, yields nothing", async () => {
    const { load } = graph(["a:", "b: a"]);
    expect(await missingEventsWalk({ earliest: ["b"], latest: ["b"], limit: 10, minDepth: 0 }, load)).toEqual([]);
    expect(await missingEventsWalk({ earliest: [], latest: ["zz"], limit: 10, minDepth: 0 }, load)).toEqual([]);
  });
});
