import { Router } from "@koa/router";
import type { Context } from "koa";
import { z } from "zod";
import type { AppServiceQueries } from "../../appservice/queries.js";
import type { Authenticator } from "../../http/auth.js";
import { readJsonBody } from "../../http/body.js";
import { MatrixError } from "../../http/errors.js";
import { validateBody } from "../../http/validate.js";
import { clientPaths, clientV1 } from "./client-paths.js";

export interface AppServiceRoutesDeps {
  auth: Authenticator;
  queries: AppServiceQueries;
  bodyLimit: number;
}

const pingBody = z.looseObject({ transaction_id: z.string().optional() });

/** Query parameters as single strings (a repeated parameter is 400 M_INVALID_PARAM). */
function fields(ctx: Context): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(ctx.query)) {
    // Authentication and identity assertion are for this server, not the protocol's fields.
    if (k === "access_token" || k === "user_id" || k === "device_id" || k === "org.matrix.msc3202.device_id") continue;
    if (typeof v !== "string") throw new MatrixError(400, "M_INVALID_PARAM", `Query parameter '${k}' must be given once`);
    out[k] = v;
  }
  return out;
}

function required(ctx: Context, name: string): string {
  const v = ctx.query[name];
  if (v === undefined) throw new MatrixError(400, "M_MISSING_PARAM", `Missing query parameter '${name}'`);
  if (typeof v !== "string") throw new MatrixError(400, "M_INVALID_PARAM", `Query parameter '${name}' must be given once`);
  return v;
}

// Application service API "Client-Server API Extensions" (pinging) and client-server "Third-party Lookup".
export function appServiceRoutes(deps: AppServiceRoutesDeps): Router {
  const router = new Router();

  router.post(clientV1("/appservice/:appserviceId/ping"), async (ctx) => {
    const me = await deps.auth.authenticate(ctx);
    const body = validateBody(pingBody, await readJsonBody(ctx, deps.bodyLimit, { emptyAsObject: true }));
    ctx.body = await deps.queries.ping(me, ctx.params.appserviceId!, body.transaction_id);
  });

  router.get(clientPaths("/thirdparty/protocols"), async (ctx) => {
    await deps.auth.authenticate(ctx);
    ctx.body = await deps.queries.protocols();
  });
  router.get(clientPaths("/thirdparty/protocol/:protocol"), async (ctx) => {
    await deps.auth.authenticate(ctx);
    ctx.body = await deps.queries.protocol(ctx.params.protocol!);
  });
  for (const kind of ["location", "user"] as const) {
    router.get(clientPaths(`/thirdparty/${kind}/:protocol`), async (ctx) => {
      await deps.auth.authenticate(ctx);
      ctx.body = await deps.queries.lookup(kind, ctx.params.protocol!, fields(ctx));
    });
  }
  router.get(clientPaths("/thirdparty/location"), async (ctx) => {
    await deps.auth.authenticate(ctx);
    ctx.body = await deps.queries.reverseLookup("location", "alias", required(ctx, "alias"));
  });
  router.get(clientPaths("/thirdparty/user"), async (ctx) => {
    await deps.auth.authenticate(ctx);
    ctx.body = await deps.queries.reverseLookup("user", "userid", required(ctx, "userid"));
  });

  return router;
}
