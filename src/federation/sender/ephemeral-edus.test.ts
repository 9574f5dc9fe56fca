import { describe, expect, it } from "vitest";
import { EphemeralEduQueue } from "./ephemeral-edus.js";

function queue(ttlMs = 1000, max = 100) {
  const clock = { t: 0 };
  const q = new EphemeralEduQueue({ ttlMs, maxPerDestination: max, now: () => clock.t });
  return { q, clock };
}

const typing = (room: string, user: string, on: boolean) => ({ edu_type: "m.typing", content: { room_id: room, user_id: user, typing: on } });
const presence = (user: string, p: string) => ({ edu_type: "m.presence", content: { push: [{ user_id: user, presence: p }] } });

describe("EphemeralEduQueue", () => {
  it("keeps the latest typing state per room and user, in the order of the latest change", () => {
    const { q } = queue();
    q.push("b", typing("!r", "@a:x", true));
    q.push("b", typing("!r", "@c:x", true));
    q.push("b", typing("!r", "@a:x", false));
    const { edus, more } = q.take("b", 10);
    expect(edus.map((e) => [e.content.user_id, e.content.typing])).toEqual([
      ["@c:x", true],
      ["@a:x", false],
    ]);
    expect(more).toBe(false);
    expect(q.has("b")).toBe(false);
  });

  it("merges presence per user and receipts per room, type and user into one EDU each", () => {
    const { q } = queue();
    q.push("b", presence("@a:x", "online"));
    q.push("b", presence("@b:x", "online"));
    q.push("b", presence("@a:x", "offline"));
    q.push("b", { edu_type: "m.receipt", content: { "!r": { "m.read": { "@a:x": { event_ids: ["$1"], data: { ts: 1 } } } } } });
    q.push("b", {
      edu_type: "m.receipt",
      content: { "!r": { "m.read": { "@a:x": { event_ids: ["$2"], data: { ts: 2 } }, "@b:x": { event_ids: ["$1"], data: { ts: 3 } } } } },
    });
    const { edus } = q.take("b", 10);
    expect(edus).toEqual([
      {
        edu_type: "m.presence",
        content: {
          push: [
            { user_id: "@b:x", presence: "online" },
            { user_id: "@a:x", presence: "offline" },
          ],
        },
      },
      {
        edu_type: "m.receipt",
        content: { "!r": { "m.read": { "@a:x": { event_ids: ["$2"], data: { ts: 2 } }, "@b:x": { event_ids: ["$1"], data: { ts: 3 } } } } },
      },
    ]);
  });

  it("keeps other EDUs as they are, takes at most `limit` and says when more wait", () => {
    const { q } = queue();
    for (let i = 0; i < 5; i++) q.push("b", { edu_type: "x.custom", content: { i } });
    const first = q.take("b", 3);
    expect(first.edus.map((e) => e.content.i)).toEqual([0, 1, 2]);
    expect(first.more).toBe(true);
    expect(q.take("b", 0)).toEqual({ edus: [], more: true });
    expect(q.take("b", 3).edus.map((e) => e.content.i)).toEqual([3, 4]);
    expect(q.take("other", 3)).toEqual({ edus: [], more: false });
  });

  it("drops EDUs older than the ttl and the oldest beyond the cap", () => {
    const { q, clock } = queue(1000, 3);
    q.push("b", typing("!r", "@old:x", true));
    clock.t = 600;
    q.push("b", typing("!r", "@new:x", true));
    clock.t = 1200;
    expect(q.take("b", 10).edus.map((e) => e.content.user_id)).toEqual(["@new:x"]);
    for (let i = 0; i < 5; i++) q.push("b", { edu_type: "x.custom", content: { i } });
    expect(q.take("b", 10).edus.map((e) => e.content.i)).toEqual([2, 3, 4]);
    clock.t = 5000;
    q.push("c", typing("!r", "@a:x", true));
    clock.t = 6001;
    expect(q.has("c")).toBe(false);
  });
});
