import type { EventPersisted } from "../rooms/event-bus.js";
import type { PositionTracker } from "../rooms/stream-positions.js";
import type { SqlQueryable } from "../storage/sql.js";
import { chunks, type ClusterBus, type ClusterMessage } from "./bus.js";

/** How long a gap may wait for its notification before the locks are asked who still holds it. */
const GAP_CHECK_MS = 200;

export interface ClusterPositionsDeps {
  bus: ClusterBus;
  /** Positions whose writer's transaction is still open, in any process. */
  inFlight(): Promise<Set<number>>;
  /** The last position the shared sequence handed out. */
  lastAllocated(): Promise<number>;
  publish(n: EventPersisted): void;
  invalidate(eventIds: readonly string[]): void;
  onError(err: unknown): void;
  /** Readers have waited on position `position`, still being written elsewhere, for `ms`. */
  onSlowGap?(position: number, ms: number): void;
}

interface Notice {
  p: number[];
  n: EventPersisted[];
  x: string[];
}

/**
 * Room-event positions across the processes of one cluster
 * (docs/ARCHITECTURE.md "Streams and tokens"). Every process allocates from the
 * shared sequence; a writer's transaction holds an advisory lock on each
 * position it allocated and announces them in a notification sent with its
 * commit. A process advances `persistedUpTo` over a position once it knows it
 * is done: committed or abandoned here, announced by another process, or, when
 * a gap outlives GAP_CHECK_MS (its writer rolled back or died), no longer
 * locked by anyone. So no reader sees N+1 before N is committed, whichever
 * process wrote either.
 */
export class ClusterPositions implements PositionTracker {
  private readonly local = new Set<number>();
  /** Positions above `upTo` known to be done, with the notifications to publish. */
  private readonly done = new Map<number, EventPersisted[]>();
  private upTo = 0;
  /** The highest position known to be allocated. */
  private maxKnown = 0;
  private allocating: Promise<unknown> = Promise.resolve();
  private gapTimer: NodeJS.Timeout | undefined;
  private checking = false;
  /** When readers last started waiting on a gap (for the slow-gap warning). */
  private stalledSince: number | undefined;
  private closed = false;

  private constructor(private readonly d: ClusterPositionsDeps) {}

  /** Starts following the cluster: listens first, then reads where the stream is, so nothing falls between. */
  static async open(d: ClusterPositionsDeps): Promise<ClusterPositions> {
    const t = new ClusterPositions(d);
    d.bus.on("ev", (m, fromSelf) => {
      if (!fromSelf) t.remote(m);
    });
    // Lost notifications: every position not yet known to be done is asked of the locks.
    d.bus.onReconnect(() => void t.resync());
    await t.resync();
    return t;
  }

  get persistedUpTo(): number {
    return this.upTo;
  }

  allocate(nextFromSequence: () => Promise<number>): Promise<number> {
    return this.allocateMany(async () => [await nextFromSequence()]).then((ps) => ps[0]!);
  }

  allocateMany(nextFromSequence: () => Promise<readonly number[]>): Promise<number[]> {
    const next = this.allocating.then(async () => {
      const ps = [...(await nextFromSequence())];
      for (const p of ps) {
        this.local.add(p);
        if (p > this.maxKnown) this.maxKnown = p;
      }
      return ps;
    });
    this.allocating = next.catch(() => undefined);
    return next;
  }

  async sealing(tx: SqlQueryable, positions: readonly number[], notifications: readonly EventPersisted[], invalidated: readonly string[]): Promise<void> {
    // Positions and notifications are aligned; receivers drop the notified events from their caches too.
    const items = positions.map((p, i) => ({ p, n: notifications[i] }));
    const bodies: Notice[] = chunks(items, 20).map((part) => ({
      p: part.map((it) => it.p),
      n: part.flatMap((it) => (it.n ? [it.n] : [])),
      x: [],
    }));
    const notified = new Set(notifications.map((n) => n.eventId));
    for (const x of chunks(
      invalidated.filter((id) => !notified.has(id)),
      100,
    )) {
      bodies.push({ p: [], n: [], x });
    }
    await this.d.bus.publishIn(tx, "ev", bodies as unknown as Record<string, unknown>[]);
  }

