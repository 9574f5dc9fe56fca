import type { DeliveryCursor, DeliveryKind, Prepared, StreamEventRef } from "../delivery/index.js";
import { isJsonObject, type JsonObject } from "../core/json.js";
import type { PushAction } from "../core/push-rules.js";
import type { PushActionRow, PushActionsRepo } from "../storage/push-actions-repo.js";
import type { PusherRow } from "../storage/push-rules-repo.js";
import type { GatewayAnswer } from "./gateway-client.js";

export const PUSHER_KIND = "pusher";

/** The parts of a stored event a notification carries. */
export interface NotifiedEvent {
  type: string;
  sender: string;
  stateKey: string | undefined;
  content: JsonObject;
  redacted: boolean;
}

export interface HttpPusherDeps {
  pushers: {
    getPusherById(id: number): Promise<PusherRow | undefined>;
  };
  actions: Pick<PushActionsRepo, "actionsIn" | "unreadTotal" | "unreadOfType" | "currentState">;
  getEvent(eventId: string): Promise<NotifiedEvent | undefined>;
  gateway: { notify(url: string, body: unknown, signal?: AbortSignal): Promise<GatewayAnswer> };
  /** The gateway said the pushkey is no longer valid: the pusher is to be removed. */
  onRejected(pusher: PusherRow): void;
  now(): number;
  /** Notifications older than this are dropped rather than delivered late. */
  maxAgeMs: number;
}

/** What is persisted as the pending transaction: sent as is on every retry. */
interface PushPayload {
  /** When the notified event happened (or the badge changed); drives the age cap. */
  ts: number;
  notification: JsonObject;
  tweaks: JsonObject;
}

// Push providers cap payloads at about 4 KiB: larger contents are left out ("The pusher may omit this ... for any other reason").
const MAX_CONTENT_BYTES = 2048;
const PUSHER_TTL_MS = 10_000;

/** The tweaks of a rule's actions ("Tweaks"): a highlight tweak without a value is true. */
export function tweaksOf(actions: readonly unknown[]): JsonObject {
  const out: JsonObject = {};
  for (const a of actions as PushAction[]) {
    if (typeof a !== "object" || a === null || typeof a.set_tweak !== "string") continue;
    if (a.value !== undefined) out[a.set_tweak] = a.value as JsonObject[string];
    else if (a.set_tweak === "highlight") out.highlight = true;
  }
  return out;
}

/**
 * HTTP pushers as an outbound delivery kind: one destination per pusher (its
 * id), fed from the stored push verdicts of its user. Each notifying event is
 * one transaction (one POST to `/_matrix/push/v1/notify`, retried with the same
 * body); when the unread count changed without a new notification (the user
 * read something) a counts-only request updates the badge.
 */
export class HttpPusherKind implements DeliveryKind {
  readonly kind = PUSHER_KIND;
  // Every room event wakes every pusher: its row is read at most once per PUSHER_TTL_MS...
  private readonly rows = new Map<string, { at: number; row: PusherRow | undefined }>();
  // ...and its unread total only after a receipt (or a start) may have changed it.
  private readonly badgeStale = new Set<string>();

  constructor(private readonly d: HttpPusherDeps) {}

  /** The user may have read something: the pusher's badge is checked on its next round. */
  markBadgeStale(destination: string): void {
    this.badgeStale.add(destination);
  }

  /** Pushers changed: rows are read again. */
  forgetRows(): void {
    this.rows.clear();
  }

  private async pusher(destination: string): Promise<PusherRow | undefined> {
    const hit = this.rows.get(destination);
    if (hit && this.d.now() - hit.at < PUSHER_TTL_MS) return hit.row;
    const id = Number(destination);
    if (!Number.isSafeInteger(id)) return undefined;
    const p = await this.d.pushers.getPusherById(id);
    const row = p && p.kind === "http" ? p : undefined;
    this.rows.set(destination, { at: this.d.now(), row });
    return row;
  }

  async initialCursor(destination: string): Promise<DeliveryCursor> {
    this.badgeStale.add(destination);
    const p = await this.pusher(destination);
    return { badge: p ? await this.d.actions.unreadTotal(p.user_id) : 0 };
  }

