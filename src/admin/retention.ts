import { MatrixError, notFound } from "../http/errors.js";
import type { Logger } from "../logging.js";
import type { AdminRoomsRepo } from "../storage/admin-rooms-repo.js";

export interface RetentionConfig {
  enabled: boolean;
  /** Server default for rooms without an `m.room.retention` max_lifetime; null keeps history. */
  default_max_lifetime_ms: number | null;
  purge_interval_ms: number;
}

export interface HistoryPurgeDeps {
  /** Scale-out: whether this process runs the cluster's background jobs (default: it does). */
  leads?: () => boolean;
  repo: AdminRoomsRepo;
  config: RetentionConfig;
  now: () => number;
  randomId: () => string;
  log: Logger;
  /** The purged events leave the caches. */
  onPurged: (eventIds: readonly string[]) => void;
}

type PurgeStatus = "active" | "complete" | "failed";
const MAX_KEPT_STATUSES = 1000;

/**
 * Purging room history: the admin API's purge_history (up to a time or an
 * event) and message retention (`m.room.retention` max_lifetime, or the
 * server default), run periodically. Only message events go; state stays.
 */
export class HistoryPurge {
  private readonly statuses = new Map<string, { status: PurgeStatus; error?: string }>();
  private timer: NodeJS.Timeout | undefined;
  private running = false;

  constructor(private readonly d: HistoryPurgeDeps) {}

  /** Schedules a purge of a room's history; returns its id at once. */
  async schedule(roomId: string, opts: { beforeTs?: number; beforeEventId?: string; includeLocal: boolean }): Promise<string> {
    if (!(await this.d.repo.roomExists(roomId))) throw notFound("Room not found");
    let before: { depth: number; stream: number } | undefined;
    if (opts.beforeEventId !== undefined) {
      const pos = await this.d.repo.eventPosition(opts.beforeEventId);
      if (!pos || pos.roomId !== roomId) throw notFound("Event not found in this room");
      before = { depth: pos.depth, stream: pos.stream };
    }
    if (before === undefined && opts.beforeTs === undefined) throw new MatrixError(400, "M_MISSING_PARAM", "Give purge_up_to_event_id or purge_up_to_ts");
    const purgeId = this.d.randomId();
    this.remember(purgeId, { status: "active" });
    void this.d.repo
      .purgeHistory(roomId, { beforeTs: opts.beforeTs, before, includeLocal: opts.includeLocal })
      .then((gone) => {
        this.d.onPurged(gone);
        this.remember(purgeId, { status: "complete" });
      })
      .catch((err: unknown) => {
        this.d.log.error({ err, roomId }, "history purge failed");
        this.remember(purgeId, { status: "failed", error: err instanceof Error ? err.message : String(err) });
      });
    return purgeId;
  }

  status(purgeId: string): { status: PurgeStatus; error?: string } {
    const s = this.statuses.get(purgeId);
    if (!s) throw notFound("purge id not found");
    return s;
  }

  /** One retention pass over every room; returns how many events went. */
  async runRetention(): Promise<number> {
    if (this.running) return 0;
    this.running = true;
    try {
      let total = 0;
      const now = this.d.now();
      for (const r of await this.d.repo.roomRetention()) {
        const lifetime = r.maxLifetime ?? this.d.config.default_max_lifetime_ms;
        if (lifetime === null) continue;
        const gone = await this.d.repo.purgeHistory(r.roomId, { beforeTs: now - lifetime, includeLocal: true });
        this.d.onPurged(gone);
        total += gone.length;
      }
      if (total > 0) this.d.log.info({ events: total }, "retention purged expired events");
      return total;
    } finally {
      this.running = false;
    }
  }

  start(): void {
    if (!this.d.config.enabled || this.timer) return;
    this.timer = setInterval(() => {
      if (this.d.leads && !this.d.leads()) return;
      this.runRetention().catch((err: unknown) => this.d.log.error({ err }, "retention job failed"));
    }, this.d.config.purge_interval_ms);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private remember(id: string, s: { status: PurgeStatus; error?: string }): void {
    this.statuses.delete(id);
    this.statuses.set(id, s);
    if (this.statuses.size > MAX_KEPT_STATUSES) this.statuses.delete(this.statuses.keys().next().value!);
  }
}
