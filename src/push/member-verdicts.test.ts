import { describe, expect, it } from "vitest";
import { emptyChanges, evaluatePushRules, mergePushRules, putCustomRule, type PushAction, type PushEvent, type PushRuleChanges } from "../core/push-rules.js";
import { type MemberRules, memberVerdicts, splitVerdicts } from "./member-verdicts.js";

const ROOM = "!big:hs";
const SENDER = "@sender:hs";

const mentionsOnly: PushRuleChanges = { custom: {}, defaults: { ".m.rule.message": { actions: [] } } };
const byName = putCustomRule(
  emptyChanges(),
  "override",
  { rule_id: "name", conditions: [{ kind: "contains_display_name" }], actions: ["notify", { set_tweak: "highlight" }] },
  {},
);
const wordRule = putCustomRule(emptyChanges(), "content", { rule_id: "word", pattern: "deploy", actions: ["notify"] }, {});

function member(userId: string, changes: PushRuleChanges | null, displayName: string | null = null): MemberRules {
  return { userId, changes: changes === null ? null : JSON.stringify(changes), displayName };
}

// Many members with no changes, a few with each kind of change, and ids that
// events below name in different ways.
const members: MemberRules[] = [
  ...Array.from({ length: 50 }, (_, i) => member(`@u${i}:hs`, null)),
  member("@alice:hs", null),
  member("@Bob:hs", null),
  member("@quiet:hs", mentionsOnly),
  member("@quiet2:hs", mentionsOnly),
  member("@carol:hs", byName, "Carol"),
  member("@dave:hs", byName, "Dave"),
  member("@eve:hs", wordRule),
  member("@wild*:hs", null),
  member("@q?:hs", null),
];

const events: PushEvent[] = [
  { type: "m.room.message", sender: SENDER, room_id: ROOM, content: { msgtype: "m.text", body: "hello" } },
  {
    type: "m.room.message",
    sender: SENDER,
    room_id: ROOM,
    content: { msgtype: "m.text", body: "hi alice", "m.mentions": { user_ids: ["@alice:hs", "@u3:hs"] } },
  },
  { type: "m.room.message", sender: SENDER, room_id: ROOM, content: { msgtype: "m.text", body: "hi", "m.mentions": { user_ids: ["@quiet:hs"] } } },
  { type: "m.room.message", sender: SENDER, room_id: ROOM, content: { msgtype: "m.text", body: "ping Carol about the deploy" } },
  { type: "m.room.message", sender: SENDER, room_id: ROOM, content: { msgtype: "m.notice", body: "bot" } },
  { type: "m.room.message", sender: SENDER, room_id: ROOM, content: { msgtype: "m.text", body: "all", "m.mentions": { room: true } } },
  // event_match is case-insensitive: this invite is for @Bob:hs.
  { type: "m.room.member", sender: SENDER, room_id: ROOM, state_key: "@bob:HS", content: { membership: "invite" } },
  { type: "m.room.member", sender: SENDER, room_id: ROOM, state_key: "@u7:hs", content: { membership: "invite" } },
  // A wildcard in a user id matches other state keys as a pattern.
  { type: "m.room.member", sender: SENDER, room_id: ROOM, state_key: "@wildcard:hs", content: { membership: "invite" } },
  { type: "m.room.member", sender: SENDER, room_id: ROOM, state_key: "@qx:hs", content: { membership: "invite" } },
  { type: "m.reaction", sender: SENDER, room_id: ROOM, content: {} },
];

const shared = { roomMemberCount: members.length + 1, senderPowerLevel: 100, notificationPowerLevels: { room: 50 } };

function oneByOne(event: PushEvent) {
  return new Map(
    members.map((m) => [
      m.userId,
      evaluatePushRules(
        event,
        { ...shared, userId: m.userId, displayName: m.displayName },
        mergePushRules(m.userId, m.changes === null ? emptyChanges() : JSON.parse(m.changes)),
      ),
    ]),
  );
}

