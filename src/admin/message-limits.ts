import { Ratelimiter } from "../http/rate-limit.js";
import type { AdminRepo } from "../storage/admin-repo.js";

export interface MessageLimitsDeps {
  admin: AdminRepo;
  /** `rate_limits.enabled` and the `messages_per_user` rule; off when the rule is null. */
  enabled: boolean;
  rule: { per_second: number; burst: number } | null;
  now: () => number;
}

// Overrides change rarely and every send asks: cached, and re-read now and then (other processes).
const REFRESH_MS = 30_000;

/**
 * Per-user limit on sending messages, with the admin API's per-user
 * overrides (`override_ratelimit`): an override of 0/0 means no limit.
 */
export class MessageLimits {
  private readonly defaultLimiter: Ratelimiter | undefined;
  private readonly overrideLimiters = new Map<string, { key: string; limiter: Ratelimiter }>();
  private overrides: { rows: Map<string, { messagesPerSecond: number; burstCount: number }>; at: number } | undefined;

  constructor(private readonly d: MessageLimitsDeps) {
    if (d.enabled && d.rule) this.defaultLimiter = new Ratelimiter({ enabled: true, rule: { perSecond: d.rule.per_second, burst: d.rule.burst }, now: d.now });
  }

  /** An override changed: read them again on the next send. */
  invalidate(): void {
    this.overrides = undefined;
  }

  /** Takes one message send for the user, or throws 429 M_LIMIT_EXCEEDED. */
  async check(userId: string): Promise<void> {
    if (!this.defaultLimiter) return;
    const now = this.d.now();
    if (!this.overrides || now - this.overrides.at > REFRESH_MS) this.overrides = { rows: await this.d.admin.allRatelimits(), at: now };
    const o = this.overrides.rows.get(userId);
    if (!o) return this.defaultLimiter.check(userId);
    if (o.messagesPerSecond === 0 && o.burstCount === 0) return;
    const key = `${o.messagesPerSecond}/${o.burstCount}`;
    let entry = this.overrideLimiters.get(userId);
    if (entry?.key !== key) {
      entry = { key, limiter: new Ratelimiter({ enabled: true, rule: { perSecond: o.messagesPerSecond, burst: Math.max(1, o.burstCount) }, now: this.d.now }) };
      this.overrideLimiters.set(userId, entry);
    }
    entry.limiter.check(userId);
  }
}
