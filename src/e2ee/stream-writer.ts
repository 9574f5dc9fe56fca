/**
 * Serialises the writers of one stream so that positions are committed in
 * the order they are handed out (docs/ARCHITECTURE.md "Streams and tokens": a reader
 * must never see position N+1 before N is committed). Each write allocates
 * its position from a database sequence inside its own transaction and
 * commits before the next write starts; `current` is the last committed
 * position, which is what readers use as their upper bound.
 *
 * This holds within one process. Several writer processes on one database
 * would need a cross-process scheme (an advisory lock around the write, or
 * routing all writes of a stream to one process).
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
