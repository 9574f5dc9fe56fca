import { Router } from "@koa/router";
import { z } from "zod";
import { validateBody, validateQuery } from "../../http/validate.js";
import type { FederationEventReads } from "../event-reads.js";
import type { FederationAuthenticator } from "../request-auth.js";

export interface BackfillRoutesDeps {
  auth: FederationAuthenticator;
  reads: FederationEventReads;
  bodyLimit: number;
}

/** Event ids one request may start from; more are refused. */
const MAX_START_EVENTS = 100;
const eventId = z.string().min(1).max(255);

const backfillQuery = z.looseObject({
  // `v` may be repeated (`?v=a&v=b`).
  v: z.preprocess((x) => (typeof x === "string" ? [x] : x), z.array(eventId).min(1).max(MAX_START_EVENTS)),
  limit: z
    .string()
    .regex(/^\d{1,9}$/)
    .transform(Number),
});

const missingEventsBody = z.looseObject({
  earliest_events: z.array(eventId).max(1000),
  latest_events: z.array(eventId).max(MAX_START_EVENTS),
  limit: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
  min_depth: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
});

// Server-server "Backfilling and retrieving missing events".
export function backfillRoutes(deps: BackfillRoutesDeps): Router {
  const router = new Router();
  router.get("/_matrix/federation/v1/backfill/:roomId", async (ctx) => {
    const { origin } = await deps.auth.authenticate(ctx, { bodyLimit: deps.bodyLimit });
    const q = validateQuery(backfillQuery, ctx.query);
    ctx.body = await deps.reads.backfill(origin, ctx.params.roomId!, q.v, q.limit);
  });
  router.post("/_matrix/federation/v1/get_missing_events/:roomId", async (ctx) => {
    const { origin, body } = await deps.auth.authenticate(ctx, { bodyLimit: deps.bodyLimit });
    const b = validateBody(missingEventsBody, body);
    ctx.body = await deps.reads.missingEvents(origin, ctx.params.roomId!, {
      earliest: b.earliest_events,
      latest: b.latest_events,
      limit: b.limit,
      minDepth: b.min_depth,
    });
  });
  return router;
}
