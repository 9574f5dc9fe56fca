import { createHash, randomBytes } from "node:crypto";
import type { Logger } from "pino";
import type { JsonObject } from "../core/index.js";
import { MatrixError } from "../http/errors.js";
import type { DelayedEventRow, DelayedEventsRepo } from "../storage/delayed-events-repo.js";
import type { Sender } from "./messaging.js";

export interface DelayedEventsConfig {
  enabled: boolean;
  /** The longest delay a client may ask for. */
  maxDelayMs: number;
  /** Delayed events one user may have waiting at once. */
  maxPerUser: number;
}

export interface DelayedEventsDeps {
  repo: DelayedEventsRepo;
  config: DelayedEventsConfig;
  /** Sends as the user, as PUT /send and PUT /state do (with their checks). */
  sendMessage(sender: Sender, roomId: string, type: string, content: JsonObject, txnId: string): Promise<string>;
  sendState(sender: Sender, roomId: string, type: string, stateKey: string, content: JsonObject): Promise<string>;
  /** Whether the user may send into the room now (joined). */
  isJoined(userId: string, roomId: string): Promise<boolean>;
  log: Pick<Logger, "warn" | "info">;
  now?: () => number;
  /** Random bytes for delay ids (injected for tests). */
  random?: (n: number) => Buffer;
}

export type DelayAction = "restart" | "cancel" | "send";

// setTimeout holds at most 2^31-1 ms; longer waits are re-armed.
const MAX_TIMER_MS = 2 ** 31 - 1;
// A send that failed for a reason other than the event itself is tried again this much later.
const RETRY_MS = 10_000;
const MAX_ATTEMPTS = 5;

/**
 * Delayed events (MSC4140): an event the server sends on the user's behalf
 * once its delay passes without a `restart` (Element Call's "leave the call
 * if my client goes away"). Each one is a database row before it is
 * acknowledged and timers are re-armed from the table at start, so a restart
 * neither loses nor duplicates one: a message carries a transaction id
 * derived from its delay id, so a send retried after a crash is the same event.
 */
export class DelayedEvents {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly attempts = new Map<string, number>();
  private readonly now: () => number;
  private readonly random: (n: number) => Buffer;
  private closed = false;

  constructor(private readonly d: DelayedEventsDeps) {
    this.now = d.now ?? Date.now;
    this.random = d.random ?? randomBytes;
  }

  /** Arms a timer for every waiting delayed event (overdue ones fire at once). */
  async start(): Promise<void> {
    for (const row of await this.d.repo.all()) this.arm(row.delayId, row.sendAt);
  }

  async schedule(sender: Sender, roomId: string, type: string, stateKey: string | null, content: JsonObject, delayMs: number, txnId?: string): Promise<string> {
    const cfg = this.d.config;
    if (!cfg.enabled) throw new MatrixError(400, "M_UNRECOGNIZED", "Delayed events are not enabled on this server");
    if (!Number.isSafeInteger(delayMs) || delayMs < 0)
      throw new MatrixError(400, "M_INVALID_PARAM", "The delay must be a non-negative integer of milliseconds");
    if (delayMs > cfg.maxDelayMs) {
      throw new MatrixError(400, "M_MAX_DELAY_EXCEEDED", `The delay may be at most ${cfg.maxDelayMs} ms`, { "org.matrix.msc4140.max_delay": cfg.maxDelayMs });
    }
    if (!(await this.d.isJoined(sender.userId, roomId))) throw new MatrixError(403, "M_FORBIDDEN", "You are not joined to this room");
    // A retried PUT with the same transaction id names the same delayed event.
    const delayId =
      txnId !== undefined
        ? `syd_${createHash("sha256")
            .update(`${sender.userId}\0${sender.deviceId ?? ""}\0${roomId}\0${txnId}`)
            .digest("base64url")
            .slice(0, 24)}`
        : `syd_${this.random(18).toString("base64url")}`;
    if (txnId !== undefined && (await this.d.repo.get(delayId))) return delayId;
    if ((await this.d.repo.countForUser(sender.userId)) >= cfg.maxPerUser) {
      throw new MatrixError(400, "M_LIMIT_EXCEEDED", `At most ${cfg.maxPerUser} delayed events may wait at once`);
    }
    const now = this.now();
    await this.d.repo.insert({
      delayId,
      userId: sender.userId,
      deviceId: sender.deviceId,
      roomId,
      type,
      stateKey,
      content,
      delayMs,
      sendAt: now + delayMs,
      createdTs: now,
    });
    this.arm(delayId, now + delayMs);
    return delayId;
  }

