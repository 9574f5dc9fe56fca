import { Router } from "@koa/router";
import { z } from "zod";
import { validateQuery } from "../../http/validate.js";
import type { FederationEventReads } from "../event-reads.js";
import type { FederationAuthenticator } from "../request-auth.js";

export interface EventsRoutesDeps {
  auth: FederationAuthenticator;
  reads: FederationEventReads;
  bodyLimit: number;
}

const atEvent = z.looseObject({ event_id: z.string().min(1).max(255) });

// Server-server "Retrieving events" and "Retrieving event authorisation information".
export function eventsRoutes(deps: EventsRoutesDeps): Router {
  const router = new Router();
  const origin = async (ctx: Parameters<FederationAuthenticator["authenticate"]>[0]) =>
    (await deps.auth.authenticate(ctx, { bodyLimit: deps.bodyLimit })).origin;

  router.get("/_matrix/federation/v1/event/:eventId", async (ctx) => {
    ctx.body = await deps.reads.event(await origin(ctx), ctx.params.eventId!);
  });
  router.get("/_matrix/federation/v1/state/:roomId", async (ctx) => {
    const from = await origin(ctx);
    const q = validateQuery(atEvent, ctx.query);
    ctx.body = await deps.reads.state(from, ctx.params.roomId!, q.event_id);
  });
  router.get("/_matrix/federation/v1/state_ids/:roomId", async (ctx) => {
    const from = await origin(ctx);
    const q = validateQuery(atEvent, ctx.query);
    ctx.body = await deps.reads.stateIds(from, ctx.params.roomId!, q.event_id);
  });
  router.get("/_matrix/federation/v1/event_auth/:roomId/:eventId", async (ctx) => {
    ctx.body = await deps.reads.eventAuth(await origin(ctx), ctx.params.roomId!, ctx.params.eventId!);
  });
  return router;
}
