import { describe, expect, it } from "vitest";
import type { EventPersisted } from "./event-bus.js";
import { StreamPositions } from "./stream-positions.js";

const note = (p: number): EventPersisted => ({
  roomId: "!r:x",
  eventId: `$${p}`,
  streamOrdering: p,
  type: "m.room.message",
  stateKey: undefined,
  sender: "@a:x",
  membership: undefined,
});

describe("StreamPositions", () => {
  it("never exposes N+1 before N is committed, and publishes in order", async () => {
    let seq = 10;
    const published: number[] = [];
    const sp = new StreamPositions(10, (n) => published.push(n.streamOrdering));
    const next = async () => ++seq;
    const [a, b, c] = await Promise.all([sp.allocate(next), sp.allocate(next), sp.allocate(next)]);
    expect([a, b, c]).toEqual([11, 12, 13]);
    sp.commit(c!, note(c!));
    sp.commit(b!, note(b!));
    expect(sp.persistedUpTo).toBe(10);
    expect(published).toEqual([]);
    sp.commit(a!, note(a!));
    expect(sp.persistedUpTo).toBe(13);
    expect(published).toEqual([11, 12, 13]);
  });

  it("treats rolled-back positions as gaps that do not block readers", async () => {
    let seq = 0;
    const published: number[] = [];
    const sp = new StreamPositions(0, (n) => published.push(n.streamOrdering));
    const next = async () => ++seq;
    const a = await sp.allocate(next);
    const b = await sp.allocate(next);
    sp.commit(b, note(b));
    expect(sp.persistedUpTo).toBe(0);
    sp.abandon(a);
    expect(sp.persistedUpTo).toBe(2);
    expect(published).toEqual([2]);
  });

  it("registers a position before a later allocation can start", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let seq = 0;
    const sp = new StreamPositions(0, () => {});
    const first = sp.allocate(async () => {
      await gate;
      return ++seq;
    });
    const second = sp.allocate(async () => ++seq);
    release();
    const [p1, p2] = await Promise.all([first, second]);
    expect([p1, p2]).toEqual([1, 2]);
    sp.commit(p2, note(p2));
    expect(sp.persistedUpTo).toBe(0);
  });
});
