import { evaluatePushRules, notifyAndHighlight, type PushAction, type PushContext, type PushEvent, type PushRuleset } from "../core/push-rules.js";
import type { EventVerdicts } from "../storage/push-actions-repo.js";

/** One member as push rule evaluation of an event sees them. */
export interface MemberRules {
  userId: string;
  /** The stored rule changes (JSON text) the member's ruleset is merged from; null: none. */
  changes: string | null;
  /** The member's display name, when their ruleset uses contains_display_name. */
  displayName: string | null;
}

/** What every member's evaluation of one event shares (client-server "Conditions"). */
export type SharedContext = Omit<PushContext, "userId" | "displayName">;

/**
 * Every member's actions for one event (client-server "Push Rules": the rules
 * of each local member are evaluated against the event).
 *
 * A merged ruleset mentions its user only inside the server-default rules
 * that look for that user in the event (.m.rule.invite_for_me against the
 * state_key, .m.rule.is_user_mention against m.mentions.user_ids); user rules
 * are stored literally. So two members with the same stored changes (and the
 * same display name, where the ruleset uses it) reach the same verdict unless
 * the event names one of them: members the event never names share one
 * evaluation, and every member the event does name is evaluated on their own.
 * "Names" is taken widely: the user id occurs, case-insensitively, inside
 * any string of the event (event_match is case-insensitive and matches
 * content.body by words), or the id holds a glob wildcard and could match
 * other text as a pattern.
 */
export function memberVerdicts(
  event: PushEvent,
  members: readonly MemberRules[],
  shared: SharedContext,
  rulesetOf: (m: MemberRules) => PushRuleset,
): Map<string, PushAction[]> {
  const text = eventText(event);
  const byClass = new Map<string, PushAction[]>();
  const out = new Map<string, PushAction[]>();
  for (const m of members) {
    const evaluate = () => evaluatePushRules(event, { ...shared, userId: m.userId, displayName: m.displayName }, rulesetOf(m));
    if (namedBy(text, m.userId)) {
      out.set(m.userId, evaluate());
      continue;
    }
    const key = `${m.changes === null ? "-" : `+${m.changes}`}\u0000${m.displayName ?? ""}`;
    let actions = byClass.get(key);
    if (actions === undefined) {
      actions = evaluate();
      byClass.set(key, actions);
    }
    out.set(m.userId, actions);
  }
  return out;
}

function namedBy(text: string, userId: string): boolean {
  return userId.includes("*") || userId.includes("?") || text.includes(userId.toLowerCase());
}

/** Every string value and key of the event, lowercased, NUL-separated. */
function eventText(event: PushEvent): string {
  const parts: string[] = [];
  const walk = (v: unknown): void => {
    if (typeof v === "string") parts.push(v.toLowerCase());
    else if (Array.isArray(v)) for (const x of v) walk(x);
    else if (typeof v === "object" && v !== null) {
      for (const [k, x] of Object.entries(v)) {
        parts.push(k.toLowerCase());
        walk(x);
      }
    }
  };
  walk(event);
  return parts.join("\u0000");
}

/**
 * The class verdict of an event and its exceptions. The class is every local
 * joined member but the sender; its verdict is stored once, so it is the one
 * that leaves the fewest rows: a notifying verdict costs a row for every
 * member who reached another one, none costs a row for every member who
 * notifies. An invitee is outside the class: a row when notified.
 */
export function splitVerdicts(
  users: readonly string[],
  verdicts: ReadonlyMap<string, PushAction[]>,
  invitee: string | undefined,
  inClass: number,
): EventVerdicts {
  // Members sharing a verdict share its actions array: judged and serialised once.
  const judged = new Map<PushAction[], { notify: boolean; highlight: boolean; actions: string; members: number }>();
  for (const userId of users) {
    const actions = verdicts.get(userId)!;
    let j = judged.get(actions);
    if (j === undefined) {
      j = { ...notifyAndHighlight(actions), actions: JSON.stringify(actions), members: 0 };
      judged.set(actions, j);
    }
    if (userId !== invitee) j.members++;
  }
  let notifying = 0;
  let best: { notify: boolean; highlight: boolean; actions: string; members: number } | undefined;
  for (const j of judged.values()) {
    if (!j.notify) continue;
    notifying += j.members;
    if (best === undefined || j.members > best.members) best = j;
  }
  const shared = best !== undefined && inClass - best.members < notifying ? best : undefined;
  const exceptions: Array<EventVerdicts["exceptions"][number]> = [];
  for (const userId of users) {
    const j = judged.get(verdicts.get(userId)!)!;
    const differs = userId === invitee ? j.notify : shared !== undefined ? j.actions !== shared.actions : j.notify;
    if (differs) exceptions.push({ userId, notify: j.notify, highlight: j.highlight, actions: j.actions });
  }
  return { ...(shared ? { shared: { highlight: shared.highlight, actions: shared.actions } } : {}), exceptions };
}
