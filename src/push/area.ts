import type { Router } from "@koa/router";
import { notificationsRoutes } from "../client/routes/notifications.js";
import { pushRoutes } from "../client/routes/push-rules.js";
import type { Authenticator } from "../http/auth.js";
import { NotificationCountsRepo } from "../storage/notification-counts-repo.js";
import { PushRulesRepo } from "../storage/push-rules-repo.js";
import type { Sql } from "../storage/sql.js";
import { NotificationCounter } from "./notification-counts.js";
import { PushersService } from "./pushers.js";
import { PushRulesService, type PushRulesAccountData } from "./push-rules-service.js";

export interface PushAreaDeps {
  sql: Sql;
  auth: Authenticator;
  accountData: PushRulesAccountData;
  bodyLimit: number;
  /** The rooms writer's persisted-up-to position (GET /notifications reads up to it). */
  eventsPosition: () => number;
  now?: () => number;
}

/** Push rules and pushers (the push module of the client-server API). */
export function createPushArea(d: PushAreaDeps) {
  const repo = new PushRulesRepo(d.sql);
  const pushRules = new PushRulesService(repo, d.accountData);
  const pushers = new PushersService(repo, d.now ?? Date.now);
  const notificationCounts = new NotificationCounter(new NotificationCountsRepo(d.sql), pushRules);
  const clientRouters: Router[] = [
    pushRoutes({ auth: d.auth, pushRules, pushers, bodyLimit: d.bodyLimit }),
    notificationsRoutes({ auth: d.auth, notifications: notificationCounts, eventsPosition: d.eventsPosition }),
  ];
  return { pushRules, pushers, notificationCounts, clientRouters };
}

export type PushArea = ReturnType<typeof createPushArea>;
