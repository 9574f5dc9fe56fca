import { describe, expect, it } from "vitest";
import { stateMapKey } from "../../core/index.js";
import { configKeys, expands, parseRequiredState, selectState, selectsKey } from "./required-state.js";

const ME = "@me:x";
const state = new Map([
  [stateMapKey("m.room.create", ""), "$create"],
  [stateMapKey("m.room.name", ""), "$name"],
  [stateMapKey("m.room.member", ME), "$me"],
  [stateMapKey("m.room.member", "@a:x"), "$a"],
  [stateMapKey("m.room.member", "@b:x"), "$b"],
  [stateMapKey("org.x", "k"), "$xk"],
]);
const ids = (keys: string[]) => keys.map((k) => state.get(k)).sort();

describe("required_state", () => {
  it("pairs: exact entries, $ME, and wildcards", () => {
    expect(
      ids(
        selectState(
          [
            parseRequiredState(
              [
                ["m.room.create", ""],
                ["m.room.member", "$ME"],
              ],
              ME,
            ),
          ],
          state,
          new Set(),
        ),
      ),
    ).toEqual(["$create", "$me"]);
    expect(ids(selectState([parseRequiredState([["m.room.member", "*"]], ME)], state, new Set()))).toEqual(["$a", "$b", "$me"]);
    expect(ids(selectState([parseRequiredState([["*", "k"]], ME)], state, new Set()))).toEqual(["$xk"]);
    expect(selectState([parseRequiredState([["*", "*"]], ME)], state, new Set()).length).toBe(6);
    expect(selectState([parseRequiredState([], ME)], state, new Set())).toEqual([]);
  });

  it("$LAZY returns only the members needed, with a wildcard for the rest of the state", () => {
    const cfg = parseRequiredState(
      [
        ["*", "*"],
        ["m.room.member", "$LAZY"],
      ],
      ME,
    );
    expect(cfg.lazyMembers).toBe(true);
    expect(ids(selectState([cfg], state, new Set(["@a:x"])))).toEqual(["$a", "$create", "$name", "$xk"]);
    // An explicit member entry is kept alongside lazy loading.
    const withMe = parseRequiredState(
      [
        ["m.room.member", "$LAZY"],
        ["m.room.member", "$ME"],
      ],
      ME,
    );
    expect(ids(selectState([withMe], state, new Set(["@b:x"])))).toEqual(["$b", "$me"]);
  });

  it("the proposal's include / exclude / lazy_members form", () => {
    const cfg = parseRequiredState({ include: [{}], exclude: [{ type: "m.room.member" }] }, ME);
    expect(ids(selectState([cfg], state, new Set()))).toEqual(["$create", "$name", "$xk"]);
    const lazy = parseRequiredState({ include: [{ type: "m.room.create", state_key: "" }], lazy_members: true }, ME);
    // Lazy members are not subject to exclude, and come with the included entries.
    expect(ids(selectState([lazy], state, new Set(["@a:x"])))).toEqual(["$a", "$create"]);
  });

  it("combines configs as a union, and notices expansions only", () => {
    const a = parseRequiredState([["m.room.create", ""]], ME);
    const b = parseRequiredState([["m.room.name", ""]], ME);
    expect(ids(selectState([a, b], state, new Set()))).toEqual(["$create", "$name"]);
    expect(selectsKey([a, b], stateMapKey("m.room.name", ""), new Set())).toBe(true);
    expect(selectsKey([a], stateMapKey("m.room.name", ""), new Set())).toBe(false);
    const both = configKeys([a, b]);
    expect(expands(configKeys([a]), both)).toBe(false);
    expect(expands(both, configKeys([a]))).toBe(true);
    expect(configKeys([b, a])).toEqual(both);
  });
});
