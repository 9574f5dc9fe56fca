import { describe, expect, it } from "vitest";
import { Notifier } from "./notifier.js";
import { formatStreamToken, parseStreamToken, withPosition, ZERO_TOKEN, isAheadOf } from "./tokens.js";

describe("stream tokens", () => {
  it("round-trip", () => {
    const t = { ...ZERO_TOKEN, events: 42, typing: 3, to_device: 900 };
    expect(parseStreamToken(formatStreamToken(t))).toEqual(t);
  });

  it("reject foreign and garbage tokens with 400 M_INVALID_PARAM", () => {
    for (const bad of ["", "garbage", "s72594_4483_1934", "t12-34", "s1_1_2_3", "s1_1_2_3_4_5_6_x", "s1_-1_0_0_0_0_0_0", "s1_1e3_0_0_0_0_0_0"]) {
      expect(() => parseStreamToken(bad)).toThrow(expect.objectContaining({ status: 400, errcode: "M_INVALID_PARAM" }));
    }
  });

  it("compare stream-wise", () => {
    expect(isAheadOf(withPosition(ZERO_TOKEN, "receipts", 1), ZERO_TOKEN)).toBe(true);
    expect(isAheadOf(ZERO_TOKEN, withPosition(ZERO_TOKEN, "receipts", 1))).toBe(false);
  });
});

describe("Notifier", () => {
  it("wakes a waiter on a change to one of its rooms, not on other rooms", async () => {
    const n = new Notifier();
    let woken: boolean | undefined;
    const p = n.wait({ userIds: ["@a:x"], roomIds: ["!r1:x"] }, ZERO_TOKEN, 5_000).then((w) => (woken = w));
    n.notify("events", 1, { roomIds: ["!other:x"] });
    await Promise.resolve();
    expect(woken).toBeUndefined();
    n.notify("events", 2, { roomIds: ["!r1:x"] });
    await p;
    expect(woken).toBe(true);
    expect(n.waitingCount).toBe(0);
  });

  it("returns at once when a change already happened after the token (the assembly race)", async () => {
    const n = new Notifier();
    const since = withPosition(ZERO_TOKEN, "events", 5);
    n.notify("events", 6, { roomIds: ["!r:x"] }); // announced while the previous response was being built
    const t = Date.now();
    expect(await n.wait({ roomIds: ["!r:x"] }, since, 10_000)).toBe(true);
    expect(Date.now() - t).toBeLessThan(1000);
  });

  it("does not wake for positions the waiter already has", async () => {
    const n = new Notifier();
    n.notify("typing", 3, { roomIds: ["!r:x"] });
    const since = withPosition(ZERO_TOKEN, "typing", 3);
    expect(await n.wait({ roomIds: ["!r:x"] }, since, 30)).toBe(false);
  });

  it("wakes on user-addressed streams (to-device, account data)", async () => {
    const n = new Notifier();
    const p = n.wait({ userIds: ["@a:x"] }, ZERO_TOKEN, 5_000);
    n.notify("to_device", 1, { userIds: ["@b:x"] });
    n.notify("to_device", 2, { userIds: ["@a:x"] });
    expect(await p).toBe(true);
  });

  it("times out with false and frees the waiter", async () => {
    const n = new Notifier();
    expect(await n.wait({ userIds: ["@a:x"] }, ZERO_TOKEN, 20)).toBe(false);
    expect(n.waitingCount).toBe(0);
  });

  it("an aborted request (client gone) frees its waiter at once", async () => {
    const n = new Notifier();
    const ac = new AbortController();
    const p = n.wait({ userIds: ["@a:x"], roomIds: ["!r:x"] }, ZERO_TOKEN, 60_000, ac.signal);
    expect(n.waitingCount).toBe(1);
    ac.abort();
    expect(await p).toBe(false);
    expect(n.waitingCount).toBe(0);
  });

  it("wakes every waiter in a room once", async () => {
    const n = new Notifier();
    const ps = Array.from({ length: 200 }, (_, i) => n.wait({ userIds: [`@u${i}:x`], roomIds: ["!big:x"] }, ZERO_TOKEN, 5_000));
    expect(n.waitingCount).toBe(200);
    n.notify("events", 1, { roomIds: ["!big:x"], userIds: ["@u1:x"] });
    expect(await Promise.all(ps)).toEqual(Array(200).fill(true));
    expect(n.waitingCount).toBe(0);
  });

  it("tracks each stream's head from seeds and announcements, never moving back", () => {
    const n = new Notifier();
    expect(n.head("receipts")).toBe(0);
    n.seed("receipts", 10);
    n.notify("receipts", 12, { roomIds: ["!r:x"] });
    n.notify("receipts", 11, { roomIds: ["!r:x"] }); // announcements may arrive out of order
    n.seed("receipts", 5);
    expect(n.head("receipts")).toBe(12);
    expect(n.head("presence")).toBe(0);
  });
});