describe("memberVerdicts", () => {
  it("gives every member the verdict their own evaluation gives", () => {
    for (const event of events) {
      const shared_ = memberVerdicts(event, members, shared, (m) => mergePushRules(m.userId, m.changes === null ? emptyChanges() : JSON.parse(m.changes)));
      expect(shared_).toEqual(oneByOne(event));
    }
  });

  it("tells apart the members an event names from the others", () => {
    const v = memberVerdicts(events[1]!, members, shared, (m) => mergePushRules(m.userId, m.changes === null ? emptyChanges() : JSON.parse(m.changes)));
    expect(v.get("@alice:hs")).toContainEqual({ set_tweak: "highlight" });
    expect(v.get("@u3:hs")).toContainEqual({ set_tweak: "highlight" });
    expect(v.get("@u4:hs")).toEqual(["notify"]);
    const invite = memberVerdicts(events[6]!, members, shared, (m) => mergePushRules(m.userId, m.changes === null ? emptyChanges() : JSON.parse(m.changes)));
    expect(invite.get("@Bob:hs")?.[0]).toBe("notify");
    expect(invite.get("@alice:hs")).toEqual([]);
    const wild = memberVerdicts(events[8]!, members, shared, (m) => mergePushRules(m.userId, m.changes === null ? emptyChanges() : JSON.parse(m.changes)));
    expect(wild.get("@wild*:hs")?.[0]).toBe("notify");
  });

  it("merges the rules of members without changes only once per class", () => {
    let merged = 0;
    memberVerdicts(events[0]!, members, shared, (m) => {
      merged++;
      return mergePushRules(m.userId, m.changes === null ? emptyChanges() : JSON.parse(m.changes));
    });
    // No changes, mentions-only, and one each for Carol, Dave (display names differ),
    // Eve, and the two wildcard ids (always on their own).
    expect(merged).toBe(7);
  });
});

describe("splitVerdicts", () => {
  const notify: PushAction[] = ["notify"];
  const loud: PushAction[] = ["notify", { set_tweak: "highlight" }];
  const none: PushAction[] = [];
  const of = (entries: Array<[string, PushAction[]]>) => new Map(entries);

  it("stores a notifying verdict once and a row for each member who differs", () => {
    const v = of([
      ["@a:hs", notify],
      ["@b:hs", notify],
      ["@c:hs", notify],
      ["@m:hs", loud],
      ["@q:hs", none],
    ]);
    expect(splitVerdicts([...v.keys()], v, undefined, 5)).toEqual({
      shared: { highlight: false, actions: '["notify"]' },
      exceptions: [
        { userId: "@m:hs", notify: true, highlight: true, actions: JSON.stringify(loud) },
        { userId: "@q:hs", notify: false, highlight: false, actions: "[]" },
      ],
    });
  });

  it("stores no class verdict when fewer rows are written without one", () => {
    // Two members notified, three not: a class verdict that notifies would need three rows, none needs two.
    const v = of([
      ["@a:hs", notify],
      ["@b:hs", loud],
      ["@c:hs", none],
      ["@d:hs", none],
      ["@e:hs", none],
    ]);
    expect(splitVerdicts([...v.keys()], v, undefined, 5)).toEqual({
      exceptions: [
        { userId: "@a:hs", notify: true, highlight: false, actions: '["notify"]' },
        { userId: "@b:hs", notify: true, highlight: true, actions: JSON.stringify(loud) },
      ],
    });
  });

  it("gives an invitee a row of their own only when notified, whatever the class", () => {
    const v = of([
      ["@a:hs", none],
      ["@i:hs", notify],
    ]);
    expect(splitVerdicts(["@a:hs", "@i:hs"], v, "@i:hs", 1)).toEqual({
      exceptions: [{ userId: "@i:hs", notify: true, highlight: false, actions: '["notify"]' }],
    });
    const same = of([
      ["@a:hs", notify],
      ["@i:hs", notify],
    ]);
    expect(splitVerdicts(["@a:hs", "@i:hs"], same, "@i:hs", 1)).toEqual({
      shared: { highlight: false, actions: '["notify"]' },
      exceptions: [{ userId: "@i:hs", notify: true, highlight: false, actions: '["notify"]' }],
    });
    expect(splitVerdicts(["@i:hs"], of([["@i:hs", none]]), "@i:hs", 0)).toEqual({ exceptions: [] });
  });
});
