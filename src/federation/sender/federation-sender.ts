import { isValidServerName, redact, type JsonObject } from "../../core/index.js";
import type { DeliveryService } from "../../delivery/index.js";
import type { Logger } from "../../logging.js";
import type { EventPersisted, EventPersistedListener } from "../../rooms/event-bus.js";
import type { EventStore } from "../../rooms/event-store.js";
import { DeliveryRepo } from "../../storage/delivery-repo.js";
import { FederationSenderRepo } from "../../storage/federation-sender-repo.js";
import type { Sql } from "../../storage/sql.js";
import { joinedServers, serverOf, type Edu, type FederationOutbound } from "../outbound.js";
import { EphemeralEduQueue } from "./ephemeral-edus.js";
import { EPHEMERAL_EDU_TYPES, FEDERATION_KIND, FederationTransactions } from "./federation-kind.js";

export interface FederationSenderOptions {
  minBackoffMs: number;
  maxBackoffMs: number;
  /** Typing, receipts and presence not sent within this long are dropped. */
  ephemeralEduTtlMs: number;
}

export interface FederationSenderDeps {
  serverName: string;
  sql: Sql;
  delivery: DeliveryService;
  store: Pick<EventStore, "getEvents">;
  upTo(): number;
  onPersisted(listener: EventPersistedListener): () => void;
  put(destination: string, path: string, body: JsonObject, signal: AbortSignal): Promise<JsonObject>;
  options: FederationSenderOptions;
  log: Logger;
  now?: () => number;
  /**
   * Scale-out: the destinations just owed EDUs, for the other processes
   * (`owed` there). Set, every EDU is stored, typing and the like too, since
   * the process holding a destination's lease may be another one.
   */
  shareEdus?: ((destinations: readonly string[]) => void) | undefined;
}

/** Queued in-memory EDUs per destination at most (the oldest go first). */
const MAX_EPHEMERAL_PER_DESTINATION = 1_000;
/** How often destinations that share no room and are owed nothing are let go. */
const SWEEP_MS = 10 * 60_000;

/**
 * The federation sender: one delivery worker (src/delivery) per destination
 * server, started for every server that shares a room with this one, is owed
 * an EDU, or still has a position; new servers are noticed on membership
 * changes in the room event stream. Implements `FederationOutbound`.
 */
export class FederationSender implements FederationOutbound {
  private readonly repo: FederationSenderRepo;
  private readonly positions: DeliveryRepo;
  private readonly ephemeral: EphemeralEduQueue;
  private readonly kind: FederationTransactions;
  private readonly running = new Set<string>();
  private queue: Promise<void> = Promise.resolve();
  private readonly unsubscribe: () => void;
  private sweepTimer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Nothing is sent before `start` (a server without a federation listener never starts). */
  private started = false;
  private readonly now: () => number;

  constructor(private readonly d: FederationSenderDeps) {
    this.now = d.now ?? Date.now;
    this.repo = new FederationSenderRepo(d.sql);
    this.positions = new DeliveryRepo(d.sql);
    this.ephemeral = new EphemeralEduQueue({ ttlMs: d.options.ephemeralEduTtlMs, maxPerDestination: MAX_EPHEMERAL_PER_DESTINATION, now: this.now });
    this.kind = new FederationTransactions({
      serverName: d.serverName,
      repo: this.repo,
      ephemeral: this.ephemeral,
      ephemeralTtlMs: d.options.ephemeralEduTtlMs,
      loadPdus: (ids) => this.loadPdus(ids),
      upTo: d.upTo,
      put: d.put,
      now: this.now,
      log: d.log,
    });
    d.delivery.addKind(this.kind, { minBackoffMs: d.options.minBackoffMs, maxBackoffMs: d.options.maxBackoffMs });
    this.unsubscribe = d.onPersisted((n) => this.onPersisted(n));
  }

  /** Starts the workers of every destination owed something (at boot). */
  start(): Promise<void> {
    return this.serial(async () => {
      this.started = true;
      const joined = await this.repo.joinedServers(this.d.serverName);
      const known = new Set([...(await this.repo.destinations(FEDERATION_KIND)), ...(await this.repo.destinationsWithEdus())]);
      for (const [server, pos] of joined) await this.run(server, pos - 1);
      for (const server of known) await this.run(server, undefined);
      this.sweepTimer = setInterval(() => void this.sweep().catch((err) => this.d.log.warn({ err }, "federation sender sweep failed")), SWEEP_MS);
      this.sweepTimer.unref();
    });
  }

