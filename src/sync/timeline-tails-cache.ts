import type { EventRef, SyncRepo } from "../storage/sync-repo.js";
import { PositionMemo } from "./position-memo.js";

// Windows kept; a wake of many waiters asks for a handful of distinct ones.
const MAX_WINDOWS = 256;

/**
 * "Which events are in these rooms between positions a and b", shared by the
 * /sync requests one notification wakes. The answer for a window (a, b] with
 * b at or below the rooms writer's persisted-up-to position never changes:
 * positions are gap-free for readers and an event's outlier and rejection
 * flags are fixed once it has a stream position. Only references are cached;
 * the events themselves (redactions), history visibility, ignored users and
 * filters are applied per viewer after, exactly as without the cache.
 */
export class TimelineTailsCache {
  private readonly memo: PositionMemo<Map<string, EventRef[]>>;

  constructor(
    private readonly repo: Pick<SyncRepo, "timelineTails">,
    private readonly persistedUpTo: () => number,
  ) {
    // The key holds the whole window, so the memo's position never changes it.
    this.memo = new PositionMemo(() => 0, MAX_WINDOWS);
  }

  timelineTails(roomIds: readonly string[], since: number, upto: number, n: number): Promise<Map<string, EventRef[]>> {
    // A window not yet fully persisted may still fill in: read it directly.
    if (upto > this.persistedUpTo() || roomIds.length === 0) return this.repo.timelineTails(roomIds, since, upto, n);
    const sorted = [...roomIds].sort();
    const key = `${since}:${upto}:${n}:${sorted.join("\n")}`;
    return this.memo.get(key, () => this.repo.timelineTails(sorted, since, upto, n));
  }
}
