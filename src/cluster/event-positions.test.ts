import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { EventPersisted } from "../rooms/event-bus.js";
import type { ClusterBus, ClusterMessage } from "./bus.js";
import { ClusterPositions } from "./event-positions.js";

// The cluster position tracker against a stand-in bus and lock table: what
// readers may see as other processes' notices arrive in any order, as writers
// die, and at start-up.
type Handler = (m: ClusterMessage, fromSelf: boolean) => void;

function setup(opts: { last?: number; held?: number[] } = {}) {
  const handlers = new Map<string, Handler>();
  const sent: Array<Record<string, unknown>> = [];
  const bus = {
    instance: "here",
    on: (k: string, h: Handler) => handlers.set(k, h),
    onReconnect: () => undefined,
    publish: async (_k: string, body: Record<string, unknown>) => void sent.push(body),
    publishIn: async (_tx: unknown, _k: string, bodies: Array<Record<string, unknown>>) => void sent.push(...bodies),
  } as unknown as ClusterBus;
  const held = new Set(opts.held ?? []);
  const published: number[] = [];
  const invalidated: string[] = [];
  const open = ClusterPositions.open({
    bus,
    inFlight: async () => new Set(held),
    lastAllocated: async () => opts.last ?? 0,
    publish: (n) => published.push(n.streamOrdering),
    invalidate: (ids) => invalidated.push(...ids),
    onError: (err) => {
      throw err;
    },
  });
  const ev = (p: number): EventPersisted => ({
    roomId: "!r:x",
    eventId: `$e${p}`,
    streamOrdering: p,
    type: "m.room.message",
    stateKey: undefined,
    sender: "@a:x",
    membership: undefined,
  });
  const remote = (positions: number[], x: string[] = []) =>
    handlers.get("ev")!({ k: "ev", i: "other", p: positions, n: positions.map(ev), x } as unknown as ClusterMessage, false);
  return { open, held, published, invalidated, remote, sent, ev };
}

describe("ClusterPositions", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("advances over another process's positions only in order, whatever order their notices come in", async () => {
    const s = setup({ held: [1, 2, 3] });
    const t = await s.open;
    expect(t.persistedUpTo).toBe(0);
    s.remote([2]);
    s.remote([3]);
    expect(t.persistedUpTo).toBe(0);
    await vi.advanceTimersByTimeAsync(1000);
    // 1 is still locked by its writer: the gap stays.
    expect(t.persistedUpTo).toBe(0);
    s.remote([1]);
    expect(t.persistedUpTo).toBe(3);
    expect(s.published).toEqual([1, 2, 3]);
  });

  it("passes a gap whose writer is gone (no longer locked), and still wakes for a notice that comes late", async () => {
    const s = setup();
    const t = await s.open;
    s.held.add(1);
    s.remote([2]);
    await vi.advanceTimersByTimeAsync(500);
    expect(t.persistedUpTo).toBe(0);
    s.held.delete(1);
    await vi.advanceTimersByTimeAsync(500);
    expect(t.persistedUpTo).toBe(2);
    expect(s.published).toEqual([2]);
    s.remote([1]);
    expect(s.published).toEqual([2, 1]);
    expect(t.persistedUpTo).toBe(2);
  });

  it("mixes its own positions with the others' and announces its own with the commit", async () => {
    const s = setup();
    const t = await s.open;
    let next = 0;
    const mine = await t.allocate(async () => ++next); // 1
    s.remote([2]);
    ++next;
    expect(t.persistedUpTo).toBe(0);
    await t.sealing({} as never, [mine], [s.ev(mine)], ["$redacted", "$e1"]);
    expect(s.sent).toEqual([
      { p: [1], n: [s.ev(1)], x: [] },
      { p: [], n: [], x: ["$redacted"] },
    ]);
    // Many events in one transaction: every notification fits PostgreSQL's payload limit.
    s.sent.length = 0;
    const many = Array.from({ length: 200 }, (_, i) => ({ ...s.ev(100 + i), roomId: `!${"r".repeat(200)}:x`, eventId: `$${"e".repeat(60)}${i}` }));
    await t.sealing(
      {} as never,
      many.map((n) => n.streamOrdering),
      many,
      [],
    );
    expect(s.sent.flatMap((b) => b.p as number[])).toEqual(many.map((n) => n.streamOrdering));
    for (const b of s.sent) expect(JSON.stringify(b).length).toBeLessThan(7000);
    s.sent.length = 0;
    t.commit(mine, s.ev(mine));
    expect(t.persistedUpTo).toBe(2);
    expect(s.published).toEqual([1, 2]);
    // A rolled-back position of this process is a gap nobody waits for.
    const lost = await t.allocate(async () => ++next); // 3
    s.remote([4]);
    t.abandon(lost);
    expect(t.persistedUpTo).toBe(4);
    expect(s.sent.at(-1)).toEqual({ p: [3], n: [], x: [] });
  });

  it("starts where the sequence is, behind the positions other processes are still writing", async () => {
    const s = setup({ last: 10, held: [7, 9] });
    const t = await s.open;
    expect(t.persistedUpTo).toBe(6);
    s.remote([7]);
    expect(t.persistedUpTo).toBe(8);
    s.remote([9], ["$old"]);
    expect(t.persistedUpTo).toBe(10);
    expect(s.published).toEqual([7, 9]);
    expect(s.invalidated).toEqual(["$e7", "$old", "$e9"]);
  });
});
