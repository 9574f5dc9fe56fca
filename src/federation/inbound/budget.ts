/**
 * Limits on what one piece of inbound work (filling one gap, one backfill,
 * the auth events of one PDU) may fetch from other servers: a count of
 * requests, the bytes of their answers, and a deadline. A remote that sends
 * too much, or too slowly, makes the work stop where it is, never the server.
 */
export interface BudgetLimits {
  requests: number;
  bytes: number;
  ms: number;
}

export class BudgetExhausted extends Error {
  constructor(what: string) {
    super(`fetch budget exhausted: ${what}`);
    this.name = "BudgetExhausted";
  }
}

export class FetchBudget {
  private requestsLeft: number;
  private bytesLeft: number;
  readonly deadline: number;

  constructor(
    limits: BudgetLimits,
    private readonly now: () => number = Date.now,
  ) {
    this.requestsLeft = limits.requests;
    this.bytesLeft = limits.bytes;
    this.deadline = now() + limits.ms;
  }

  /** Takes one request; throws when none is left or the deadline has passed. */
  take(): void {
    if (this.now() >= this.deadline) throw new BudgetExhausted("deadline passed");
    if (this.requestsLeft <= 0) throw new BudgetExhausted("too many requests");
    this.requestsLeft--;
  }

  /** The most bytes the next answer may have (at most `cap`). */
  maxBytes(cap: number): number {
    if (this.bytesLeft <= 0) throw new BudgetExhausted("too many bytes");
    return Math.min(cap, this.bytesLeft);
  }

  /** Counts an answer's size. */
  spend(bytes: number): void {
    this.bytesLeft -= bytes;
  }

  get msLeft(): number {
    return Math.max(0, this.deadline - this.now());
  }

  get expired(): boolean {
    return this.now() >= this.deadline || this.requestsLeft <= 0 || this.bytesLeft <= 0;
  }
}

/** Filling one gap in a live PDU's history (get_missing_events, then /state_ids and /event). */
export const GAP_BUDGET: BudgetLimits = { requests: 600, bytes: 32 * 1024 * 1024, ms: 45_000 };
/** One backfill for a client's /messages (the client waits for it). */
export const BACKFILL_BUDGET: BudgetLimits = { requests: 400, bytes: 16 * 1024 * 1024, ms: 15_000 };
/** The missing auth events of one received PDU. */
export const AUTH_BUDGET: BudgetLimits = { requests: 100, bytes: 8 * 1024 * 1024, ms: 30_000 };
