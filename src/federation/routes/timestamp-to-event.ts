import { Router } from "@koa/router";
import { z } from "zod";
import { validateQuery } from "../../http/validate.js";
import type { FederationEventReads } from "../event-reads.js";
import type { FederationAuthenticator } from "../request-auth.js";

export interface TimestampRoutesDeps {
  auth: FederationAuthenticator;
  reads: FederationEventReads;
  bodyLimit: number;
}

const query = z.looseObject({
  ts: z
    .string()
    .regex(/^\d{1,16}$/)
    .transform(Number),
  dir: z.enum(["f", "b"]),
});

// GET /_matrix/federation/v1/timestamp_to_event/{roomId} ("Retrieving events").
export function timestampToEventRoutes(deps: TimestampRoutesDeps): Router {
  const router = new Router();
  router.get("/_matrix/federation/v1/timestamp_to_event/:roomId", async (ctx) => {
    const { origin } = await deps.auth.authenticate(ctx, { bodyLimit: deps.bodyLimit });
    const q = validateQuery(query, ctx.query);
    ctx.body = await deps.reads.timestampToEvent(origin, ctx.params.roomId!, q.ts, q.dir);
  });
  return router;
}
