/**
 * One writer per room (docs/ARCHITECTURE.md): work for a room runs strictly one task
 * after another, while other rooms proceed in parallel. The database-side
 * advisory lock taken by the writer covers other processes.
 */
export class RoomQueue {
  private readonly tails = new Map<string, Promise<unknown>>();

  run<T>(roomId: string, task: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(roomId) ?? Promise.resolve();
    const result = prev.then(task, task);
    const tail = result.catch(() => undefined);
    this.tails.set(roomId, tail);
    void tail.then(() => {
      if (this.tails.get(roomId) === tail) this.tails.delete(roomId);
    });
    return result;
  }
}
