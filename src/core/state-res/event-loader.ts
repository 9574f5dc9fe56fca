/**
 * Per-resolution event cache over the injected fetch, so every step reads
 * events synchronously once loaded and each id is fetched at most once.
 */
import type { RoomEvent } from "../events/pdu.js";
import { defaultYield, YIELD_EVERY, type StateResDeps } from "./types.js";

export class EventLoader {
  private readonly cache = new Map<string, RoomEvent>();
  private readonly missing = new Set<string>();
  private work = 0;

  constructor(private readonly deps: StateResDeps) {}

  /** Loads any of `ids` not yet seen. */
  async load(ids: Iterable<string>): Promise<void> {
    const want: string[] = [];
    for (const id of ids) if (!this.cache.has(id) && !this.missing.has(id)) want.push(id);
    if (want.length === 0) return;
    const got = await this.fetch(want);
    for (const id of want) {
      const e = got.get(id);
      if (e === undefined) this.missing.add(id);
      else this.cache.set(id, e);
    }
  }

  private async fetch(ids: readonly string[]): Promise<ReadonlyMap<string, RoomEvent>> {
    if (this.deps.fetchEvents !== undefined) return this.deps.fetchEvents(ids);
    const one = this.deps.fetchEvent;
    if (one === undefined) throw new Error("state resolution needs fetchEvents or fetchEvent");
    const events = await Promise.all(ids.map((id) => one(id)));
    const out = new Map<string, RoomEvent>();
    events.forEach((e, i) => {
      if (e !== undefined) out.set(ids[i], e);
    });
    return out;
  }

  get(id: string): RoomEvent | undefined {
    return this.cache.get(id);
  }

  isRejected(id: string): boolean {
    return this.deps.isRejected?.(id) ?? false;
  }

  /** Counts work and yields to the event loop every YIELD_EVERY units. */
  async tick(units = 1): Promise<void> {
    this.work += units;
    if (this.work >= YIELD_EVERY) {
      this.work = 0;
      await (this.deps.yieldToEventLoop ?? defaultYield)();
    }
  }

  /**
   * Union of auth chains of `ids` (not including `ids` themselves unless
   * reachable). Uses the injected index when available, else walks
   * auth_events breadth-first, one fetch per layer.
   */
  async authChain(ids: readonly string[]): Promise<Set<string>> {
    if (this.deps.authChain !== undefined) return new Set(await this.deps.authChain(ids));
    await this.load(ids);
    const seen = new Set<string>();
    let frontier: string[] = [];
    for (const id of ids) for (const a of this.get(id)?.authEvents ?? []) if (!seen.has(a)) { seen.add(a); frontier.push(a); }
    while (frontier.length > 0) {
      await this.load(frontier);
      const next: string[] = [];
      for (const id of frontier) {
        for (const a of this.get(id)?.authEvents ?? []) {
          if (!seen.has(a)) {
            seen.add(a);
            next.push(a);
          }
        }
      }
      await this.tick(frontier.length);
      frontier = next;
    }
    return seen;
  }
}
