import { ZERO_TOKEN, type StreamName, type StreamToken } from "./tokens.js";

/**
 * Wakes waiting /sync requests. It carries positions, never data (docs/ARCHITECTURE.md):
 * a woken request re-reads its streams from its token, so it can neither miss
 * nor duplicate anything. Keys are user ids and room ids: a change is announced
 * for the rooms and users it concerns, and a waiter listens on its own user id
 * and the rooms it is in.
 */
export interface ChangeKeys {
  userIds?: readonly string[];
  roomIds?: readonly string[];
}

interface Waiter {
  keys: readonly string[];
  since: StreamToken;
  resolve: (woken: boolean) => void;
}

export class Notifier {
  /** Per key, per stream: the latest position announced for that key. */
  private readonly lastChange = new Map<string, Partial<Record<StreamName, number>>>();
  private readonly waiters = new Map<string, Set<Waiter>>();
  private waiting = 0;
  /** Per stream, the highest position announced (or seeded at start): all below it is committed. */
  private readonly heads: Record<StreamName, number> = { ...ZERO_TOKEN };
  private readonly taps = new Set<(stream: StreamName, position: number, keys: ChangeKeys) => void>();

  /**
   * Subscribes to every announcement (outbound senders wake on them, then
   * re-read from storage as waiters do). Returns the unsubscribe function.
   */
  tap(fn: (stream: StreamName, position: number, keys: ChangeKeys) => void): () => void {
    this.taps.add(fn);
    return () => this.taps.delete(fn);
  }

  /** Sets a stream's head from storage at start-up (positions committed before this process ran). */
  seed(stream: StreamName, position: number): void {
    if (position > this.heads[stream]) this.heads[stream] = position;
  }

  /**
   * The highest announced position of a stream. Writers of a stream commit in
   * position order and announce after commit, so everything up to it is readable.
   */
  head(stream: StreamName): number {
    return this.heads[stream];
  }

  /** Announces that `stream` reached `position` for the given users and rooms. Call after commit. */
  notify(stream: StreamName, position: number, keys: ChangeKeys): void {
    if (position > this.heads[stream]) this.heads[stream] = position;
    const all = [...(keys.userIds ?? []).map(userKey), ...(keys.roomIds ?? []).map(roomKey)];
    const woken = new Set<Waiter>();
    for (const key of all) {
      let entry = this.lastChange.get(key);
      if (!entry) this.lastChange.set(key, (entry = {}));
      if ((entry[stream] ?? 0) < position) entry[stream] = position;
      const set = this.waiters.get(key);
      if (!set) continue;
      for (const w of set) if (w.since[stream] < position) woken.add(w);
    }
    for (const w of woken) this.finish(w, true);
    for (const t of this.taps) {
      try {
        t(stream, position, keys);
      } catch {
        // A faulty subscriber must not break the writer that announced.
      }
    }
  }

  /**
   * Resolves true as soon as something concerning `keys` moved past `since`
   * (at once if it already has), false after `timeoutMs` or when `signal` aborts.
   * Registration and the check happen in one synchronous step, so a change
   * announced while the caller assembled its previous response is never lost.
   */
  wait(keys: ChangeKeys, since: StreamToken, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    const list = [...(keys.userIds ?? []).map(userKey), ...(keys.roomIds ?? []).map(roomKey)];
    if (this.hasChangedSince(list, since)) return Promise.resolve(true);
    if (timeoutMs <= 0 || signal?.aborted) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => this.finish(waiter, false), timeoutMs);
      const onAbort = () => this.finish(waiter, false);
      const waiter: Waiter = {
        keys: list,
        since,
        resolve: (woken) => {
          clearTimeout(timer);
          signal?.removeEventListener("abort", onAbort);
          resolve(woken);
        },
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      for (const key of list) {
        let set = this.waiters.get(key);
        if (!set) this.waiters.set(key, (set = new Set()));
        set.add(waiter);
      }
      this.waiting++;
    });
  }

  /** Number of requests currently waiting (for metrics and leak tests). */
  get waitingCount(): number {
    return this.waiting;
  }

  private hasChangedSince(keys: readonly string[], since: StreamToken): boolean {
    for (const key of keys) {
      const entry = this.lastChange.get(key);
      if (!entry) continue;
      for (const [stream, pos] of Object.entries(entry) as Array<[StreamName, number]>) if (pos > since[stream]) return true;
    }
    return false;
  }

  private finish(waiter: Waiter, woken: boolean): void {
    let registered = false;
    for (const key of waiter.keys) {
      const set = this.waiters.get(key);
      if (!set?.delete(waiter)) continue;
      registered = true;
      if (set.size === 0) this.waiters.delete(key);
    }
    if (!registered) return; // already finished
    this.waiting--;
    waiter.resolve(woken);
  }
}

const userKey = (id: string) => `u:${id}`;
const roomKey = (id: string) => `r:${id}`;