  async sendEdu(destinations: readonly string[], edu: Edu, opts: { durable?: boolean } = {}): Promise<void> {
    const targets = [...new Set(destinations)].filter((s) => s !== this.d.serverName && isValidServerName(s));
    if (targets.length === 0) return;
    // In a cluster another process may hold the destination's lease: its EDUs are stored, and every process told.
    if (opts.durable || this.d.shareEdus) await this.repo.insertEdus(targets, edu.edu_type, edu.content, this.now());
    else for (const t of targets) this.ephemeral.push(t, edu);
    this.d.shareEdus?.(targets);
    this.owed(targets);
  }

  /** Destinations owed stored EDUs (told by another process of the cluster): their workers run or wake. */
  owed(destinations: readonly string[]): void {
    const targets = destinations.filter((s) => s !== this.d.serverName && isValidServerName(s));
    this.background(async () => {
      for (const t of targets) await this.run(t, undefined);
    });
  }

  wake(): void {
    this.d.delivery.wake(FEDERATION_KIND);
  }

  /** `origin` just made a verified request to us: if we are backing off from it, retry now. */
  heardFrom(origin: string): void {
    if (this.kind.isFailing(origin)) this.d.delivery.retryNow(FEDERATION_KIND, origin);
  }

  /** Stops this process's federation workers (positions stay: they resume at next start). */
  close(): Promise<void> {
    this.closed = true;
    this.unsubscribe();
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    return this.serial(async () => {
      await Promise.all([...this.running].map((s) => this.d.delivery.stop(FEDERATION_KIND, s)));
      this.running.clear();
    });
  }

  /** Lets go of destinations that share no room, are owed no EDU and have nothing in flight. */
  sweep(): Promise<void> {
    return this.serial(async () => {
      if (this.d.shareEdus) await this.repo.dropStaleEdus(EPHEMERAL_EDU_TYPES, this.now() - this.d.options.ephemeralEduTtlMs);
      const joined = await this.repo.joinedServers(this.d.serverName);
      for (const server of [...this.running]) {
        if (joined.has(server) || this.ephemeral.has(server) || (await this.repo.hasEdus(server))) continue;
        const idle = async () => {
          const row = await this.positions.get(FEDERATION_KIND, server);
          return row !== undefined && row.pending === undefined && row.streamPos >= this.d.upTo();
        };
        if (!(await idle())) continue;
        await this.d.delivery.stop(FEDERATION_KIND, server);
        this.running.delete(server);
        // It may have started a transaction before it stopped: then it carries on.
        if (await idle()) await this.positions.remove(FEDERATION_KIND, server);
        else await this.run(server, undefined);
      }
    });
  }

  private onPersisted(n: EventPersisted): void {
    if (n.membership === undefined) return;
    this.kind.forgetRoom(n.roomId);
    // Someone joined (a new server may be in the room) or left (its server still gets this event).
    this.background(async () => {
      const servers = await joinedServers(this.d.sql, n.roomId, this.d.serverName);
      if (n.stateKey && serverOf(n.stateKey) !== this.d.serverName) servers.push(serverOf(n.stateKey));
      for (const s of servers) await this.run(s, n.streamOrdering - 1);
    });
  }

  /** Starts a destination's worker, its position created at `from` (default: the stream's head) if it has none. */
  private async run(server: string, from: number | undefined): Promise<void> {
    if (this.closed || !this.started) return;
    if (this.running.has(server)) {
      this.d.delivery.wake(FEDERATION_KIND, server);
      return;
    }
    const now = this.now();
    await this.positions.ensure(FEDERATION_KIND, server, { streamPos: Math.max(0, from ?? this.d.upTo()), cursor: {}, txnSeq: now, now });
    this.running.add(server);
    this.d.delivery.start(FEDERATION_KIND, server);
  }

  private serial(fn: () => Promise<void>): Promise<void> {
    const run = this.queue.then(fn);
    this.queue = run.catch((err) => this.d.log.warn({ err }, "federation sender bookkeeping failed"));
    return run;
  }

  /** Like `serial`, for callers that do not wait (failures are logged there). */
  private background(fn: () => Promise<void>): void {
    this.serial(fn).catch(() => undefined);
  }

  /** PDUs as stored; a redacted event goes in its redacted form (the receiver's hash check keeps that form). */
  private async loadPdus(ids: readonly string[]): Promise<Map<string, JsonObject>> {
    const loaded = await this.d.store.getEvents(ids);
    const out = new Map<string, JsonObject>();
    for (const [id, e] of loaded) out.set(id, (e.row.redactedBy ? redact(e.pdu, e.rv) : e.pdu) as unknown as JsonObject);
    return out;
  }
}