  commit(position: number, notification?: EventPersisted): void {
    if (!this.local.delete(position)) return;
    this.markDone(position, notification ? [notification] : []);
    this.advance();
  }

  abandon(position: number): void {
    if (!this.local.delete(position)) return;
    this.markDone(position, []);
    // Others would find out from the locks; telling them is quicker.
    void this.d.bus.publish("ev", { p: [position], n: [], x: [] });
    this.advance();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.gapTimer);
  }

  private remote(m: ClusterMessage): void {
    const notice = m as unknown as Notice;
    const stale = [...notice.x, ...notice.n.map((n) => n.eventId)];
    if (stale.length > 0) this.d.invalidate(stale);
    const byPos = new Map<number, EventPersisted>();
    for (const n of notice.n) byPos.set(n.streamOrdering, { ...n, remote: true });
    for (const p of notice.p) {
      const n = byPos.get(p);
      if (p <= this.upTo) {
        // Already passed (its lock was seen released first): only its wake-up is left.
        if (n) this.d.publish(n);
        continue;
      }
      if (p > this.maxKnown) this.maxKnown = p;
      this.markDone(p, n ? [n] : []);
    }
    this.advance();
  }

  private markDone(p: number, ns: EventPersisted[]): void {
    const had = this.done.get(p);
    this.done.set(p, had && had.length > ns.length ? had : ns);
  }

  private advance(): void {
    for (;;) {
      const next = this.upTo + 1;
      const ns = this.done.get(next);
      if (!ns) break;
      this.done.delete(next);
      this.upTo = next;
      for (const n of ns) this.d.publish(n);
    }
    // A gap below known positions that is not ours: another process holds it, or held it and is gone.
    if (this.upTo < this.maxKnown && !this.local.has(this.upTo + 1)) this.scheduleGapCheck();
    else if (this.upTo >= this.maxKnown || this.local.has(this.upTo + 1)) this.stalledSince = undefined;
  }

  private scheduleGapCheck(): void {
    if (this.stalledSince === undefined) this.stalledSince = Date.now();
    if (this.gapTimer || this.closed) return;
    this.gapTimer = setTimeout(() => {
      this.gapTimer = undefined;
      void this.checkGaps();
    }, GAP_CHECK_MS);
    this.gapTimer.unref();
  }

  private async checkGaps(): Promise<void> {
    if (this.checking || this.closed) return;
    this.checking = true;
    try {
      const top = this.maxKnown;
      const held = await this.d.inFlight();
      // Everything below the lowest position still being written is done.
      let stop = top + 1;
      for (const p of [...held, ...this.local]) if (p > this.upTo && p < stop && !this.done.has(p)) stop = p;
      const ready = [...this.done.keys()].filter((p) => p < stop).sort((a, b) => a - b);
      for (const p of ready) {
        const ns = this.done.get(p)!;
        this.done.delete(p);
        for (const n of ns) this.d.publish(n);
      }
      if (stop - 1 > this.upTo) this.upTo = stop - 1;
      if (stop <= top && this.stalledSince !== undefined && Date.now() - this.stalledSince > 1000) {
        this.d.onSlowGap?.(stop, Date.now() - this.stalledSince);
      }
      for (let p = stop + 1; p <= top; p++) {
        if (!this.done.has(p) && !this.local.has(p) && !held.has(p)) this.done.set(p, []);
      }
    } catch (err) {
      this.d.onError(err);
    } finally {
      this.checking = false;
    }
    this.advance();
  }

  /** Where the stream is: positions up to the sequence's last value are done unless still locked. */
  private async resync(): Promise<void> {
    try {
      const last = await this.d.lastAllocated();
      if (last > this.maxKnown) this.maxKnown = last;
    } catch (err) {
      this.d.onError(err);
    }
    await this.checkGaps();
  }
}
