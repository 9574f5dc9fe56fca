import { Router } from "@koa/router";
import { z } from "zod";
import { validateQuery } from "../../http/validate.js";
import type { FederationQueries } from "../queries.js";
import type { FederationAuthenticator } from "../request-auth.js";

export interface HierarchyRoutesDeps {
  auth: FederationAuthenticator;
  queries: FederationQueries;
  bodyLimit: number;
}

const query = z.looseObject({ suggested_only: z.enum(["true", "false"]).optional() });

// Server-server "Spaces": GET /_matrix/federation/v1/hierarchy/{roomId}.
export function hierarchyRoutes(deps: HierarchyRoutesDeps): Router {
  const router = new Router();
  router.get("/_matrix/federation/v1/hierarchy/:roomId", async (ctx) => {
    const { origin } = await deps.auth.authenticate(ctx, { bodyLimit: deps.bodyLimit });
    const q = validateQuery(query, ctx.query);
    ctx.body = await deps.queries.hierarchy(origin, ctx.params.roomId!, q.suggested_only === "true");
  });
  return router;
}
