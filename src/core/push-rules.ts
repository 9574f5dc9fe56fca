/**
 * Push rules (client-server API "Push Notifications" module): the spec's
 * predefined rules, a user's stored changes merged into them, and evaluation
 * of a ruleset against an event. Pure: no I/O, no clock.
 */

export const PUSH_RULE_KINDS = ["override", "content", "room", "sender", "underride"] as const;
export type PushRuleKind = (typeof PUSH_RULE_KINDS)[number];

export type PushAction = string | { set_tweak: string; value?: unknown; [k: string]: unknown };

export interface PushCondition {
  kind: string;
  key?: string;
  pattern?: string;
  value?: unknown;
  is?: string;
  [k: string]: unknown;
}

export interface PushRule {
  rule_id: string;
  default: boolean;
  enabled: boolean;
  actions: PushAction[];
  conditions?: PushCondition[];
  pattern?: string;
}

export type PushRuleset = Record<PushRuleKind, PushRule[]>;

/** A user-defined rule as stored (the served `default` is always false). */
export interface CustomRule {
  rule_id: string;
  enabled: boolean;
  actions: PushAction[];
  conditions?: PushCondition[];
  pattern?: string;
}

/**
 * A user's changes to the server defaults: custom rules per kind (most
 * important first), and per server-default rule an enabled flag and/or actions.
 */
export interface PushRuleChanges {
  custom: Partial<Record<PushRuleKind, CustomRule[]>>;
  defaults: Record<string, { enabled?: boolean; actions?: PushAction[] }>;
}

export const emptyChanges = (): PushRuleChanges => ({ custom: {}, defaults: {} });

export function isPushRuleKind(k: string): k is PushRuleKind {
  return (PUSH_RULE_KINDS as readonly string[]).includes(k);
}

const notifySound = (sound: string): PushAction[] => ["notify", { set_tweak: "sound", value: sound }];
const typeIs = (type: string): PushCondition => ({ kind: "event_match", key: "type", pattern: type });

function rule(rule_id: string, conditions: PushCondition[], actions: PushAction[], enabled = true): PushRule {
  return { rule_id, default: true, enabled, conditions, actions };
}

/**
 * "Predefined Rules" (spec v1.19), in the spec's order. v1.17 removed the legacy
 * body-based mention rules (.m.rule.contains_display_name, .m.rule.contains_user_name,
 * .m.rule.roomnotif), so the content kind has no server-default rules.
 */
export function defaultPushRules(userId: string): PushRuleset {
  return {
    override: [
      rule(".m.rule.master", [], [], false),
      rule(".m.rule.suppress_notices", [{ kind: "event_match", key: "content.msgtype", pattern: "m.notice" }], []),
      rule(
        ".m.rule.invite_for_me",
        [typeIs("m.room.member"), { kind: "event_match", key: "content.membership", pattern: "invite" }, { kind: "event_match", key: "state_key", pattern: userId }],
        notifySound("default"),
      ),
      rule(".m.rule.member_event", [typeIs("m.room.member")], []),
      rule(".m.rule.is_user_mention", [{ kind: "event_property_contains", key: "content.m\\.mentions.user_ids", value: userId }], [
        ...notifySound("default"),
        { set_tweak: "highlight" },
      ]),
      rule(
        ".m.rule.is_room_mention",
        [{ kind: "event_property_is", key: "content.m\\.mentions.room", value: true }, { kind: "sender_notification_permission", key: "room" }],
        ["notify", { set_tweak: "highlight" }],
      ),
      rule(".m.rule.tombstone", [typeIs("m.room.tombstone"), { kind: "event_match", key: "state_key", pattern: "" }], ["notify", { set_tweak: "highlight" }]),
      rule(".m.rule.reaction", [typeIs("m.reaction")], []),
      rule(".m.rule.room.server_acl", [typeIs("m.room.server_acl"), { kind: "event_match", key: "state_key", pattern: "" }], []),
      rule(".m.rule.suppress_edits", [{ kind: "event_property_is", key: "content.m\\.relates_to.rel_type", value: "m.replace" }], []),
    ],
    content: [],
    room: [],
    sender: [],
    underride: [
      rule(".m.rule.call", [typeIs("m.call.invite")], notifySound("ring")),
      rule(".m.rule.encrypted_room_one_to_one", [{ kind: "room_member_count", is: "2" }, typeIs("m.room.encrypted")], notifySound("default")),
      rule(".m.rule.room_one_to_one", [{ kind: "room_member_count", is: "2" }, typeIs("m.room.message")], notifySound("default")),
      rule(".m.rule.message", [typeIs("m.room.message")], ["notify"]),
      rule(".m.rule.encrypted", [typeIs("m.room.encrypted")], ["notify"]),
    ],
  };
}

