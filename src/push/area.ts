import type { Router } from "@koa/router";
import { notificationsRoutes } from "../client/routes/notifications.js";
import { pushRoutes } from "../client/routes/push-rules.js";
import type { JsonObject } from "../core/json.js";
import type { DeliveryService } from "../delivery/index.js";
import type { Authenticator } from "../http/auth.js";
import { DEFAULT_DENIED_RANGES, IpPolicy } from "../media/ip-ranges.js";
import { DeliveryRepo } from "../storage/delivery-repo.js";
import { PushActionsRepo } from "../storage/push-actions-repo.js";
import { PushRulesRepo } from "../storage/push-rules-repo.js";
import type { Sql } from "../storage/sql.js";
import { GatewayClient } from "./gateway-client.js";
import { HttpPusherKind, PUSHER_KIND, type NotifiedEvent } from "./http-pusher.js";
import { NotificationCounter } from "./notification-counts.js";
import { NotificationsList } from "./notifications-list.js";
import { PushActionsIndexer } from "./push-actions-indexer.js";
import { PusherDelivery } from "./pusher-delivery.js";
import { PushersService } from "./pushers.js";
import { PushRulesService, type PushRulesAccountData } from "./push-rules-service.js";

export interface PushConfig {
  allow_private_addresses: boolean;
  gateway_timeout_ms: number;
  max_notification_age_ms: number;
  min_backoff_ms: number;
  max_backoff_ms: number;
}

/** The push verdicts' index, handed to the rooms writer (it runs in each event's transaction). */
export function createPushIndexer(d: { sql: Sql; serverName: string }) {
  const actions = new PushActionsRepo(d.sql);
  return { actions, indexer: new PushActionsIndexer(actions, d.serverName) };
}

export interface PushAreaDeps {
  sql: Sql;
  auth: Authenticator;
  accountData: PushRulesAccountData;
  bodyLimit: number;
  config: PushConfig;
  actions: PushActionsRepo;
  /** The shared outbound delivery (one sender per destination); pushers are its kind "pusher". */
  delivery: DeliveryService;
  /** The rooms writer's committed position. */
  upTo(): number;
  /** Subscribes to persisted events' senders (a user's own event is a read). */
  onEventSender(listener: (sender: string) => void): () => void;
  getEvent(eventId: string): Promise<NotifiedEvent | undefined>;
  formatEvents(eventIds: readonly string[], viewer: { userId: string; deviceId: string | null }): Promise<Map<string, JsonObject>>;
  onError?: (err: unknown) => void;
  now?: () => number;
}

/** Push rules, pushers and their delivery to push gateways, unread counts (the push module of the client-server API). */
export async function createPushArea(d: PushAreaDeps) {
  const now = d.now ?? Date.now;
  const onError = d.onError ?? (() => undefined);
  const repo = new PushRulesRepo(d.sql);
  const pushRules = new PushRulesService(repo, d.accountData);
  const delivery = d.delivery;
  const gateway = new GatewayClient({
    // "Security considerations": gateway URLs are the client's choice, so private networks are refused unless configured.
    policy: new IpPolicy({ allow: d.config.allow_private_addresses ? ["0.0.0.0/0", "::/0"] : [], deny: DEFAULT_DENIED_RANGES }),
    timeoutMs: d.config.gateway_timeout_ms,
    maxResponseBytes: 64 * 1024,
  });
  const positions = new DeliveryRepo(d.sql);
  const kind = new HttpPusherKind({
    pushers: repo,
    actions: d.actions,
    getEvent: d.getEvent,
    gateway,
    // Called from a worker's send, long after wiring.
    onRejected: (p) => pusherDelivery.rejected(p),
    now,
    maxAgeMs: d.config.max_notification_age_ms,
  });
  delivery.addKind(kind, { minBackoffMs: d.config.min_backoff_ms, maxBackoffMs: Math.max(d.config.min_backoff_ms, d.config.max_backoff_ms) });
  const pusherDelivery = new PusherDelivery(
    delivery,
    repo,
    {
      ensure: async (id) => {
        const p = await repo.getPusherById(Number(id));
        const badge = p ? await d.actions.unreadTotal(p.user_id) : 0;
        await positions.ensure(PUSHER_KIND, id, { streamPos: d.upTo(), cursor: { badge }, txnSeq: now(), now: now() });
      },
      remove: (id) => positions.remove(PUSHER_KIND, id),
    },
    kind,
    onError,
  );
  const pushers = new PushersService(repo, now, () => pusherDelivery.refresh());
  await pusherDelivery.refresh();
  const notificationCounts = new NotificationCounter(d.actions);
  const notifications = new NotificationsList({ repo: d.actions, formatEvents: d.formatEvents });
  const clientRouters: Router[] = [
    pushRoutes({ auth: d.auth, pushRules, pushers, bodyLimit: d.bodyLimit }),
    notificationsRoutes({ auth: d.auth, notifications }),
  ];

  /** A read receipt moved: the read mark is stored (before the receipt is answered) and badges updated. */
  const onReceipt = async (userId: string, roomId: string, threadId: string, eventId: string): Promise<void> => {
    if (await d.actions.markReceipt(userId, roomId, threadId, eventId)) pusherDelivery.wakeUser(userId);
  };

  // "sending an event" marks what came before as read: the sender's badge may drop.
  const unsubscribe = d.onEventSender((sender) => pusherDelivery.wakeUser(sender));

  const close = async () => {
    unsubscribe();
    await pusherDelivery.stopAll();
    await gateway.close();
  };
  return { pushRules, pushers, notificationCounts, clientRouters, onReceipt, close };
}

export type PushArea = Awaited<ReturnType<typeof createPushArea>>;
