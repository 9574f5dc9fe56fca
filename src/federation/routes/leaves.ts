import { Router } from "@koa/router";
import type { MembershipRoutesDeps } from "./joins.js";

// Server-server "Leaving Rooms (Rejecting Invites)": make_leave and send_leave (v2), this server as the resident.
export function leaveRoutes(deps: MembershipRoutesDeps): Router {
  const router = new Router();
  router.get("/_matrix/federation/v1/make_leave/:roomId/:userId", async (ctx) => {
    const { origin } = await deps.auth.authenticate(ctx, { bodyLimit: deps.bodyLimit });
    ctx.body = await deps.resident.makeTemplate(origin, ctx.params.roomId!, ctx.params.userId!, "leave");
  });
  router.put("/_matrix/federation/v2/send_leave/:roomId/:eventId", async (ctx) => {
    const { origin, body } = await deps.auth.authenticate(ctx, { bodyLimit: deps.bodyLimit });
    await deps.resident.sendMembership(origin, ctx.params.roomId!, ctx.params.eventId!, body, "leave");
    ctx.body = {};
  });
  // The deprecated v1 form, for older servers: [200, {}].
  router.put("/_matrix/federation/v1/send_leave/:roomId/:eventId", async (ctx) => {
    const { origin, body } = await deps.auth.authenticate(ctx, { bodyLimit: deps.bodyLimit });
    await deps.resident.sendMembership(origin, ctx.params.roomId!, ctx.params.eventId!, body, "leave");
    ctx.body = [200, {}];
  });
  return router;
}
