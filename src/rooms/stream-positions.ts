import type { SqlQueryable } from "../storage/sql.js";
import type { EventPersisted } from "./event-bus.js";

/**
 * What the room writer and the readers need of room-event positions. One
 * process uses `StreamPositions`; several processes on one database use the
 * cluster tracker (src/cluster/event-positions.ts), which learns of the other
 * processes' positions over PostgreSQL LISTEN/NOTIFY.
 */
export interface PositionTracker {
  /** The highest position readers may read up to: nothing at or below it is still in flight. */
  readonly persistedUpTo: number;
  /** A new position from `nextFromSequence` (run inside the writer's transaction), in flight until `commit` or `abandon`. */
  allocate(nextFromSequence: () => Promise<number>): Promise<number>;
  /** Several positions from one call of `nextFromSequence` (ascending), each in flight as with `allocate`. */
  allocateMany(nextFromSequence: () => Promise<readonly number[]>): Promise<number[]>;
  commit(position: number, notification?: EventPersisted): void;
  abandon(position: number): void;
  /**
   * Runs inside the writer's transaction just before it commits, with what it
   * wrote: `invalidated` are event ids whose cached copies are now stale.
   */
  sealing?(tx: SqlQueryable, positions: readonly number[], notifications: readonly EventPersisted[], invalidated: readonly string[]): Promise<void>;
}

/**
 * Hands out room-event stream positions and tracks which are committed, so
 * readers never see position N+1 before N is committed (docs/ARCHITECTURE.md
 * "Streams and tokens"). Rooms write in parallel, so positions can commit out of
 * order; `persistedUpTo` is the highest position below which nothing is still
 * in flight. Allocation is serialised in process, so a position is registered
 * as in flight before any later one can be handed out.
 *
 * Scope: one writer process per database (the default, and PGlite always).
 */
export class StreamPositions implements PositionTracker {
  private readonly inFlight = new Set<number>();
  /** Committed positions above `upTo`, waiting for gaps below to close, with their notifications. */
  private readonly done = new Map<number, EventPersisted[]>();
  private maxAllocated: number;
  private upTo: number;
  private allocating: Promise<unknown> = Promise.resolve();

  constructor(
    start: number,
    private readonly publish: (n: EventPersisted) => void,
  ) {
    this.maxAllocated = start;
    this.upTo = start;
  }

  /** The highest position readers may read up to. */
  get persistedUpTo(): number {
    return this.upTo;
  }

  /**
   * A new position from `nextFromSequence` (run inside the writer's transaction),
   * registered as in flight; finish it with `commit` or `abandon`.
   */
  allocate(nextFromSequence: () => Promise<number>): Promise<number> {
    return this.allocateMany(async () => [await nextFromSequence()]).then((ps) => ps[0]!);
  }

  allocateMany(nextFromSequence: () => Promise<readonly number[]>): Promise<number[]> {
    const next = this.allocating.then(async () => {
      const ps = [...(await nextFromSequence())];
      for (const p of ps) {
        this.inFlight.add(p);
        if (p > this.maxAllocated) this.maxAllocated = p;
      }
      return ps;
    });
    this.allocating = next.catch(() => undefined);
    return next;
  }

  commit(position: number, notification?: EventPersisted): void {
    if (!this.inFlight.delete(position)) return;
    this.done.set(position, notification ? [notification] : []);
    this.advance();
  }

  /** A position whose transaction rolled back: it becomes a permanent, harmless gap. */
  abandon(position: number): void {
    if (!this.inFlight.delete(position)) return;
    this.done.set(position, []);
    this.advance();
  }

  private advance(): void {
    let limit = this.maxAllocated;
    for (const p of this.inFlight) if (p - 1 < limit) limit = p - 1;
    if (limit <= this.upTo) return;
    const ready = [...this.done.keys()].filter((p) => p <= limit).sort((a, b) => a - b);
    this.upTo = limit;
    for (const p of ready) {
      const ns = this.done.get(p)!;
      this.done.delete(p);
      for (const n of ns) this.publish(n);
    }
  }
}
