import { Router } from "@koa/router";
import { z } from "zod";
import type { Authenticator } from "../../http/auth.js";
import { validateQuery } from "../../http/validate.js";
import type { NotificationCounter } from "../../push/notification-counts.js";
import { clientPaths } from "./client-paths.js";

export interface NotificationsRoutesDeps {
  auth: Authenticator;
  notifications: Pick<NotificationCounter, "list">;
  eventsPosition: () => number;
}

const query = z.looseObject({
  from: z
    .string()
    .regex(/^\d{1,15}$/, "must be a token from next_token")
    .transform(Number)
    .optional(),
  limit: z
    .string()
    .regex(/^\d{1,9}$/, "must be a non-negative integer")
    .transform(Number)
    .optional(),
  only: z.string().optional(),
});

const DEFAULT_LIMIT = 20;
const MAX_LIMIT = 100;

// Client-server "Listing notifications": GET /notifications.
export function notificationsRoutes(deps: NotificationsRoutesDeps): Router {
  const router = new Router();
  router.get(clientPaths("/notifications"), async (ctx) => {
    const me = await deps.auth.authenticate(ctx);
    const q = validateQuery(query, ctx.query);
    ctx.body = await deps.notifications.list(me.userId, {
      from: q.from,
      limit: Math.max(1, Math.min(q.limit ?? DEFAULT_LIMIT, MAX_LIMIT)),
      // "only": "highlight" is the only value the spec defines.
      onlyHighlight: q.only === "highlight",
      uptoEvents: deps.eventsPosition(),
    });
  });
  return router;
}
