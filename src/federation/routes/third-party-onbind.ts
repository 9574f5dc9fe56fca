import { Router } from "@koa/router";
import { z } from "zod";
import { readJsonBody } from "../../http/body.js";
import { validateBody } from "../../http/validate.js";
import type { ThirdPartyInvites } from "../../rooms/third-party-invites.js";

export interface OnBindRoutesDeps {
  thirdPartyInvites: ThirdPartyInvites;
  bodyLimit: number;
}

const onBindBody = z.looseObject({
  address: z.string(),
  medium: z.string(),
  mxid: z.string(),
  invites: z.array(z.unknown()).max(1000).optional(),
});

// Server-server "Third-party invites": PUT /_matrix/federation/v1/3pid/onbind, called by identity
// servers. Unauthenticated by design; what it can do is bounded by the invites' signatures,
// which the auth rules verify against keys the inviter's room already holds.
export function thirdPartyOnBindRoutes(deps: OnBindRoutesDeps): Router {
  const router = new Router();
  router.put("/_matrix/federation/v1/3pid/onbind", async (ctx) => {
    const body = validateBody(onBindBody, await readJsonBody(ctx, deps.bodyLimit));
    await deps.thirdPartyInvites.onBind(body.invites ?? []);
    ctx.body = {};
  });
  return router;
}
