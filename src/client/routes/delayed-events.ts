import { Router } from "@koa/router";
import type { Context } from "koa";
import { z } from "zod";
import type { Authenticator } from "../../http/auth.js";
import { readJsonBody } from "../../http/body.js";
import { MatrixError } from "../../http/errors.js";
import { validateBody } from "../../http/validate.js";
import type { DelayAction, DelayedEvents } from "../../rooms/delayed-events.js";

export interface DelayedEventsRoutesDeps {
  auth: Authenticator;
  delayed: DelayedEvents;
}

const PREFIX = "/_matrix/client/unstable/org.matrix.msc4140/delayed_events";
const ACTIONS = ["restart", "cancel", "send"] as const;
const updateBody = z.looseObject({ action: z.enum(ACTIONS) });

/** The `org.matrix.msc4140.delay` query parameter of PUT /send and PUT /state, when present. */
export function delayParam(ctx: Context): number | undefined {
  const raw = ctx.query["org.matrix.msc4140.delay"];
  if (raw === undefined) return undefined;
  if (typeof raw !== "string" || !/^\d{1,15}$/.test(raw))
    throw new MatrixError(400, "M_INVALID_PARAM", "org.matrix.msc4140.delay must be a number of milliseconds");
  if (ctx.query["org.matrix.msc4140.parent_delay_id"] !== undefined) {
    throw new MatrixError(400, "M_INVALID_PARAM", "Delayed events triggered by a parent delay are not supported");
  }
  return Number(raw);
}

// MSC4140 "Delayed events": list the user's waiting ones; restart, cancel or send one.
export function delayedEventsRoutes(deps: DelayedEventsRoutesDeps): Router {
  const router = new Router();

  router.get(PREFIX, async (ctx) => {
    const me = await deps.auth.authenticate(ctx);
    ctx.body = { delayed_events: await deps.delayed.list(me.userId) };
  });

  const update = async (ctx: Context, action: DelayAction) => {
    const me = await deps.auth.authenticate(ctx);
    await deps.delayed.update(me.userId, ctx.params.delayId ?? "", action);
    ctx.body = {};
  };
  router.post(`${PREFIX}/:delayId`, async (ctx) => {
    const body = validateBody(updateBody, await readJsonBody(ctx, 4096, { emptyAsObject: true }));
    await update(ctx, body.action);
  });
  // The later form of the proposal names the action in the path.
  for (const action of ACTIONS) router.post(`${PREFIX}/:delayId/${action}`, (ctx) => update(ctx, action));

  return router;
}
