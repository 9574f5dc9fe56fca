import type { LeaseSession } from "../storage/delivery-repo.js";
import { DeliveryRepo } from "../storage/delivery-repo.js";
import type { Sql } from "../storage/sql.js";
import { LeaseManager } from "./lease.js";
import { DEFAULT_DELIVERY_OPTIONS, type DeliveryKind, type DeliveryOptions } from "./types.js";
import { DestinationWorker } from "./worker.js";

export interface DeliveryServiceDeps {
  sql: Sql;
  /** Highest committed room-event stream position (rooms' `positions.persistedUpTo`). */
  upTo(): number;
  /** Subscribes to "the room-event stream moved" (the rooms' event bus); returns the unsubscribe. */
  onStreamAdvance(listener: () => void): () => void;
  now?: () => number;
  onError?: (err: unknown, info: { kind: string; destination: string; failures: number }) => void;
  options?: DeliveryOptions;
}

const LEASE_CHECK_MS = 30_000;

/** Runs one worker per started destination; see index.ts. */
export class DeliveryService {
  private readonly kinds = new Map<string, { kind: DeliveryKind; options: Required<DeliveryOptions> }>();
  private readonly workers = new Map<string, DestinationWorker>();
  private readonly repo: DeliveryRepo;
  private readonly lease: LeaseManager;
  private readonly options: Required<DeliveryOptions>;
  private readonly unsubscribe: () => void;
  private readonly leaseTimer: NodeJS.Timeout;
  private closed = false;

  constructor(private readonly d: DeliveryServiceDeps) {
    this.repo = new DeliveryRepo(d.sql);
    this.options = { ...DEFAULT_DELIVERY_OPTIONS, ...stripUndefined(d.options ?? {}) };
    this.lease = new LeaseManager(() => openLeaseSession(d.sql));
    this.unsubscribe = d.onStreamAdvance(() => this.wake());
    this.leaseTimer = setInterval(() => void this.lease.verify(), LEASE_CHECK_MS);
    this.leaseTimer.unref();
  }

  /** Registers a destination kind; `options` override the service's for its workers. */
  addKind(kind: DeliveryKind, options: DeliveryOptions = {}): void {
    this.kinds.set(kind.kind, { kind, options: { ...this.options, ...stripUndefined(options) } });
  }

  /** Starts sending to a destination (idempotent); its position is created at the stream's head. */
  start(kind: string, destination: string): void {
    if (this.closed) return;
    const k = this.kinds.get(kind);
    if (!k) throw new Error(`No delivery kind ${kind}`);
    const key = workerKey(kind, destination);
    if (this.workers.has(key)) return;
    this.workers.set(
      key,
      new DestinationWorker({
        repo: this.repo,
        lease: this.lease,
        kind: k.kind,
        destination,
        upTo: this.d.upTo,
        now: this.d.now ?? Date.now,
        options: k.options,
        onError: (err, failures) => this.d.onError?.(err, { kind, destination, failures }),
      }),
    );
  }

  async stop(kind: string, destination: string): Promise<void> {
    const key = workerKey(kind, destination);
    const w = this.workers.get(key);
    this.workers.delete(key);
    await w?.stop();
  }

  /** Idle workers (of one kind, or one destination) look for new data now. */
  wake(kind?: string, destination?: string): void {
    this.forEach(kind, destination, (w) => w.wake());
  }

  /** Ends the backoff of a destination that is known to be reachable again. */
  retryNow(kind: string, destination?: string): void {
    this.forEach(kind, destination, (w) => w.retryNow());
  }

  /** Stops every worker (in-flight sends are aborted; they are retried at next start). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribe();
    clearInterval(this.leaseTimer);
    const all = [...this.workers.values()];
    this.workers.clear();
    await Promise.all(all.map((w) => w.stop()));
    await this.lease.close();
  }

  private forEach(kind: string | undefined, destination: string | undefined, fn: (w: DestinationWorker) => void): void {
    if (kind !== undefined && destination !== undefined) {
      const w = this.workers.get(workerKey(kind, destination));
      if (w) fn(w);
      return;
    }
    const prefix = kind === undefined ? "" : `${kind}\u0000`;
    for (const [key, w] of this.workers) if (key.startsWith(prefix)) fn(w);
  }
}

function workerKey(kind: string, destination: string): string {
  return `${kind}\u0000${destination}`;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** The lock connection: a reserved connection on PostgreSQL; PGlite's one session otherwise. */
export async function openLeaseSession(sql: Sql): Promise<LeaseSession> {
  if (sql.reserve) return sql.reserve();
  return { query: (text, params) => sql.query(text, params), release: async () => undefined };
}
