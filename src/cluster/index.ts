import type { AccessTokenAuthenticator } from "../users/access-tokens.js";
import { LeaseManager } from "../delivery/lease.js";
import { openLeaseSession } from "../delivery/service.js";
import type { TypingService } from "../ephemeral/typing.js";
import type { Logger } from "../logging.js";
import type { EventPersisted } from "../rooms/event-bus.js";
import type { PositionTracker } from "../rooms/stream-positions.js";
import { lastAllocatedStreamOrdering, positionsInFlight } from "../storage/cluster-repo.js";
import type { Sql } from "../storage/sql.js";
import type { Notifier } from "../sync/notifier.js";
import { ClusterBus, chunks } from "./bus.js";
import { ClusterPositions } from "./event-positions.js";
import { StreamRelay } from "./stream-relay.js";
import { shareTyping } from "./typing-relay.js";

export { ClusterBus } from "./bus.js";

/** How often a process that does not run the background jobs tries to take them over. */
const JOBS_RETRY_MS = 3_000;
const JOBS_LEASE = "cluster/background-jobs";

/** Whether this process runs the cluster's periodic jobs (expiry, clean-up). */
export interface JobGate {
  leads(): boolean;
}

export const SINGLE_PROCESS_JOBS: JobGate = { leads: () => true };

/**
 * Scale-out: this process as one of several identical processes on one
 * PostgreSQL database (docs/scale-out.md). Each part replaces or extends a
 * single-process part: room-event positions, the other streams' wake-ups,
 * typing, cached access tokens, and which process runs the background jobs.
 */
export class Cluster {
  readonly bus: ClusterBus;
  private readonly jobsLease: LeaseManager;
  private readonly jobsTimer: NodeJS.Timeout;
  private positions: ClusterPositions | undefined;

  private constructor(
    private readonly sql: Sql,
    readonly instance: string,
    private readonly log: Logger,
  ) {
    this.bus = new ClusterBus(sql, instance, log);
    this.jobsLease = new LeaseManager(() => openLeaseSession(sql));
    this.jobsTimer = setInterval(() => void this.takeJobs(), JOBS_RETRY_MS);
    this.jobsTimer.unref();
  }

  static async join(sql: Sql, instance: string, log: Logger): Promise<Cluster> {
    const c = new Cluster(sql, instance, log);
    // Two live processes with one name would each take the other's notifications for their own.
    if (!(await c.jobsLease.acquire(`cluster/instance/${instance}`))) {
      await c.close();
      throw new Error(`instance_name ${instance} is in use by another running process on this database; give each process its own`);
    }
    await c.bus.start();
    await c.takeJobs();
    return c;
  }

  /** The room-event position tracker (for the rooms module). */
  async eventPositions(publish: (n: EventPersisted) => void, invalidate: (eventIds: readonly string[]) => void): Promise<PositionTracker> {
    this.positions = await ClusterPositions.open({
      bus: this.bus,
      inFlight: () => positionsInFlight(this.sql),
      lastAllocated: () => lastAllocatedStreamOrdering(this.sql),
      publish,
      invalidate,
      onError: (err) => this.warn("following room-event positions failed", err),
      onSlowGap: (position, ms) => this.log.warn({ position, ms }, "room-event position still being written by another process"),
    });
    return this.positions;
  }

  /** Events changed outside the room writer (history purges): other processes drop their cached copies. */
  eventsInvalidated(eventIds: readonly string[]): void {
    for (const x of chunks(eventIds, 100)) void this.bus.publish("ev", { p: [], n: [], x });
  }

  relayStreams(notifier: Notifier): StreamRelay {
    return new StreamRelay(this.bus, notifier);
  }

  shareTyping(typing: TypingService): Promise<void> {
    return shareTyping(this.sql, this.bus, typing, (err) => this.warn("sharing a typing change failed", err));
  }

  /** Revocations (logout, deactivation, lock, ...) drop the cached tokens in every process. */
  shareTokenInvalidation(tokens: AccessTokenAuthenticator, alsoHere: (userId: string) => void): void {
    tokens.onInvalidate((userId) => void this.bus.publish("tok", { u: userId }));
    this.bus.on("tok", (m, fromSelf) => {
      if (fromSelf) return;
      tokens.invalidateUserHere(m.u as string);
      alsoHere(m.u as string);
    });
  }

  /** One process of the cluster at a time runs the background jobs; another takes over within seconds of its end. */
  readonly jobs: JobGate = { leads: () => this.jobsLease.holds(JOBS_LEASE) };

  async close(): Promise<void> {
    clearInterval(this.jobsTimer);
    this.positions?.close();
    await this.jobsLease.close();
    await this.bus.close();
  }

  private async takeJobs(): Promise<void> {
    await this.jobsLease.verify();
    if (!this.jobsLease.holds(JOBS_LEASE) && (await this.jobsLease.acquire(JOBS_LEASE)))
      this.log.info({ instance: this.instance }, "this process runs the background jobs");
  }

  private warn(msg: string, err: unknown): void {
    this.log.warn({ err: err instanceof Error ? err.message : String(err) }, msg);
  }
}

/**
 * Federation EDUs across the processes: whichever process queues an EDU
 * stores it, and names its destinations (names only) to the others, so the
 * process holding a destination's sending lease wakes and sends it.
 */
export function federationEdusAcross(cluster: Cluster): {
  publish(destinations: readonly string[]): void;
  onOwed(fn: (destinations: readonly string[]) => void): void;
} {
  return {
    publish(destinations) {
      for (const part of chunks(destinations, 200)) void cluster.bus.publish("fe", { d: part });
    },
    onOwed(fn) {
      cluster.bus.on("fe", (m, fromSelf) => {
        if (fromSelf || !Array.isArray(m.d)) return;
        fn(m.d.filter((x): x is string => typeof x === "string"));
      });
    },
  };
}
