/** A small least-recently-used cache on Map's insertion order. */
export class Lru<K, V> {
  private readonly map = new Map<K, V>();
  private weight = 0;

  /**
   * At most `capacity` entries; with `weigh`, also at most `maxWeight` in total
   * (the newest entry is kept even when it alone weighs more).
   */
  constructor(
    private readonly capacity: number,
    private readonly limit?: { weigh: (value: V) => number; maxWeight: number },
  ) {}

  get size(): number {
    return this.map.size;
  }

  get(key: K): V | undefined {
    const v = this.map.get(key);
    if (v !== undefined) {
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }

  set(key: K, value: V): void {
    this.delete(key);
    this.map.set(key, value);
    if (this.limit) this.weight += this.limit.weigh(value);
    while (this.map.size > this.capacity || (this.limit !== undefined && this.weight > this.limit.maxWeight && this.map.size > 1)) {
      this.delete(this.map.keys().next().value as K);
    }
  }

  delete(key: K): void {
    if (this.limit) {
      const old = this.map.get(key);
      if (old !== undefined) this.weight -= this.limit.weigh(old);
    }
    this.map.delete(key);
  }
}
