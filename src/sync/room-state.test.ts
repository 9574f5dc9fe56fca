import { describe, expect, it } from "vitest";
import { stateMapKey } from "../core/index.js";
import type { StateIds } from "../rooms/event-store.js";
import { stateSectionIds } from "./room-state.js";

const member = (u: string) => stateMapKey("m.room.member", u);

function bigState(n: number): Map<ReturnType<typeof stateMapKey>, string> {
  const s = new Map([[stateMapKey("m.room.create", ""), "$create"]]);
  for (let i = 0; i < n; i++) s.set(member(`@u${i}:hs`), `$join${i}`);
  return s;
}

/** A state whose walk fails the test: proves a section was computed without it. */
function unwalkable(state: Map<ReturnType<typeof stateMapKey>, string>): StateIds {
  const m = new Map(state);
  m[Symbol.iterator] = () => {
    throw new Error("the state was walked");
  };
  return m;
}

describe("stateSectionIds", () => {
  it("an incremental section over the same state is empty without walking the state", () => {
    const state = unwalkable(bigState(1000));
    expect(stateSectionIds({ target: state, since: state, exclude: new Set(), lazyMembers: undefined })).toEqual([]);
  });

  it("keeps the lazy members the timeline needs over the same state", () => {
    const state = unwalkable(bigState(1000));
    expect(stateSectionIds({ target: state, since: state, exclude: new Set(), lazyMembers: ["$join7"] })).toEqual(["$join7"]);
  });

  it("an incremental section between different states holds what changed", () => {
    const since = bigState(10);
    const target = new Map(since);
    target.set(member("@new:hs"), "$joinNew");
    target.set(member("@u3:hs"), "$leave3");
    expect(stateSectionIds({ target, since, exclude: new Set(), lazyMembers: undefined }).sort()).toEqual(["$joinNew", "$leave3"]);
    // Equal states held in different objects give the same (empty) answer by walking.
    expect(stateSectionIds({ target: new Map(since), since, exclude: new Set(), lazyMembers: undefined })).toEqual([]);
  });

  it("a full section with lazy members leaves out member events the client does not need", () => {
    const target = bigState(5);
    expect(stateSectionIds({ target, since: undefined, exclude: new Set(), lazyMembers: ["$join2"] })).toEqual(["$create", "$join2"]);
  });
});
