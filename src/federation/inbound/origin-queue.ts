/**
 * Received transactions of one origin are processed one after another, in
 * the order they arrived (a sender has one transaction in flight, and its
 * PDUs build on those of the previous one); other origins run alongside.
 */
export class OriginQueue {
  private readonly tails = new Map<string, Promise<unknown>>();

  run<T>(origin: string, task: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(origin) ?? Promise.resolve();
    const result = prev.then(task, task);
    const tail = result.catch(() => undefined);
    this.tails.set(origin, tail);
    void tail.then(() => {
      if (this.tails.get(origin) === tail) this.tails.delete(origin);
    });
    return result;
  }
}