/**
 * "Historical Actions": dont_notify and coalesce are no-ops, so evaluation drops
 * them; rules are served with the actions as the client set them (deployed
 * servers do, and clients compare what they read back with what they wrote).
 */
export function stripLegacyActions(actions: readonly PushAction[]): PushAction[] {
  return actions.filter((a) => a !== "dont_notify" && a !== "coalesce");
}

function served(kind: PushRuleKind, r: CustomRule): PushRule {
  const out: PushRule = { rule_id: r.rule_id, default: false, enabled: r.enabled, actions: [...r.actions] };
  if (kind === "override" || kind === "underride") out.conditions = r.conditions ?? [];
  if (kind === "content" && r.pattern !== undefined) out.pattern = r.pattern;
  return out;
}

/**
 * The ruleset a user is served: `.m.rule.master` first (it always outranks
 * user rules), then per kind the user's rules before the server defaults
 * ("server-default rules ... operate at a lower priority than user-defined rules").
 */
export function mergePushRules(userId: string, changes: PushRuleChanges): PushRuleset {
  const defaults = defaultPushRules(userId);
  const out = {} as PushRuleset;
  for (const kind of PUSH_RULE_KINDS) {
    const own = (changes.custom[kind] ?? []).map((r) => served(kind, r));
    const defs = defaults[kind].map((r) => {
      const c = changes.defaults[r.rule_id];
      return { ...r, enabled: c?.enabled ?? r.enabled, actions: c?.actions ? [...c.actions] : r.actions };
    });
    out[kind] = kind === "override" ? [...defs.filter((r) => r.rule_id === ".m.rule.master"), ...own, ...defs.filter((r) => r.rule_id !== ".m.rule.master")] : [...own, ...defs];
  }
  return out;
}

export function findRule(rules: PushRuleset, kind: PushRuleKind, ruleId: string): PushRule | undefined {
  return rules[kind].find((r) => r.rule_id === ruleId);
}

export class PushRuleError extends Error {
  constructor(
    readonly code: "not_found" | "invalid" | "anchor_not_found",
    message: string,
  ) {
    super(message);
  }
}

/**
 * PUT /pushrules/global/{kind}/{ruleId}: creates or replaces a user-defined
 * rule. Without before/after a new rule becomes the most important user rule
 * of its kind and an existing one keeps its place; `before` wins over `after`.
 */
export function putCustomRule(
  changes: PushRuleChanges,
  kind: PushRuleKind,
  r: Omit<CustomRule, "enabled">,
  pos: { before?: string; after?: string },
): PushRuleChanges {
  if (r.rule_id.startsWith(".")) throw new PushRuleError("invalid", "Rule ids starting with '.' are reserved for server-default rules");
  const list = [...(changes.custom[kind] ?? [])];
  const idx = list.findIndex((x) => x.rule_id === r.rule_id);
  // An update keeps the enabled flag; "When creating push rules, they MUST be enabled by default".
  const next: CustomRule = { ...r, enabled: idx >= 0 ? list[idx]!.enabled : true };
  const anchorId = pos.before ?? pos.after;
  if (anchorId !== undefined) {
    if (idx >= 0) list.splice(idx, 1);
    const at = list.findIndex((x) => x.rule_id === anchorId);
    if (at < 0) throw new PushRuleError("anchor_not_found", `before/after rule not found: ${anchorId}`);
    list.splice(pos.before !== undefined ? at : at + 1, 0, next);
  } else if (idx >= 0) {
    list[idx] = next;
  } else {
    list.unshift(next);
  }
  return { ...changes, custom: { ...changes.custom, [kind]: list } };
}

export function deleteCustomRule(changes: PushRuleChanges, kind: PushRuleKind, ruleId: string): PushRuleChanges {
  if (ruleId.startsWith(".")) throw new PushRuleError("invalid", "Server-default rules cannot be deleted");
  const list = changes.custom[kind] ?? [];
  if (!list.some((x) => x.rule_id === ruleId)) throw new PushRuleError("not_found", "The push rule was not found.");
  return { ...changes, custom: { ...changes.custom, [kind]: list.filter((x) => x.rule_id !== ruleId) } };
}

