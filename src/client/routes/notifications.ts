import { Router } from "@koa/router";
import { z } from "zod";
import type { Authenticator } from "../../http/auth.js";
import { validateQuery } from "../../http/validate.js";
import type { NotificationsList } from "../../push/notifications-list.js";
import { clientPaths } from "./client-paths.js";

export interface NotificationsRoutesDeps {
  auth: Authenticator;
  notifications: NotificationsList;
}

const query = z.object({
  from: z.string().optional(),
  limit: z.coerce.number().int().min(1).optional(),
  only: z.string().optional(),
});

/** GET /_matrix/client/v3/notifications (push module, "Listing Notifications"). */
export function notificationsRoutes(deps: NotificationsRoutesDeps): Router {
  const router = new Router();
  router.get(clientPaths("/notifications"), async (ctx) => {
    const r = await deps.auth.authenticate(ctx);
    const q = validateQuery(query, ctx.query);
    ctx.body = await deps.notifications.list({ userId: r.userId, deviceId: r.deviceId }, q);
  });
  return router;
}
