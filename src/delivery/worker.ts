import type { DeliveryPositionRow, DeliveryRepo } from "../storage/delivery-repo.js";
import type { DeliveryKind, DeliveryOptions } from "./types.js";
import type { LeaseManager } from "./lease.js";

export interface WorkerDeps {
  repo: DeliveryRepo;
  lease: LeaseManager;
  kind: DeliveryKind;
  destination: string;
  /** Highest committed room-event position (nothing at or below it is still in flight). */
  upTo(): number;
  now(): number;
  options: Required<DeliveryOptions>;
  onError(err: unknown, failures: number): void;
}

/** Backoff after `failures` consecutive failures: min * 2^(failures-1), capped. */
export function backoffMs(failures: number, minMs: number, maxMs: number): number {
  if (failures <= 0) return 0;
  return Math.min(maxMs, minMs * 2 ** Math.min(failures - 1, 30));
}

/**
 * The sender of one destination: reads what follows its durable position,
 * sends it as one transaction at a time, and advances only after success.
 */
export class DestinationWorker {
  private stopped = false;
  private woken = false;
  private sleeper: { resolve: () => void; interruptibleByWake: boolean } | undefined;
  private readonly abort = new AbortController();
  private row: DeliveryPositionRow | undefined;
  private readonly loop: Promise<void>;
  private readonly leaseName: string;

  constructor(private readonly d: WorkerDeps) {
    this.leaseName = `delivery/${d.kind.kind}/${d.destination}`;
    this.loop = this.run();
  }

  /** Something new may be readable: idle workers look again at once. */
  wake(): void {
    this.woken = true;
    if (this.sleeper?.interruptibleByWake) this.sleeper.resolve();
  }

  /** Ends a backoff now (the destination said it is back). */
  retryNow(): void {
    this.woken = true;
    this.sleeper?.resolve();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    this.sleeper?.resolve();
    await this.loop;
    await this.d.lease.release(this.leaseName);
  }

  private async run(): Promise<void> {
    const { options } = this.d;
    let failures = 0;
    let started = false;
    while (!this.stopped) {
      if (!(await this.d.lease.acquire(this.leaseName))) {
        // Another process sends to this destination; take over if it goes away.
        this.row = undefined;
        await this.sleep(options.leaseRetryMs, false);
        continue;
      }
      this.woken = false;
      try {
        if (!this.row) {
          // What is durable is the truth: (re-)read after start, a failure or a lost lease.
          this.row = await this.d.repo.ensure(this.d.kind.kind, this.d.destination, {
            streamPos: this.d.upTo(),
            cursor: await this.d.kind.initialCursor(this.d.destination),
            txnSeq: this.d.now(),
            now: this.d.now(),
          });
          if (!started) {
            started = true;
            // A backoff in progress before a restart carries on.
            failures = this.row.failures;
            if (failures > 0) await this.sleep(backoffMs(failures, options.minBackoffMs, options.maxBackoffMs), false);
            continue;
          }
        }
        const more = await this.step(this.row);
        failures = 0;
        if (!more) await this.sleep(options.idlePollMs, true);
      } catch (err) {
        if (this.stopped) break;
        failures += 1;
        this.d.onError(err, failures);
        this.row = undefined;
        await this.d.repo.recordFailure(this.d.kind.kind, this.d.destination, failures, this.d.now()).catch(() => undefined);
        await this.sleep(backoffMs(failures, options.minBackoffMs, options.maxBackoffMs), false);
      }
    }
  }

  /** One transaction (or one skip over uninteresting events). True when there may be more to do. */
  private async step(row: DeliveryPositionRow): Promise<boolean> {
    const { kind, destination, repo, options } = this.d;
    if (row.pending) {
      await this.send(row, row.pending.to, row.pending.cursor, row.pending.payload);
      return true;
    }
    const upTo = Math.max(this.d.upTo(), row.streamPos);
    const events = upTo > row.streamPos ? await repo.eventsAfter(row.streamPos, upTo, options.batchSize) : [];
    const full = events.length === options.batchSize;
    const to = full ? events[events.length - 1]!.streamOrdering : upTo;
    const prepared = await kind.prepare(destination, events, row.cursor);
    if (prepared.payload === undefined) {
      const cursorMoved = JSON.stringify(prepared.cursor) !== JSON.stringify(row.cursor);
      if (to > row.streamPos || cursorMoved) {
        await repo.advance(kind.kind, destination, to, prepared.cursor, false, this.d.now());
        this.row = { ...row, streamPos: to, cursor: prepared.cursor };
      }
      return full || prepared.more === true;
    }
    const pending = { to, cursor: prepared.cursor, payload: prepared.payload };
    await repo.setPending(kind.kind, destination, pending, this.d.now());
    const withPending = { ...row, pending };
    this.row = withPending;
    await this.send(withPending, to, prepared.cursor, prepared.payload);
    return true;
  }

  private async send(row: DeliveryPositionRow, to: number, cursor: Record<string, unknown>, payload: unknown): Promise<void> {
    const { kind, destination, repo } = this.d;
    await kind.send(destination, String(row.txnSeq), payload, this.abort.signal);
    await repo.advance(kind.kind, destination, to, cursor, true, this.d.now());
    this.row = { ...row, streamPos: Math.max(row.streamPos, to), cursor, txnSeq: row.txnSeq + 1, pending: undefined, failures: 0 };
  }

  private sleep(ms: number, interruptibleByWake: boolean): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (interruptibleByWake && this.woken) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      timer.unref?.();
      const self = this;
      function done() {
        clearTimeout(timer);
        if (self.sleeper?.resolve === done) self.sleeper = undefined;
        resolve();
      }
      this.sleeper = { resolve: done, interruptibleByWake };
    });
  }
}
