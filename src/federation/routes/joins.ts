import { Router } from "@koa/router";
import type { Context } from "koa";
import type { ResidentMembership } from "../membership/resident.js";
import type { FederationAuthenticator } from "../request-auth.js";

export interface MembershipRoutesDeps {
  auth: FederationAuthenticator;
  resident: ResidentMembership;
  bodyLimit: number;
}

/** The repeated `ver` query parameter (room versions the asking server supports). */
export function versionsOf(ctx: Context): string[] | undefined {
  const v = ctx.query.ver;
  if (v === undefined) return undefined;
  return (Array.isArray(v) ? v : [v]).slice(0, 100);
}

// Server-server "Joining Rooms": make_join and send_join (v2), this server as the resident.
export function joinRoutes(deps: MembershipRoutesDeps): Router {
  const router = new Router();
  router.get("/_matrix/federation/v1/make_join/:roomId/:userId", async (ctx) => {
    const { origin } = await deps.auth.authenticate(ctx, { bodyLimit: deps.bodyLimit });
    ctx.body = await deps.resident.makeTemplate(origin, ctx.params.roomId!, ctx.params.userId!, "join", versionsOf(ctx));
  });
  router.put("/_matrix/federation/v2/send_join/:roomId/:eventId", async (ctx) => {
    const { origin, body } = await deps.auth.authenticate(ctx, { bodyLimit: deps.bodyLimit });
    const omit = ctx.query.omit_members === "true";
    ctx.body = await deps.resident.sendJoin(origin, ctx.params.roomId!, ctx.params.eventId!, body, omit);
  });
  // The deprecated v1 form, for older servers: the same answer as [200, body].
  router.put("/_matrix/federation/v1/send_join/:roomId/:eventId", async (ctx) => {
    const { origin, body } = await deps.auth.authenticate(ctx, { bodyLimit: deps.bodyLimit });
    const { state, auth_chain, event } = await deps.resident.sendJoin(origin, ctx.params.roomId!, ctx.params.eventId!, body, false);
    ctx.body = [200, event ? { state, auth_chain, event } : { state, auth_chain }];
  });
  return router;
}
