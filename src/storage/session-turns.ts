/**
 * Turns on a single database session, first come first served, one turn per
 * event-loop iteration.
 *
 * PGlite runs PostgreSQL synchronously in this thread: its promises settle as
 * microtasks, so a request that reaches the database runs to completion
 * inside the socket callback that started it. libuv then reads every ready
 * socket (one whole request each) in a single poll phase and accepts at most
 * one new connection per phase, so under load that phase lasts seconds and new
 * connections wait tens of seconds to be accepted. Starting every turn from
 * setImmediate keeps socket callbacks short (they only queue their work), lets
 * the loop poll between turns, and lets sends that arrive meanwhile join the
 * room writer's next batch. A turn is one statement outside a transaction or
 * one whole transaction; nothing jumps the queue, so a read waits for at most
 * the turns queued before it.
 */
export class SessionTurns {
  private readonly queue: Array<() => Promise<void>> = [];
  private running = false;

  run<T>(work: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push(() => work().then(resolve, reject));
      if (!this.running) {
        this.running = true;
        setImmediate(() => void this.turn());
      }
    });
  }

  /** Turns queued and not started yet. */
  get waiting(): number {
    return this.queue.length;
  }

  private async turn(): Promise<void> {
    const next = this.queue.shift();
    if (!next) {
      this.running = false;
      return;
    }
    await next();
    setImmediate(() => void this.turn());
  }
}
