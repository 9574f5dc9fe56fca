import { describe, expect, it } from "vitest";
import {
  conditionMatches,
  defaultPushRules,
  deleteCustomRule,
  emptyChanges,
  evaluatePushRules,
  globMatch,
  mergePushRules,
  notifyAndHighlight,
  putCustomRule,
  setRuleAttr,
  splitPropertyPath,
  type PushContext,
  type PushEvent,
} from "./push-rules.js";

const me = "@alice:example.org";
const ctx: PushContext = { userId: me, displayName: "Alice", roomMemberCount: 5, senderPowerLevel: 0, notificationPowerLevels: { room: 50 } };
const msg = (content: Record<string, unknown>, extra: Partial<PushEvent> = {}): PushEvent => ({
  type: "m.room.message",
  sender: "@bob:example.org",
  room_id: "!r:example.org",
  content: { msgtype: "m.text", ...content },
  ...extra,
});

describe("default rules (spec Predefined Rules)", () => {
  it("lists every predefined rule in the spec's order", () => {
    const d = defaultPushRules(me);
    expect(d.override.map((r) => r.rule_id)).toEqual([
      ".m.rule.master",
      ".m.rule.suppress_notices",
      ".m.rule.invite_for_me",
      ".m.rule.member_event",
      ".m.rule.is_user_mention",
      ".m.rule.is_room_mention",
      ".m.rule.tombstone",
      ".m.rule.reaction",
      ".m.rule.room.server_acl",
      ".m.rule.suppress_edits",
    ]);
    expect(d.underride.map((r) => r.rule_id)).toEqual([
      ".m.rule.call",
      ".m.rule.encrypted_room_one_to_one",
      ".m.rule.room_one_to_one",
      ".m.rule.message",
      ".m.rule.encrypted",
    ]);
    expect(d.content).toEqual([]);
    expect(d.override[0]).toEqual({ rule_id: ".m.rule.master", default: true, enabled: false, conditions: [], actions: [] });
    expect(d.override[2]!.conditions![2]).toEqual({ kind: "event_match", key: "state_key", pattern: me });
    expect(d.override[4]!.conditions![0]).toEqual({ kind: "event_property_contains", key: "content.m\\.mentions.user_ids", value: me });
  });

  it("plain messages notify, 1:1 messages with sound, notices and own events not at all", () => {
    const rules = defaultPushRules(me);
    expect(evaluatePushRules(msg({ body: "hi" }), ctx, rules)).toEqual(["notify"]);
    expect(evaluatePushRules(msg({ body: "hi" }), { ...ctx, roomMemberCount: 2 }, rules)).toEqual(["notify", { set_tweak: "sound", value: "default" }]);
    expect(evaluatePushRules(msg({ body: "hi", msgtype: "m.notice" }), ctx, rules)).toEqual([]);
    expect(evaluatePushRules(msg({ body: "hi" }, { sender: me }), ctx, rules)).toEqual([]);
    expect(evaluatePushRules({ type: "m.reaction", sender: "@bob:example.org", content: {} }, ctx, rules)).toEqual([]);
  });

  it("mentions highlight; @room needs the notifications power level", () => {
    const rules = defaultPushRules(me);
    const mention = evaluatePushRules(msg({ body: "hey", "m.mentions": { user_ids: [me] } }), ctx, rules);
    expect(notifyAndHighlight(mention)).toEqual({ notify: true, highlight: true });
    const room = msg({ body: "all", "m.mentions": { room: true } });
    expect(notifyAndHighlight(evaluatePushRules(room, ctx, rules)).highlight).toBe(false);
    expect(notifyAndHighlight(evaluatePushRules(room, { ...ctx, senderPowerLevel: 50 }, rules)).highlight).toBe(true);
  });

  it("invites for me notify with sound; other member events do not; edits are suppressed", () => {
    const rules = defaultPushRules(me);
    const invite: PushEvent = { type: "m.room.member", sender: "@bob:example.org", state_key: me, content: { membership: "invite" } };
    expect(evaluatePushRules(invite, ctx, rules)).toEqual(["notify", { set_tweak: "sound", value: "default" }]);
    expect(evaluatePushRules({ ...invite, state_key: "@carol:example.org" }, ctx, rules)).toEqual([]);
    expect(evaluatePushRules(msg({ body: "* x", "m.relates_to": { rel_type: "m.replace", event_id: "$e" } }), ctx, rules)).toEqual([]);
  });

  it("the master rule, once enabled, silences everything", () => {
    const rules = mergePushRules(me, setRuleAttr(me, emptyChanges(), "override", ".m.rule.master", { enabled: true }));
    expect(evaluatePushRules(msg({ body: "hi", "m.mentions": { user_ids: [me] } }), ctx, rules)).toEqual([]);
  });
});

