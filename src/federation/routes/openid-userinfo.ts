import { Router } from "@koa/router";
import { MatrixError } from "../../http/errors.js";
import type { OpenIdService } from "../../users/openid.js";

// Server-server API "OpenID": GET /_matrix/federation/v1/openid/userinfo.
// Called by third parties, not servers, so it carries no X-Matrix signature:
// the OpenID token in the query string is the only credential.
export function openIdUserinfoRoutes(deps: { openid: OpenIdService }): Router {
  const router = new Router();
  router.get("/_matrix/federation/v1/openid/userinfo", async (ctx) => {
    const token = ctx.query.access_token;
    if (typeof token !== "string" || token === "") throw new MatrixError(401, "M_MISSING_TOKEN", "Missing access_token");
    const sub = await deps.openid.userFor(token);
    if (!sub) throw new MatrixError(401, "M_UNKNOWN_TOKEN", "Access token unknown or expired");
    ctx.body = { sub };
  });
  return router;
}
