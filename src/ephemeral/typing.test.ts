import { afterEach, describe, expect, it, vi } from "vitest";
import { Notifier } from "../sync/notifier.js";
import { ZERO_TOKEN } from "../sync/tokens.js";
import { MAX_TYPING_TIMEOUT_MS, TypingService } from "./typing.js";

afterEach(() => {
  vi.useRealTimers();
});

describe("TypingService", () => {
  it("reports changes since a position and wakes waiters in the room", async () => {
    const n = new Notifier();
    const t = new TypingService(n);
    const waiting = n.wait({ roomIds: ["!r:x"] }, ZERO_TOKEN, 5_000);
    t.setTyping("!r:x", "@a:x", true, 10_000);
    expect(await waiting).toBe(true);
    const p1 = t.currentPosition;
    t.setTyping("!r:x", "@b:x", true, 10_000);
    expect(t.changesSince(["!r:x", "!other:x"], p1)).toEqual(new Map([["!r:x", { user_ids: ["@a:x", "@b:x"] }]]));
    expect(t.changesSince(["!r:x"], t.currentPosition).size).toBe(0);
    t.setTyping("!r:x", "@a:x", false);
    expect(t.typingIn("!r:x")).toEqual(["@b:x"]);
    t.close();
  });

  it("a refresh while already typing is not a change; stopping twice is not either", () => {
    const t = new TypingService(new Notifier());
    t.setTyping("!r:x", "@a:x", true, 10_000);
    const p = t.currentPosition;
    t.setTyping("!r:x", "@a:x", true, 10_000);
    expect(t.currentPosition).toBe(p);
    t.setTyping("!r:x", "@a:x", false);
    t.setTyping("!r:x", "@a:x", false);
    expect(t.currentPosition).toBe(p + 1);
    t.close();
  });

  it("expires after the timeout, capped at the maximum, and announces the expiry", () => {
    vi.useFakeTimers();
    const t = new TypingService(new Notifier(), { now: () => Date.now() });
    t.setTyping("!r:x", "@a:x", true, 5_000);
    t.setTyping("!r:x", "@b:x", true, 10 * MAX_TYPING_TIMEOUT_MS);
    const before = t.currentPosition;
    vi.advanceTimersByTime(5_001);
    expect(t.typingIn("!r:x")).toEqual(["@b:x"]);
    expect(t.currentPosition).toBe(before + 1);
    vi.advanceTimersByTime(MAX_TYPING_TIMEOUT_MS);
    expect(t.typingIn("!r:x")).toEqual([]);
    t.close();
  });

  it("a token from before a restart (ahead of the current position) gets the full current state", () => {
    const t = new TypingService(new Notifier());
    t.setTyping("!r:x", "@a:x", true, 10_000);
    expect(t.changesSince(["!r:x"], t.currentPosition + 1000)).toEqual(new Map([["!r:x", { user_ids: ["@a:x"] }]]));
    t.close();
  });
});