describe("conditions (spec examples)", () => {
  const topic = (t: unknown): PushEvent => ({ type: "m.room.topic", sender: "@example:example.org", state_key: "", content: { topic: t } });
  const cond = { kind: "event_match", key: "content.topic", pattern: "lunc?*" };

  it("event_match matches the whole value, case-insensitively", () => {
    expect(conditionMatches(cond, topic("Lunch plans"), ctx)).toBe(true);
    expect(conditionMatches(cond, topic("LUNCH"), ctx)).toBe(true);
    expect(conditionMatches(cond, topic(" lunch"), ctx)).toBe(false);
    expect(conditionMatches(cond, topic("lunc"), ctx)).toBe(false);
    expect(conditionMatches(cond, topic(null), ctx)).toBe(false);
    expect(conditionMatches({ kind: "event_match", key: "content.nope", pattern: "*" }, topic("x"), ctx)).toBe(false);
  });

  it("content.body matches at word boundaries", () => {
    const c = { kind: "event_match", key: "content.body", pattern: "ex*ple" };
    expect(conditionMatches(c, msg({ body: "An example event." }), ctx)).toBe(true);
    expect(conditionMatches(c, msg({ body: "exple" }), ctx)).toBe(true);
    expect(conditionMatches(c, msg({ body: "An exciting triple-whammy" }), ctx)).toBe(true);
    expect(conditionMatches(c, msg({ body: "anexample" }), ctx)).toBe(false);
    expect(conditionMatches({ kind: "event_match", key: "content.body", pattern: "cake" }, msg({ body: "I like CAKE!" }), ctx)).toBe(true);
    expect(conditionMatches({ kind: "event_match", key: "content.body", pattern: "cake" }, msg({ body: "cakes" }), ctx)).toBe(false);
  });

  it("event_property_is compares exactly without casting", () => {
    const create: PushEvent = { type: "m.room.create", sender: "@e:example.org", state_key: "", content: { "m.federate": true } };
    const c = { kind: "event_property_is", key: "content.m\\.federate", value: true };
    expect(conditionMatches(c, create, ctx)).toBe(true);
    expect(conditionMatches(c, { ...create, content: { "m.federate": "true" } }, ctx)).toBe(false);
    expect(conditionMatches(c, { ...create, content: { "m.federate": 1 } }, ctx)).toBe(false);
  });

  it("event_property_contains needs an exact array element", () => {
    const alias: PushEvent = { type: "m.room.canonical_alias", sender: "@e:example.org", state_key: "", content: { alt_aliases: ["#somewhere:example.org", "#myroom:example.com"] } };
    expect(conditionMatches({ kind: "event_property_contains", key: "content.alt_aliases", value: "#myroom:example.com" }, alias, ctx)).toBe(true);
    expect(conditionMatches({ kind: "event_property_contains", key: "content.alt_aliases", value: ":example.com" }, alias, ctx)).toBe(false);
  });

  it("room_member_count, contains_display_name and unknown conditions", () => {
    expect(conditionMatches({ kind: "room_member_count", is: "<=10" }, msg({}), ctx)).toBe(true);
    expect(conditionMatches({ kind: "room_member_count", is: ">5" }, msg({}), ctx)).toBe(false);
    expect(conditionMatches({ kind: "room_member_count", is: "5" }, msg({}), ctx)).toBe(true);
    expect(conditionMatches({ kind: "contains_display_name" }, msg({ body: "hi alice!" }), ctx)).toBe(true);
    expect(conditionMatches({ kind: "contains_display_name" }, msg({ body: "hi alicea" }), ctx)).toBe(false);
    expect(conditionMatches({ kind: "something_new" }, msg({}), ctx)).toBe(false);
  });

  it("globs: * and ? on code points, whole value or word-bounded substring, in linear time", () => {
    expect(globMatch("Lunch", "l*", false)).toBe(true);
    expect(globMatch("", "*", false)).toBe(true);
    expect(globMatch("é", "?", false)).toBe(true);
    expect(globMatch("😀x", "?X", false)).toBe(true);
    expect(globMatch("ab", "a", false)).toBe(false);
    expect(globMatch("say cake*lie now", "cake*lie", true)).toBe(true);
    expect(globMatch("the cake is a lie", "cake*lie", true)).toBe(true);
    expect(globMatch("cakeslie", "cake", true)).toBe(false);
    expect(globMatch("a.b", "a?b", false)).toBe(true);
    const started = Date.now();
    expect(globMatch("a".repeat(20_000), "*a*a*a*a*a*a*a*a*b", true)).toBe(false);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it("dot-separated paths unescape \\. and \\\\ only", () => {
    expect(splitPropertyPath("content.m\\.relates_to.rel_type")).toEqual(["content", "m.relates_to", "rel_type"]);
    expect(splitPropertyPath("content.m\\\\foo")).toEqual(["content", "m\\foo"]);
    expect(splitPropertyPath("content.a\\x")).toEqual(["content", "a\\x"]);
  });
});

describe("user changes", () => {
  it("new rules go first, before/after place them, defaults come after user rules, master first", () => {
    let ch = putCustomRule(emptyChanges(), "override", { rule_id: "a", actions: ["notify"], conditions: [] }, {});
    ch = putCustomRule(ch, "override", { rule_id: "b", actions: ["notify"], conditions: [] }, {});
    ch = putCustomRule(ch, "override", { rule_id: "c", actions: [], conditions: [] }, { after: "a" });
    ch = putCustomRule(ch, "override", { rule_id: "d", actions: [], conditions: [] }, { before: "b" });
    const ids = mergePushRules(me, ch).override.map((r) => r.rule_id);
    expect(ids.slice(0, 6)).toEqual([".m.rule.master", "d", "b", "a", "c", ".m.rule.suppress_notices"]);
    expect(() => putCustomRule(ch, "override", { rule_id: "e", actions: [] }, { before: "zz" })).toThrow(/not found/);
    expect(() => putCustomRule(ch, "override", { rule_id: ".x", actions: [] }, {})).toThrow();
    const del = deleteCustomRule(ch, "override", "b");
    expect(mergePushRules(me, del).override.map((r) => r.rule_id)).not.toContain("b");
    expect(() => deleteCustomRule(ch, "override", "nope")).toThrow();
  });

  it("custom rules win over defaults; disabled rules never match; legacy actions are served as set but never act", () => {
    let ch = putCustomRule(emptyChanges(), "room", { rule_id: "!r:example.org", actions: ["dont_notify"] }, {});
    let rules = mergePushRules(me, ch);
    expect(rules.room[0]).toEqual({ rule_id: "!r:example.org", default: false, enabled: true, actions: ["dont_notify"] });
    expect(evaluatePushRules(msg({ body: "hi" }), ctx, rules)).toEqual([]);
    ch = setRuleAttr(me, ch, "room", "!r:example.org", { enabled: false });
    rules = mergePushRules(me, ch);
    expect(evaluatePushRules(msg({ body: "hi" }), ctx, rules)).toEqual(["notify"]);
    ch = putCustomRule(ch, "content", { rule_id: "cake", pattern: "cake*lie", actions: ["notify", { set_tweak: "highlight" }] }, {});
    ch = setRuleAttr(me, ch, "underride", ".m.rule.message", { actions: [] });
    rules = mergePushRules(me, ch);
    expect(evaluatePushRules(msg({ body: "the cake is a lie" }), ctx, rules)).toEqual(["notify", { set_tweak: "highlight" }]);
    expect(evaluatePushRules(msg({ body: "plain" }), ctx, rules)).toEqual([]);
    expect(() => setRuleAttr(me, ch, "override", ".m.rule.nope", { enabled: true })).toThrow();
  });
});
