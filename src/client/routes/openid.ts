import { Router } from "@koa/router";
import type { Authenticator } from "../../http/auth.js";
import { readJsonBody } from "../../http/body.js";
import { badJson, forbidden } from "../../http/errors.js";
import type { OpenIdService } from "../../users/openid.js";
import { clientPaths } from "./client-paths.js";

// Client-server API "OpenID": POST /user/{userId}/openid/request_token.
export function openIdRoutes(deps: { auth: Authenticator; openid: OpenIdService; bodyLimit: number }): Router {
  const router = new Router();
  router.post(clientPaths("/user/:userId/openid/request_token"), async (ctx) => {
    const r = await deps.auth.authenticate(ctx);
    if (r.userId !== ctx.params.userId) throw forbidden("You may only request OpenID tokens for yourself");
    const body = await readJsonBody(ctx, deps.bodyLimit, { emptyAsObject: true });
    if (typeof body !== "object" || body === null || Array.isArray(body)) throw badJson("Request body must be a JSON object");
    ctx.body = await deps.openid.requestToken(r.userId);
  });
  return router;
}