  async prepare(destination: string, events: readonly StreamEventRef[], cursor: DeliveryCursor): Promise<Prepared> {
    const p = await this.pusher(destination);
    if (!p) return { payload: undefined, cursor };
    if (events.length > 0) {
      const [action] = await this.d.actions.actionsIn(p.user_id, events[0]!.streamOrdering - 1, events[events.length - 1]!.streamOrdering, 1);
      if (action) {
        const through = action.streamOrdering;
        if (this.d.now() - action.ts > this.d.maxAgeMs) return { payload: undefined, cursor, through };
        const payload = await this.eventPayload(p, action);
        if (!payload) return { payload: undefined, cursor, through };
        return { payload, cursor: { badge: (payload.notification.counts as JsonObject).unread ?? 0 }, through };
      }
    }
    // Nothing new to notify about: a lower unread count (a read receipt) updates the badge.
    // A count only grows with a notifying event, whose own request carries the new count;
    // a higher count here is an event not yet readable at this position, sent next.
    if (!this.badgeStale.has(destination)) return { payload: undefined, cursor };
    const unread = await this.d.actions.unreadTotal(p.user_id);
    this.badgeStale.delete(destination);
    if (typeof cursor.badge === "number" && unread >= cursor.badge) return { payload: undefined, cursor };
    const payload: PushPayload = { ts: this.d.now(), notification: { counts: await this.counts(p.user_id, unread) }, tweaks: {} };
    return { payload, cursor: { badge: unread } };
  }

  async send(destination: string, _txnId: string, payload: unknown, signal: AbortSignal): Promise<void> {
    const p = await this.pusher(destination);
    if (!p) return;
    const { ts, notification, tweaks } = payload as PushPayload;
    if (this.d.now() - ts > this.d.maxAgeMs) return;
    const { url, ...data } = p.data;
    const device: JsonObject = {
      app_id: p.app_id,
      pushkey: p.pushkey,
      // "The unix timestamp (in seconds) when the pushkey was last updated."
      pushkey_ts: Math.floor(Number(p.created_ts) / 1000),
      data: data as JsonObject,
      tweaks,
    };
    const answer = await this.d.gateway.notify(String(url), { notification: { ...notification, devices: [device] } }, signal);
    if (answer.rejected.includes(p.pushkey)) this.d.onRejected(p);
  }

  /**
   * "counts": unread across the user's rooms. It is sent even when zero (unlike
   * the spec's "should be omitted"): a badge-only request must be able to
   * clear the badge, which is what gateways expect of homeservers.
   */
  private async counts(userId: string, unread: number): Promise<JsonObject> {
    const out: JsonObject = { unread };
    const missed = await this.d.actions.unreadOfType(userId, "m.call.invite");
    if (missed > 0) out.missed_calls = missed;
    return out;
  }

  private async eventPayload(p: PusherRow, a: PushActionRow): Promise<PushPayload | undefined> {
    const ev = await this.d.getEvent(a.eventId);
    if (!ev || ev.redacted) return undefined;
    const tweaks = tweaksOf(a.actions);
    const counts = await this.counts(p.user_id, await this.d.actions.unreadTotal(p.user_id));
    // Encrypted events may hide anything, so they are not deferred either.
    const prio = tweaks.highlight === true || tweaks.sound !== undefined || ev.type === "m.room.encrypted" ? "high" : "low";
    const notification: JsonObject = { event_id: a.eventId, room_id: a.roomId, counts, prio };
    // Push gateway API "Homeserver behaviour": event_id_only needs just event_id, room_id, counts and devices.
    if (p.data.format !== "event_id_only") {
      const state = await this.d.actions.currentState(a.roomId, [
        ["m.room.name", ""],
        ["m.room.canonical_alias", ""],
        ["m.room.member", ev.sender],
      ]);
      const contentOf = (type: string): JsonObject => {
        const s = state.find((x) => x.type === type);
        const c = s ? (JSON.parse(s.pdu) as JsonObject).content : undefined;
        return isJsonObject(c) ? c : {};
      };
      notification.type = ev.type;
      notification.sender = ev.sender;
      const displayName = contentOf("m.room.member").displayname;
      if (typeof displayName === "string") notification.sender_display_name = displayName;
      const name = contentOf("m.room.name").name;
      if (typeof name === "string" && name !== "") notification.room_name = name;
      const alias = contentOf("m.room.canonical_alias").alias;
      if (typeof alias === "string") notification.room_alias = alias;
      if (ev.type === "m.room.member") notification.user_is_target = ev.stateKey === p.user_id;
      if (Buffer.byteLength(JSON.stringify(ev.content)) <= MAX_CONTENT_BYTES) notification.content = ev.content;
    }
    return { ts: a.ts, notification, tweaks };
  }
}
