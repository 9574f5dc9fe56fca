import { describe, expect, it } from "vitest";
import { emptyChanges, mergePushRules } from "../core/push-rules.js";
import type { NotificationCountsRepo } from "../storage/notification-counts-repo.js";
import { NotificationCounter } from "./notification-counts.js";

const ME = "@me:hs";

function setup() {
  const reads = { rules: 0, joined: 0 };
  let mentionMe = false;
  const repo = {
    eventsAfterReceipt: async (roomIds: readonly string[]) =>
      roomIds.map((room_id, i) => ({
        room_id,
        event_id: `$e${i}`,
        stream_ordering: 10 + i,
        pdu: JSON.stringify({ type: "m.room.message", sender: "@other:hs", room_id, content: { msgtype: "m.text", body: "hello" } }),
      })),
    pushState: async () => [],
    joinedCount: async () => (++reads.joined, 2),
  } as unknown as NotificationCountsRepo;
  const rules = {
    getRuleset: async (userId: string) => {
      reads.rules++;
      const set = mergePushRules(userId, emptyChanges());
      // A later "change" of the rules: a content rule that highlights every message.
      if (mentionMe) set.content.unshift({ rule_id: "all", default: false, enabled: true, pattern: "*", actions: ["notify", { set_tweak: "highlight" }] });
      return set;
    },
  };
  return { counter: new NotificationCounter(repo, rules), reads, changeRules: () => (mentionMe = true) };
}

describe("NotificationCounter", () => {
  it("reads the ruleset once per account-data position and the member count once per room event position", async () => {
    const { counter, reads, changeRules } = setup();
    const first = await counter.counts(ME, ["!a:hs"], 20, 5);
    expect(first.get("!a:hs")).toEqual({ notification_count: 1, highlight_count: 0 });
    await counter.counts(ME, ["!a:hs"], 20, 5);
    expect(reads).toEqual({ rules: 1, joined: 1 });
    // The rules changed: the account-data position moved, the new rules apply at once.
    changeRules();
    expect((await counter.counts(ME, ["!a:hs"], 20, 6)).get("!a:hs")).toEqual({ notification_count: 1, highlight_count: 1 });
    expect(reads).toEqual({ rules: 2, joined: 1 });
    await counter.counts(ME, ["!a:hs"], 21, 6);
    expect(reads).toEqual({ rules: 2, joined: 2 });
    // Without a position the rules are read every time, as before.
    await counter.counts(ME, ["!a:hs"], 21);
    await counter.counts(ME, ["!a:hs"], 21);
    expect(reads.rules).toBe(4);
  });
});
