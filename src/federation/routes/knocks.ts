import { Router } from "@koa/router";
import { versionsOf, type MembershipRoutesDeps } from "./joins.js";

// Server-server "Knocking upon a room": make_knock and send_knock, this server as the resident.
export function knockRoutes(deps: MembershipRoutesDeps): Router {
  const router = new Router();
  router.get("/_matrix/federation/v1/make_knock/:roomId/:userId", async (ctx) => {
    const { origin } = await deps.auth.authenticate(ctx, { bodyLimit: deps.bodyLimit });
    // "ver ... required": without it no room version is supported.
    ctx.body = await deps.resident.makeTemplate(origin, ctx.params.roomId!, ctx.params.userId!, "knock", versionsOf(ctx) ?? []);
  });
  router.put("/_matrix/federation/v1/send_knock/:roomId/:eventId", async (ctx) => {
    const { origin, body } = await deps.auth.authenticate(ctx, { bodyLimit: deps.bodyLimit });
    ctx.body = await deps.resident.sendKnock(origin, ctx.params.roomId!, ctx.params.eventId!, body);
  });
  return router;
}
