import { MatrixError } from "./errors.js";

export interface RateLimitRule {
  /** Sustained rate: actions per second. */
  perSecond: number;
  /** Actions allowed in a burst before the rate applies. */
  burst: number;
}

export interface RatelimiterOptions {
  /** `rate_limits.enabled`: when false every check passes. */
  enabled: boolean;
  rule: RateLimitRule;
  now?: () => number;
  /** Buckets kept before idle ones are dropped, so memory stays bounded. */
  maxKeys?: number;
}

interface Bucket {
  level: number;
  updated: number;
}

/**
 * A leaky bucket per key (an IP address, a user id...). Each action adds one
 * (or `cost`) to the bucket, which drains at `perSecond`; an action that would
 * overflow `burst` is refused with 429 M_LIMIT_EXCEEDED and `retry_after_ms`
 * (spec "Rate limiting"). In-process: each server process limits on its own.
 */
export class Ratelimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly now: () => number;
  private readonly maxKeys: number;

  constructor(private readonly opts: RatelimiterOptions) {
    this.now = opts.now ?? Date.now;
    this.maxKeys = opts.maxKeys ?? 100_000;
  }

  get enabled(): boolean {
    return this.opts.enabled;
  }

  private level(key: string, now: number): number {
    const b = this.buckets.get(key);
    if (!b) return 0;
    return Math.max(0, b.level - ((now - b.updated) / 1000) * this.opts.rule.perSecond);
  }

  /** Milliseconds until `cost` more actions would be allowed; 0 when allowed now. Takes nothing. */
  retryAfter(key: string, cost = 1): number {
    if (!this.opts.enabled) return 0;
    const over = this.level(key, this.now()) + cost - this.opts.rule.burst;
    if (over <= 0) return 0;
    return Math.ceil((over / this.opts.rule.perSecond) * 1000);
  }

  /** Records `cost` actions for `key` without checking (e.g. a failed login). */
  record(key: string, cost = 1): void {
    if (!this.opts.enabled) return;
    const now = this.now();
    const level = this.level(key, now) + cost;
    this.buckets.delete(key); // re-insert: Map order becomes least-recently-used first
    this.buckets.set(key, { level, updated: now });
    if (this.buckets.size > this.maxKeys) this.prune(now);
  }

  /** Takes `cost` actions for `key`, or throws 429 M_LIMIT_EXCEEDED and takes nothing. */
  check(key: string, cost = 1): void {
    const wait = this.retryAfter(key, cost);
    if (wait > 0) throw limitExceeded(wait);
    this.record(key, cost);
  }

  /** Throws 429 if `key` is over the limit, without taking anything. */
  ensureNotLimited(key: string): void {
    const wait = this.retryAfter(key, 1);
    if (wait > 0) throw limitExceeded(wait);
  }

  private prune(now: number): void {
    for (const [key] of this.buckets) {
      if (this.buckets.size <= this.maxKeys * 0.9) break;
      if (this.level(key, now) === 0 || this.buckets.size > this.maxKeys) this.buckets.delete(key);
    }
  }
}

export function limitExceeded(retryAfterMs: number): MatrixError {
  return new MatrixError(
    429,
    "M_LIMIT_EXCEEDED",
    "Too many requests",
    { retry_after_ms: retryAfterMs },
    { "Retry-After": String(Math.max(1, Math.ceil(retryAfterMs / 1000))) },
  );
}
