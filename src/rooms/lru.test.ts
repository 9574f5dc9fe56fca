import { describe, expect, it } from "vitest";
import { Lru } from "./lru.js";

describe("Lru", () => {
  it("evicts the least recently used entry past its capacity", () => {
    const c = new Lru<string, number>(2);
    c.set("a", 1);
    c.set("b", 2);
    expect(c.get("a")).toBe(1);
    c.set("c", 3);
    expect(c.get("b")).toBeUndefined();
    expect(c.get("a")).toBe(1);
    expect(c.get("c")).toBe(3);
  });

  it("with a weight limit, evicts the oldest entries until the total fits, keeping the newest", () => {
    const c = new Lru<string, number[]>(100, { weigh: (v) => v.length, maxWeight: 10 });
    c.set("a", new Array(4).fill(0));
    c.set("b", new Array(4).fill(0));
    c.set("c", new Array(4).fill(0));
    expect(c.get("a")).toBeUndefined();
    expect(c.size).toBe(2);
    // Replacing an entry counts only its new weight.
    c.set("b", new Array(6).fill(0));
    expect(c.get("c")).toBeDefined();
    expect(c.size).toBe(2);
    c.set("huge", new Array(50).fill(0));
    expect(c.size).toBe(1);
    expect(c.get("huge")).toHaveLength(50);
    c.delete("huge");
    c.set("d", new Array(10).fill(0));
    expect(c.size).toBe(1);
  });
});
