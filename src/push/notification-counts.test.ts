import { describe, expect, it } from "vitest";
import type { CounterRow } from "../storage/push-actions-repo.js";
import { NotificationCounter } from "./notification-counts.js";

const rows: CounterRow[] = [
  { roomId: "!a:hs", threadId: "main", notificationCount: 2, highlightCount: 1 },
  { roomId: "!a:hs", threadId: "$root", notificationCount: 3, highlightCount: 0 },
  { roomId: "!b:hs", threadId: "$other", notificationCount: 1, highlightCount: 1 },
];

describe("NotificationCounter", () => {
  const counter = new NotificationCounter({ counters: async (_u, roomIds) => rows.filter((r) => roomIds.includes(r.roomId)) });

  it("sums every thread into the room's counts when threads are not asked for", async () => {
    const c = await counter.counts("@me:hs", ["!a:hs", "!b:hs", "!c:hs"]);
    expect(c.get("!a:hs")).toEqual({ notification_count: 5, highlight_count: 1 });
    expect(c.get("!b:hs")).toEqual({ notification_count: 1, highlight_count: 1 });
    expect(c.get("!c:hs")).toEqual({ notification_count: 0, highlight_count: 0 });
  });

  it("partitions per thread with unread_thread_notifications: the room's counts are the main timeline's", async () => {
    const c = await counter.counts("@me:hs", ["!a:hs", "!b:hs"], undefined, undefined, { threads: true });
    expect(c.get("!a:hs")).toEqual({ notification_count: 2, highlight_count: 1, threads: { $root: { notification_count: 3, highlight_count: 0 } } });
    expect(c.get("!b:hs")).toEqual({ notification_count: 0, highlight_count: 0, threads: { $other: { notification_count: 1, highlight_count: 1 } } });
  });
});
