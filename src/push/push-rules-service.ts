import {
  deleteCustomRule,
  emptyChanges,
  findRule,
  mergePushRules,
  PushRuleError,
  putCustomRule,
  setRuleAttr,
  type CustomRule,
  type PushAction,
  type PushRule,
  type PushRuleChanges,
  type PushRuleKind,
  type PushRuleset,
} from "../core/push-rules.js";
import { MatrixError, notFound } from "../http/errors.js";
import type { PushRulesRepo } from "../storage/push-rules-repo.js";

/** Writes server-managed global account data and announces it to /sync. */
export interface PushRulesAccountData {
  putGlobal(userId: string, type: string, content: Record<string, unknown>): Promise<void>;
}

// A user's own rules per kind; keeps the stored document and every evaluation bounded.
export const MAX_CUSTOM_RULES_PER_KIND = 500;

function toMatrixError(err: unknown): never {
  if (err instanceof PushRuleError) {
    if (err.code === "not_found") throw notFound(err.message);
    // The spec's example answer for an unknown before/after anchor is 400 M_UNKNOWN.
    if (err.code === "anchor_not_found") throw new MatrixError(400, "M_UNKNOWN", err.message);
    throw new MatrixError(400, "M_INVALID_PARAM", err.message);
  }
  throw err;
}

/**
 * Push rules of local users ("Push Rules: API"): reads the merged ruleset and
 * applies changes. After every change the merged ruleset is written as the
 * user's `m.push_rules` account data ("Push Rules: Events"), one change per
 * user at a time so the account data never goes back to an older ruleset.
 */
export class PushRulesService {
  private readonly queues = new Map<string, Promise<unknown>>();

  constructor(
    private readonly repo: PushRulesRepo,
    private readonly accountData: PushRulesAccountData,
  ) {}

  async getRuleset(userId: string): Promise<PushRuleset> {
    return mergePushRules(userId, (await this.repo.getChanges(userId)) ?? emptyChanges());
  }

  /** The content of the `m.push_rules` account data event. */
  async accountDataContent(userId: string): Promise<Record<string, unknown>> {
    return { global: await this.getRuleset(userId) };
  }

  async getRule(userId: string, kind: PushRuleKind, ruleId: string): Promise<PushRule> {
    const r = findRule(await this.getRuleset(userId), kind, ruleId);
    if (!r) throw notFound("The push rule was not found.");
    return r;
  }

  putRule(userId: string, kind: PushRuleKind, rule: Omit<CustomRule, "enabled">, pos: { before?: string; after?: string }): Promise<void> {
    return this.change(userId, (cur) => {
      const next = putCustomRule(cur, kind, rule, pos);
      if ((next.custom[kind]?.length ?? 0) > MAX_CUSTOM_RULES_PER_KIND) {
        throw new MatrixError(400, "M_INVALID_PARAM", `At most ${MAX_CUSTOM_RULES_PER_KIND} rules of one kind`);
      }
      return next;
    });
  }

  deleteRule(userId: string, kind: PushRuleKind, ruleId: string): Promise<void> {
    return this.change(userId, (cur) => deleteCustomRule(cur, kind, ruleId));
  }

  setEnabled(userId: string, kind: PushRuleKind, ruleId: string, enabled: boolean): Promise<void> {
    return this.change(userId, (cur) => setRuleAttr(userId, cur, kind, ruleId, { enabled }));
  }

  setActions(userId: string, kind: PushRuleKind, ruleId: string, actions: PushAction[]): Promise<void> {
    return this.change(userId, (cur) => setRuleAttr(userId, cur, kind, ruleId, { actions }));
  }

  private change(userId: string, fn: (cur: PushRuleChanges) => PushRuleChanges): Promise<void> {
    const prev = this.queues.get(userId) ?? Promise.resolve();
    const run = prev
      .catch(() => undefined)
      .then(async () => {
        let changes: PushRuleChanges;
        try {
          changes = await this.repo.updateChanges(userId, (cur) => fn(cur ?? emptyChanges()));
        } catch (err) {
          toMatrixError(err);
        }
        await this.accountData.putGlobal(userId, "m.push_rules", { global: mergePushRules(userId, changes) });
      });
    this.queues.set(userId, run);
    void run
      .finally(() => {
        if (this.queues.get(userId) === run) this.queues.delete(userId);
      })
      .catch(() => undefined);
    return run;
  }
}
