/**
 * Serialises the writers of one stream so that positions are committed in
 * the order they are handed out (docs/ARCHITECTURE.md "Streams and tokens": a reader
 * must never see position N+1 before N is committed). Each write allocates
 * its position from a database sequence inside its own transaction and
 * commits before the next write starts; `current` is the last committed
 * position, which is what readers use as their upper bound.
 *
 * Across processes on one database the writes also take an advisory lock
 * (in their repositories), so positions commit in order cluster-wide too;
 * `observe` then follows the positions the other processes committed.
 */
export class StreamWriter {
  private tail: Promise<unknown> = Promise.resolve();
  private position: number;

  constructor(initial: number) {
    this.position = initial;
  }

  /** The highest committed position. */
  get current(): number {
    return this.position;
  }

  /** Another process committed `position` (and, in order, everything below it). */
  observe(position: number): void {
    if (position > this.position) this.position = position;
  }

  /**
   * Runs `write` after every earlier write has finished. `write` commits and
   * returns the position it used, or null when it wrote nothing.
   */
  run(write: () => Promise<number | null>): Promise<number | null> {
    const result = this.tail.then(write).then((pos) => {
      if (pos !== null && pos > this.position) this.position = pos;
      return pos;
    });
    // The next write waits for this one whether it succeeded or failed.
    this.tail = result.catch(() => undefined);
    return result;
  }
}
