import { describe, expect, it } from "vitest";
import { stateMapKey } from "../core/index.js";
import type { StateIds } from "../rooms/event-store.js";
import { stateSectionIds } from "./room-state.js";

const state: StateIds = new Map([
  [stateMapKey("m.room.create", ""), "$create"],
  [stateMapKey("m.room.member", "@a:x"), "$ja"],
  [stateMapKey("m.room.member", "@b:x"), "$jb"],
]);

describe("stateSectionIds", () => {
  it("an incremental section over the state the client has is empty, but for the lazy members it needs", () => {
    expect(stateSectionIds({ target: state, since: state, exclude: new Set(), lazyMembers: undefined })).toEqual([]);
    expect(stateSectionIds({ target: state, since: new Map(state), exclude: new Set(), lazyMembers: undefined })).toEqual([]);
    expect(stateSectionIds({ target: state, since: state, exclude: new Set(), lazyMembers: ["$jb"] })).toEqual(["$jb"]);
  });

  it("carries what differs from the client's state, leaving out timeline events", () => {
    const since = new Map(state);
    since.set(stateMapKey("m.room.member", "@b:x"), "$old");
    since.delete(stateMapKey("m.room.create", ""));
    expect(stateSectionIds({ target: state, since, exclude: new Set(), lazyMembers: undefined }).sort()).toEqual(["$create", "$jb"]);
    expect(stateSectionIds({ target: state, since, exclude: new Set(["$jb"]), lazyMembers: undefined })).toEqual(["$create"]);
  });

  it("a full lazy-loading section has the non-member state and only the members asked for", () => {
    expect(stateSectionIds({ target: state, since: undefined, exclude: new Set(), lazyMembers: ["$ja"] })).toEqual(["$create", "$ja"]);
    expect(stateSectionIds({ target: state, since: undefined, exclude: new Set(), lazyMembers: undefined })).toEqual(["$create", "$ja", "$jb"]);
  });
});
