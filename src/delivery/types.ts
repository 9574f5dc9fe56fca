import type { StreamEventRef } from "../storage/delivery-repo.js";

export type { StreamEventRef };

/** Kind-specific positions in streams other than room events (JSON, stored with the position). */
export type DeliveryCursor = Record<string, unknown>;

export interface Prepared {
  /**
   * The transaction body to send (JSON), or undefined when nothing in the
   * batch concerns the destination: the position then moves on without a send.
   */
  payload: unknown;
  /** The cursor once this transaction is delivered. */
  cursor: DeliveryCursor;
  /** True when the kind knows more is waiting in its own streams (read again at once). */
  more?: boolean;
}

/**
 * What a destination kind (appservice, pusher, federation) supplies. The
 * worker calls `prepare` with the room events after the position (in stream
 * order, at most `batchSize`), persists what it returns, then calls `send`
 * until it succeeds; a retry, also after a restart, sends the same `txnId`
 * with the same payload.
 */
export interface DeliveryKind {
  readonly kind: string;
  /** The cursor of a destination seen for the first time (usually the other streams' heads). */
  initialCursor(destination: string): Promise<DeliveryCursor>;
  prepare(destination: string, events: readonly StreamEventRef[], cursor: DeliveryCursor): Promise<Prepared>;
  /** Throws to retry later with backoff; `signal` aborts when the worker stops. */
  send(destination: string, txnId: string, payload: unknown, signal: AbortSignal): Promise<void>;
}

export interface DeliveryOptions {
  /** Room events read per transaction (default 100). */
  batchSize?: number;
  /** First retry delay; doubles per consecutive failure (default 1 s)... */
  minBackoffMs?: number;
  /** ...up to this cap (default 5 minutes). */
  maxBackoffMs?: number;
  /** An idle worker looks again this often even without a wake (default 30 s). */
  idlePollMs?: number;
  /** How often a destination leased by another process is retried (default 30 s). */
  leaseRetryMs?: number;
}

export const DEFAULT_DELIVERY_OPTIONS: Required<DeliveryOptions> = {
  batchSize: 100,
  minBackoffMs: 1_000,
  maxBackoffMs: 5 * 60_000,
  idlePollMs: 30_000,
  leaseRetryMs: 30_000,
};
