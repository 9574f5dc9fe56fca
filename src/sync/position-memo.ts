/**
 * Reads whose answer can only change when a stream moves, shared between the
 * /sync requests the notifier wakes together (200 waiters in one room would
 * otherwise each re-read the same rows). An entry is reused only while the
 * stream's position is the one read *before* the entry was computed: every
 * writer commits before it advances the position (docs/ARCHITECTURE.md
 * "Streams and tokens"), so a cached answer is never older than a fresh read at the time
 * the position was taken. Concurrent callers share one in-flight read.
 * Callers must not mutate what they get.
 */
export class PositionMemo<T> {
  private readonly entries = new Map<string, { pos: number; value: Promise<T> }>();

  constructor(
    private readonly position: () => number,
    private readonly maxEntries = 10_000,
  ) {}

  /** The remembered answer for `key` at the current position, else `read()`'s. */
  get(key: string, read: () => Promise<T>): Promise<T> {
    const pos = this.position();
    const hit = this.entries.get(key);
    if (hit && hit.pos === pos) return hit.value;
    const value = read();
    this.entries.delete(key);
    if (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    const entry = { pos, value };
    this.entries.set(key, entry);
    // A failed read is not remembered: the next caller tries again.
    value.catch(() => {
      if (this.entries.get(key) === entry) this.entries.delete(key);
    });
    return value;
  }

  get size(): number {
    return this.entries.size;
  }
}
