import { Router } from "@koa/router";
import { z } from "zod";
import { validateQuery } from "../../http/validate.js";
import type { FederationQueries } from "../queries.js";
import type { FederationAuthenticator } from "../request-auth.js";

export interface QueryRoutesDeps {
  auth: FederationAuthenticator;
  queries: FederationQueries;
  bodyLimit: number;
}

// Server-server "Querying for information": /query/directory and /query/profile.
export function queryRoutes(deps: QueryRoutesDeps): Router {
  const router = new Router();
  router.get("/_matrix/federation/v1/query/directory", async (ctx) => {
    await deps.auth.authenticate(ctx, { bodyLimit: deps.bodyLimit });
    const q = validateQuery(z.looseObject({ room_alias: z.string().max(255) }), ctx.query);
    ctx.body = await deps.queries.directory(q.room_alias);
  });
  router.get("/_matrix/federation/v1/query/profile", async (ctx) => {
    await deps.auth.authenticate(ctx, { bodyLimit: deps.bodyLimit });
    const q = validateQuery(z.looseObject({ user_id: z.string().max(255), field: z.string().max(255).optional() }), ctx.query);
    ctx.body = await deps.queries.profile(q.user_id, q.field);
  });
  return router;
}
