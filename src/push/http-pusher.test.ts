import { describe, expect, it } from "vitest";
import type { PushActionRow } from "../storage/push-actions-repo.js";
import type { PusherRow } from "../storage/push-rules-repo.js";
import { HttpPusherKind, tweaksOf } from "./http-pusher.js";

const NOW = 10_000_000;
const pusher: PusherRow = {
  id: 7,
  user_id: "@me:hs",
  app_id: "app",
  pushkey: "pk",
  kind: "http",
  app_display_name: "A",
  device_display_name: "D",
  profile_tag: null,
  lang: "en",
  data: { url: "https://gw.example/_matrix/push/v1/notify" },
  created_ts: 5_000_000,
  device_id: null,
};

function kind(actions: PushActionRow[], unread: number) {
  const sent: unknown[] = [];
  const k = new HttpPusherKind({
    pushers: { getPusherById: async (id) => (id === 7 ? pusher : undefined) },
    actions: {
      actionsIn: async (_u, after, upTo) => actions.filter((a) => a.streamOrdering > after && a.streamOrdering <= upTo),
      unreadTotal: async () => unread,
      unreadOfType: async () => 0,
      currentState: async () => [],
    },
    getEvent: async () => ({ type: "m.room.message", sender: "@o:hs", stateKey: undefined, content: { body: "x" }, redacted: false }),
    gateway: { notify: async (_url, body) => (sent.push(body), { status: 200, rejected: [] }) },
    onRejected: () => undefined,
    now: () => NOW,
    maxAgeMs: 60_000,
  });
  return { k, sent };
}

const action = (so: number, ts: number): PushActionRow => ({
  userId: "@me:hs",
  eventId: `$e${so}`,
  roomId: "!r:hs",
  threadId: "main",
  streamOrdering: so,
  highlight: false,
  actions: ["notify"],
  ts,
});
const ref = (so: number) => ({ streamOrdering: so, eventId: `$e${so}`, roomId: "!r:hs", type: "m.room.message", stateKey: null, sender: "@o:hs" });

describe("HttpPusherKind", () => {
  it("covers one notifying event per transaction and drops events older than the cap", async () => {
    const { k } = kind([action(3, NOW - 120_000), action(5, NOW - 10)], 2);
    const events = [1, 2, 3, 4, 5, 6].map(ref);
    const old = await k.prepare("7", events, { badge: 0 });
    expect(old).toEqual({ payload: undefined, cursor: { badge: 0 }, through: 3 });
    const fresh = await k.prepare("7", events.slice(3), { badge: 0 });
    expect(fresh.through).toBe(5);
    expect(fresh.cursor).toEqual({ badge: 2 });
    expect((fresh.payload as { notification: { event_id: string } }).notification.event_id).toBe("$e5");
  });

  it("a higher unread count with no notifying event yet sends nothing: the event's own request carries it", async () => {
    const { k } = kind([], 2);
    k.markBadgeStale("7");
    expect(await k.prepare("7", [], { badge: 0 })).toEqual({ payload: undefined, cursor: { badge: 0 } });
  });

  it("sends a counts-only update when the unread count dropped, nothing when it did not", async () => {
    const { k } = kind([], 0);
    k.markBadgeStale("7");
    expect(await k.prepare("7", [], { badge: 0 })).toEqual({ payload: undefined, cursor: { badge: 0 } });
    // Without a receipt since, the unread total is not even read.
    expect(await k.prepare("7", [], { badge: 3 })).toEqual({ payload: undefined, cursor: { badge: 3 } });
    k.markBadgeStale("7");
    const badge = await k.prepare("7", [], { badge: 3 });
    expect(badge.cursor).toEqual({ badge: 0 });
    expect((badge.payload as { notification: unknown }).notification).toEqual({ counts: { unread: 0 } });
  });

  it("does not send a persisted notification that aged past the cap; strips url from data", async () => {
    const { k, sent } = kind([], 0);
    await k.send("7", "1", { ts: NOW - 120_000, notification: { event_id: "$old" }, tweaks: {} }, new AbortController().signal);
    expect(sent).toEqual([]);
    await k.send("7", "2", { ts: NOW, notification: { event_id: "$new" }, tweaks: { sound: "default" } }, new AbortController().signal);
    expect(sent).toEqual([
      { notification: { event_id: "$new", devices: [{ app_id: "app", pushkey: "pk", pushkey_ts: 5000, data: {}, tweaks: { sound: "default" } }] } },
    ]);
  });

  it("reads tweaks from actions: a highlight without a value is true", () => {
    expect(tweaksOf(["notify", { set_tweak: "sound", value: "ring" }, { set_tweak: "highlight" }, { set_tweak: "x", value: 1 }])).toEqual({
      sound: "ring",
      highlight: true,
      x: 1,
    });
    expect(tweaksOf(["notify", { set_tweak: "highlight", value: false }])).toEqual({ highlight: false });
  });
});
