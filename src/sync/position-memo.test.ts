import { describe, expect, it } from "vitest";
import { PositionMemo } from "./position-memo.js";
import { TimelineTailsCache } from "./timeline-tails-cache.js";

describe("PositionMemo", () => {
  it("reuses an answer while the position stands still and reads again once it moves", async () => {
    let pos = 1;
    let reads = 0;
    const memo = new PositionMemo<number>(() => pos);
    const read = async () => ++reads;
    expect(await memo.get("a", read)).toBe(1);
    expect(await memo.get("a", read)).toBe(1);
    expect(await memo.get("b", read)).toBe(2);
    pos = 2;
    expect(await memo.get("a", read)).toBe(3);
    expect(reads).toBe(3);
  });

  it("shares one in-flight read between concurrent callers and forgets failures", async () => {
    let reads = 0;
    const memo = new PositionMemo<number>(() => 7);
    const [x, y] = await Promise.all([memo.get("k", async () => ++reads), memo.get("k", async () => ++reads)]);
    expect([x, y, reads]).toEqual([1, 1, 1]);
    await expect(memo.get("f", () => Promise.reject(new Error("down")))).rejects.toThrow("down");
    await Promise.resolve();
    expect(await memo.get("f", async () => 42)).toBe(42);
  });

  it("keeps at most maxEntries answers", async () => {
    const memo = new PositionMemo<string>(() => 0, 2);
    for (const k of ["a", "b", "c"]) await memo.get(k, async () => k);
    expect(memo.size).toBe(2);
    let reread = false;
    await memo.get("a", async () => ((reread = true), "a"));
    expect(reread).toBe(true);
  });
});

describe("TimelineTailsCache", () => {
  it("shares persisted windows whatever the room order, and reads windows past persistedUpTo directly", async () => {
    let persisted = 10;
    const calls: Array<[readonly string[], number, number, number]> = [];
    const repo = {
      timelineTails: async (roomIds: readonly string[], since: number, upto: number, n: number) => {
        calls.push([roomIds, since, upto, n]);
        return new Map(roomIds.map((r) => [r, [{ roomId: r, eventId: `$${r}${upto}`, streamOrdering: upto }]]));
      },
    };
    const cache = new TimelineTailsCache(repo, () => persisted);
    const a = await cache.timelineTails(["!b", "!a"], 5, 10, 6);
    const b = await cache.timelineTails(["!a", "!b"], 5, 10, 6);
    expect(b).toBe(a);
    expect(calls.length).toBe(1);
    await cache.timelineTails(["!a", "!b"], 5, 10, 11);
    await cache.timelineTails(["!a", "!b"], 4, 10, 6);
    expect(calls.length).toBe(3);
    await cache.timelineTails(["!a"], 5, 12, 6);
    await cache.timelineTails(["!a"], 5, 12, 6);
    expect(calls.length).toBe(5);
    persisted = 12;
    await cache.timelineTails(["!a"], 5, 12, 6);
    await cache.timelineTails(["!a"], 5, 12, 6);
    expect(calls.length).toBe(6);
  });
});
