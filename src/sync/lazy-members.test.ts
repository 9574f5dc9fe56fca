import { describe, expect, it } from "vitest";
import { stateMapKey } from "../core/index.js";
import type { LoadedEvent, StateIds } from "../rooms/event-store.js";
import { LazyMembersSent, lazyMemberIds } from "./lazy-members.js";

/** Only the row fields lazyMemberIds reads. */
function ev(eventId: string, sender: string, type = "m.room.message", stateKey: string | null = null): LoadedEvent {
  return { row: { eventId, sender, type, stateKey } } as unknown as LoadedEvent;
}
const member = (userId: string) => stateMapKey("m.room.member", userId);
const target: StateIds = new Map([
  [member("@a:x"), "$ja"],
  [member("@b:x"), "$jb"],
  [member("@c:x"), "$jc"],
]);

describe("lazyMemberIds", () => {
  it("takes each sender's membership from the state at the timeline's start, plus the extra users", () => {
    const ids = lazyMemberIds({ timeline: [ev("$1", "@b:x"), ev("$2", "@b:x")], target, extra: ["@a:x"], mode: "full", sent: undefined });
    expect(ids.sort()).toEqual(["$ja", "$jb"]);
  });

  it("skips senders whose membership came earlier in the timeline, and what the device was sent", () => {
    const timeline = [ev("$inv", "@a:x", "m.room.member", "@c:x"), ev("$1", "@c:x"), ev("$2", "@b:x")];
    expect(lazyMemberIds({ timeline, target, extra: [], mode: "incremental", sent: new Map([["@b:x", "$jb"]]) })).toEqual(["$ja"]);
    // A changed membership has a new event id, so it is sent again.
    expect(lazyMemberIds({ timeline, target, extra: [], mode: "incremental", sent: new Map([["@b:x", "$old"]]) }).sort()).toEqual(["$ja", "$jb"]);
  });

  it("an incremental sync whose sender starts with their own membership change carries that event", () => {
    const timeline = [ev("$leave", "@c:x", "m.room.member", "@c:x"), ev("$1", "@b:x")];
    expect(lazyMemberIds({ timeline, target, extra: [], mode: "incremental", sent: undefined }).sort()).toEqual(["$jb", "$leave"]);
    expect(lazyMemberIds({ timeline, target, extra: [], mode: "full", sent: undefined }).sort()).toEqual(["$jb", "$jc"]);
  });
});

describe("LazyMembersSent", () => {
  it("remembers per user, device and room, and forgets on reset", () => {
    const sent = new LazyMembersSent();
    sent.record("@a:x", "D1", "!r:x", [["@b:x", "$jb"]]);
    expect(sent.sent("@a:x", "D1", "!r:x").get("@b:x")).toBe("$jb");
    expect(sent.sent("@a:x", "D2", "!r:x").size).toBe(0);
    expect(sent.sent("@a:x", "D1", "!other:x").size).toBe(0);
    sent.reset("@a:x", "D1", "!r:x");
    expect(sent.sent("@a:x", "D1", "!r:x").size).toBe(0);
  });
});