/** PUT .../enabled and .../actions, for user rules and server-default rules alike. */
export function setRuleAttr(
  userId: string,
  changes: PushRuleChanges,
  kind: PushRuleKind,
  ruleId: string,
  patch: { enabled?: boolean; actions?: PushAction[] },
): PushRuleChanges {
  const own = changes.custom[kind] ?? [];
  const idx = own.findIndex((x) => x.rule_id === ruleId);
  if (idx >= 0) {
    const list = [...own];
    list[idx] = { ...list[idx]!, ...patch };
    return { ...changes, custom: { ...changes.custom, [kind]: list } };
  }
  if (!defaultPushRules(userId)[kind].some((r) => r.rule_id === ruleId)) throw new PushRuleError("not_found", "The push rule was not found.");
  return { ...changes, defaults: { ...changes.defaults, [ruleId]: { ...changes.defaults[ruleId], ...patch } } };
}

// --- evaluation ("Conditions") ---

export interface PushContext {
  userId: string;
  /** The user's display name in the room (for the deprecated contains_display_name). */
  displayName?: string | null;
  roomMemberCount: number;
  senderPowerLevel: number;
  /** The power levels' `notifications` object with its defaults applied (room: 50). */
  notificationPowerLevels?: Record<string, number>;
}

export interface PushEvent {
  type: string;
  sender: string;
  room_id?: string;
  state_key?: string;
  content: Record<string, unknown>;
  [k: string]: unknown;
}

/** "Dot-separated property paths": `\.` is a literal dot, `\\` a literal backslash. */
export function splitPropertyPath(key: string): string[] {
  const parts: string[] = [];
  let cur = "";
  for (let i = 0; i < key.length; i++) {
    const ch = key[i]!;
    if (ch === "\\" && (key[i + 1] === "." || key[i + 1] === "\\")) {
      cur += key[i + 1];
      i++;
    } else if (ch === ".") {
      parts.push(cur);
      cur = "";
    } else cur += ch;
  }
  parts.push(cur);
  return parts;
}

function lookup(event: PushEvent, key: string): { found: boolean; value: unknown } {
  let cur: unknown = event;
  for (const p of splitPropertyPath(key)) {
    if (typeof cur !== "object" || cur === null || Array.isArray(cur) || !Object.prototype.hasOwnProperty.call(cur, p)) return { found: false, value: undefined };
    cur = (cur as Record<string, unknown>)[p];
  }
  return { found: true, value: cur };
}

const isWordChar = (ch: string | undefined): boolean => ch !== undefined && /^[A-Za-z0-9_]$/.test(ch);

/**
 * "Glob-style matching" (`*` any run, `?` exactly one character),
 * case-insensitive, run as a set of pattern positions over the text: time
 * O(text x pattern) whatever the pattern, unlike a backtracking RegExp.
 * With `wordBoundary` (content.body) the match may be any substring that
 * starts and ends at a word boundary: the start or end of the value, or a
 * character outside [A-Za-z0-9_] next to it.
 */
export function globMatch(text: string, pattern: string, wordBoundary: boolean): boolean {
  // Most patterns (event types, msgtypes, user ids) have no wildcard: a whole-value match is an equality.
  if (!wordBoundary && !pattern.includes("*") && !pattern.includes("?")) return text.toLowerCase() === pattern.toLowerCase();
  const t = Array.from(text.toLowerCase());
  const p = Array.from(pattern.toLowerCase());
  const m = p.length;
  const addClosure = (set: Set<number>, j: number) => {
    // A `*` may match nothing: reaching it also reaches what follows.
    while (!set.has(j)) {
      set.add(j);
      if (j < m && p[j] === "*") j++;
      else break;
    }
  };
  let active = new Set<number>();
  const startsAt = (i: number) => (wordBoundary ? i === 0 || !isWordChar(t[i - 1]) : i === 0);
  const endsAt = (i: number) => (wordBoundary ? i === t.length || !isWordChar(t[i]) : i === t.length);
  for (let i = 0; ; i++) {
    if (startsAt(i)) addClosure(active, 0);
    if (active.has(m) && endsAt(i)) return true;
    if (i === t.length || active.size === 0) {
      if (i === t.length) return false;
      continue;
    }
    const ch = t[i]!;
    const next = new Set<number>();
    for (const j of active) {
      if (j === m) continue;
      const tok = p[j]!;
      if (tok === "*") addClosure(next, j);
      else if (tok === "?" || tok === ch) addClosure(next, j + 1);
    }
    active = next;
  }
}