  /** GET .../delayed_events: the user's waiting delayed events. */
  async list(userId: string): Promise<JsonObject[]> {
    const rows = await this.d.repo.listForUser(userId);
    return rows.map((r) => {
      const out: JsonObject = {
        delay_id: r.delayId,
        room_id: r.roomId,
        type: r.type,
        content: r.content,
        delay: r.delayMs,
        running_since: r.sendAt - r.delayMs,
      };
      if (r.stateKey !== null) out.state_key = r.stateKey;
      return out;
    });
  }

  /** POST .../delayed_events/{delay_id}: restart its delay, cancel it, or send it now. */
  async update(userId: string, delayId: string, action: DelayAction): Promise<void> {
    const row = await this.d.repo.get(delayId);
    if (!row || row.userId !== userId) throw new MatrixError(404, "M_NOT_FOUND", "No such delayed event");
    if (action === "restart") {
      const sendAt = this.now() + row.delayMs;
      if (!(await this.d.repo.restart(delayId, userId, sendAt))) throw new MatrixError(404, "M_NOT_FOUND", "No such delayed event");
      this.arm(delayId, sendAt);
    } else if (action === "cancel") {
      this.disarm(delayId);
      if (!(await this.d.repo.delete(delayId))) throw new MatrixError(404, "M_NOT_FOUND", "No such delayed event");
    } else {
      this.disarm(delayId);
      await this.fire(delayId, true);
    }
  }

  /** Stops the timers and waits for sends under way; waiting rows stay for the next start. */
  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    await Promise.allSettled([...this.inFlight.values()]);
  }

  private arm(delayId: string, sendAt: number): void {
    if (this.closed) return;
    this.disarm(delayId);
    const wait = Math.max(0, sendAt - this.now());
    const t = setTimeout(
      () => {
        this.timers.delete(delayId);
        if (wait > MAX_TIMER_MS) this.arm(delayId, sendAt);
        else void this.fire(delayId, false).catch((err: unknown) => this.d.log.warn({ delayId, err }, "sending a delayed event failed"));
      },
      Math.min(wait, MAX_TIMER_MS),
    );
    t.unref?.();
    this.timers.set(delayId, t);
  }

  private disarm(delayId: string): void {
    const t = this.timers.get(delayId);
    if (t) clearTimeout(t);
    this.timers.delete(delayId);
  }

  /** Sends one delayed event (once at a time per id); `explicit` sends surface their error to the client. */
  private fire(delayId: string, explicit: boolean): Promise<void> {
    const running = this.inFlight.get(delayId);
    if (running) return running;
    const p = this.sendNow(delayId, explicit).finally(() => this.inFlight.delete(delayId));
    this.inFlight.set(delayId, p);
    return p;
  }

  private async sendNow(delayId: string, explicit: boolean): Promise<void> {
    const row = await this.d.repo.get(delayId);
    if (!row) {
      if (explicit) throw new MatrixError(404, "M_NOT_FOUND", "No such delayed event");
      return;
    }
    // A restart moved the deadline while the timer was firing: wait for the new one.
    if (!explicit && row.sendAt > this.now()) {
      this.arm(delayId, row.sendAt);
      return;
    }
    try {
      await this.deliver(row);
      await this.d.repo.delete(delayId);
      this.attempts.delete(delayId);
    } catch (err) {
      if (err instanceof MatrixError) {
        // The event itself is refused (the user left, lost power, ...): it can never be sent.
        await this.d.repo.delete(delayId);
        this.d.log.info({ delayId, errcode: err.errcode }, "delayed event refused when sent; dropped");
        if (explicit) throw err;
        return;
      }
      const n = (this.attempts.get(delayId) ?? 0) + 1;
      this.attempts.set(delayId, n);
      this.d.log.warn({ delayId, err: err instanceof Error ? err.message : String(err), attempt: n }, "sending a delayed event failed");
      if (n < MAX_ATTEMPTS) this.arm(delayId, this.now() + RETRY_MS);
      if (explicit) throw err;
    }
  }

  private async deliver(row: DelayedEventRow): Promise<void> {
    const sender: Sender = { userId: row.userId, deviceId: row.deviceId };
    if (row.stateKey === null) await this.d.sendMessage(sender, row.roomId, row.type, row.content, `org.matrix.msc4140.${row.delayId}`);
    else await this.d.sendState(sender, row.roomId, row.type, row.stateKey, row.content);
  }
}
