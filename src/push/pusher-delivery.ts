import type { DeliveryService } from "../delivery/index.js";
import type { PusherRow, PushRulesRepo } from "../storage/push-rules-repo.js";
import { PUSHER_KIND } from "./http-pusher.js";

/**
 * Keeps one delivery worker per stored HTTP pusher: started at boot and when
 * a pusher is created, stopped (and its position dropped) when it is deleted,
 * whether by its user, by `append: false` on another account, by
 * deactivation, or because the gateway rejected its pushkey.
 */
export class PusherDelivery {
  private readonly running = new Set<string>();
  private byUser = new Map<string, string[]>();
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly delivery: DeliveryService,
    private readonly repo: Pick<PushRulesRepo, "pusherOwners" | "deletePusherById">,
    private readonly positions: {
      /** Creates the pusher's durable position at the stream's head when it has none. */
      ensure(destination: string): Promise<void>;
      remove(destination: string): Promise<void>;
    },
    private readonly kind: { markBadgeStale(destination: string): void; forgetRows(): void },
    private readonly onError: (err: unknown) => void = () => undefined,
  ) {}

  /** Brings the workers in line with the stored pushers (serialised; safe to call often). */
  refresh(): Promise<void> {
    const run = this.queue.then(async () => {
      this.kind.forgetRows();
      const owners = await this.repo.pusherOwners("http");
      const ids = new Set(owners.map((o) => String(o.id)));
      const byUser = new Map<string, string[]>();
      for (const o of owners) byUser.set(o.userId, [...(byUser.get(o.userId) ?? []), String(o.id)]);
      this.byUser = byUser;
      for (const id of ids) {
        if (this.running.has(id)) continue;
        // Before answering the client: events after the pusher's creation are its to deliver.
        await this.positions.ensure(id);
        this.running.add(id);
        // A receipt may have changed the badge while no worker ran (before a restart).
        this.kind.markBadgeStale(id);
        this.delivery.start(PUSHER_KIND, id);
      }
      for (const id of [...this.running]) {
        if (ids.has(id)) continue;
        this.running.delete(id);
        await this.delivery.stop(PUSHER_KIND, id);
        await this.positions.remove(id);
      }
    });
    this.queue = run.catch((err) => this.onError(err));
    return run;
  }

  /**
   * The user's unread count may have dropped without a new notification (a
   * receipt, or their own event): their pushers check their badge now.
   */
  wakeUser(userId: string): void {
    for (const id of this.byUser.get(userId) ?? []) {
      this.kind.markBadgeStale(id);
      this.delivery.wake(PUSHER_KIND, id);
    }
  }

  /** Stops this process's pusher workers (positions stay: they resume at next start). */
  stopAll(): Promise<void> {
    const run = this.queue.then(async () => {
      for (const id of [...this.running]) {
        this.running.delete(id);
        await this.delivery.stop(PUSHER_KIND, id);
      }
    });
    this.queue = run.catch((err) => this.onError(err));
    return run;
  }

  /** A pushkey the gateway rejected: the pusher is deleted (its worker stops once its send returns). */
  rejected(p: PusherRow): void {
    if (p.id === undefined) return;
    const id = p.id;
    // Not awaited: this runs inside the worker's send, which stopping the worker waits for.
    setImmediate(() => {
      void this.repo
        .deletePusherById(id)
        .then(() => this.refresh())
        .catch((err) => this.onError(err));
    });
  }
}