/** The body-matching condition with word boundaries (content rules and event_match on content.body). */
export function matchesWords(body: string, pattern: string): boolean {
  return globMatch(body, pattern, true);
}

function isSimpleValue(v: unknown): boolean {
  return v === null || typeof v === "string" || typeof v === "boolean" || (typeof v === "number" && Number.isSafeInteger(v));
}

function memberCountMatches(is: string, count: number): boolean {
  const m = /^(==|<=|>=|<|>)?([0-9]+)$/.exec(is);
  if (!m) return false;
  const n = Number(m[2]);
  switch (m[1] ?? "==") {
    case "==": return count === n;
    case "<": return count < n;
    case ">": return count > n;
    case "<=": return count <= n;
    default: return count >= n;
  }
}

export function conditionMatches(c: PushCondition, event: PushEvent, ctx: PushContext): boolean {
  switch (c.kind) {
    case "event_match": {
      if (typeof c.key !== "string" || typeof c.pattern !== "string") return false;
      const { value } = lookup(event, c.key);
      if (typeof value !== "string") return false;
      return globMatch(value, c.pattern, c.key === "content.body");
    }
    case "event_property_is": {
      if (typeof c.key !== "string" || !isSimpleValue(c.value)) return false;
      const { found, value } = lookup(event, c.key);
      return found && isSimpleValue(value) && value === c.value;
    }
    case "event_property_contains": {
      if (typeof c.key !== "string" || !isSimpleValue(c.value)) return false;
      const { value } = lookup(event, c.key);
      return Array.isArray(value) && value.some((v) => isSimpleValue(v) && v === c.value);
    }
    case "contains_display_name": {
      const body = event.content.body;
      const name = ctx.displayName;
      if (typeof body !== "string" || !name) return false;
      return new RegExp(`(?:^|[^A-Za-z0-9_])${name.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&")}(?:[^A-Za-z0-9_]|$)`, "iu").test(body);
    }
    case "room_member_count":
      return typeof c.is === "string" && memberCountMatches(c.is, ctx.roomMemberCount);
    case "sender_notification_permission": {
      if (typeof c.key !== "string") return false;
      const levels: Record<string, number> = { room: 50, ...ctx.notificationPowerLevels };
      const required = levels[c.key];
      return typeof required === "number" && ctx.senderPowerLevel >= required;
    }
    default:
      // "Unrecognised conditions MUST NOT match any events."
      return false;
  }
}

function ruleMatches(kind: PushRuleKind, r: PushRule, event: PushEvent, ctx: PushContext): boolean {
  switch (kind) {
    case "room":
      return event.room_id === r.rule_id;
    case "sender":
      return event.sender === r.rule_id;
    case "content": {
      const body = event.content.body;
      return typeof r.pattern === "string" && typeof body === "string" && matchesWords(body, r.pattern);
    }
    default:
      return (r.conditions ?? []).every((c) => conditionMatches(c, event, ctx));
  }
}

/**
 * The actions of the highest-priority enabled rule that matches, or [] when
 * none does. Events the user sent themselves never notify.
 */
export function evaluatePushRules(event: PushEvent, ctx: PushContext, rules: PushRuleset): PushAction[] {
  if (event.sender === ctx.userId) return [];
  for (const kind of PUSH_RULE_KINDS) {
    for (const r of rules[kind] ?? []) {
      if (r.enabled && ruleMatches(kind, r, event, ctx)) return stripLegacyActions(r.actions);
    }
  }
  return [];
}

/** Whether the actions notify, and whether they highlight (a highlight tweak without value is true). */
export function notifyAndHighlight(actions: readonly PushAction[]): { notify: boolean; highlight: boolean } {
  const notify = actions.includes("notify");
  const h = actions.find((a): a is Exclude<PushAction, string> => typeof a === "object" && a.set_tweak === "highlight");
  return { notify, highlight: notify && h !== undefined && (h.value === undefined || h.value === true) };
}
