/** Keys per statement: bounds the array parameters of one batched read. */
const MAX_BATCH = 1000;

interface Waiting<K, V> {
  key: K;
  resolve: Array<(v: V) => void>;
  reject: Array<(err: unknown) => void>;
}

/**
 * Reads of one kind asked for during one turn of the event loop, answered by
 * one statement for all of them. The /sync requests a notification wakes all
 * resume together and each reads its own user's rows (memberships, counters,
 * key counts): coalesced, that is one round trip per kind instead of one per
 * request. Reads outside transactions only: each answer is as fresh as a
 * statement started when the caller asked, or later.
 */
export class Coalescer<K, V> {
  private pending = new Map<string, Waiting<K, V>>();
  private scheduled = false;

  /**
   * @param keyOf identity of a key (equal keys share one answer)
   * @param read answers a batch of keys, by identity; a missing identity answers `absent`
   */
  constructor(
    private readonly keyOf: (key: K) => string,
    private readonly read: (keys: K[]) => Promise<Map<string, V>>,
    private readonly absent: () => V,
  ) {}

  load(key: K): Promise<V> {
    return new Promise<V>((resolve, reject) => {
      const id = this.keyOf(key);
      let w = this.pending.get(id);
      if (!w) {
        w = { key, resolve: [], reject: [] };
        this.pending.set(id, w);
      }
      w.resolve.push(resolve);
      w.reject.push(reject);
      if (!this.scheduled) {
        this.scheduled = true;
        // After the current turn: every request woken by the same notification has asked by then.
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    const all = [...this.pending.entries()];
    this.pending = new Map();
    for (let i = 0; i < all.length; i += MAX_BATCH) {
      const chunk = all.slice(i, i + MAX_BATCH);
      this.read(chunk.map(([, w]) => w.key)).then(
        (answers) => {
          for (const [id, w] of chunk) {
            for (const r of w.resolve) r(answers.has(id) ? answers.get(id)! : this.absent());
          }
        },
        (err: unknown) => {
          for (const [, w] of chunk) for (const r of w.reject) r(err);
        },
      );
    }
  }
}
