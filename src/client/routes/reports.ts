import { Router } from "@koa/router";
import { z } from "zod";
import type { Authenticator } from "../../http/auth.js";
import { readJsonBody } from "../../http/body.js";
import { validateBody } from "../../http/validate.js";
import type { ContentReports } from "../../rooms/reports.js";
import { clientPaths } from "./client-paths.js";

export interface ReportRoutesDeps {
  auth: Authenticator;
  reports: ContentReports;
  bodyLimit: number;
}

const REASON_MAX = 10_000;
const eventReport = z.looseObject({ reason: z.string().max(REASON_MAX).optional(), score: z.number().optional() });
const reasonRequired = z.looseObject({ reason: z.string().max(REASON_MAX) });

// Client-server "Reporting content" (admins list reports through the admin area).
export function reportRoutes(deps: ReportRoutesDeps): Router {
  const router = new Router();

  router.post(clientPaths("/rooms/:roomId/report/:eventId"), async (ctx) => {
    const me = await deps.auth.authenticate(ctx);
    const body = validateBody(eventReport, await readJsonBody(ctx, deps.bodyLimit, { emptyAsObject: true }));
    await deps.reports.reportEvent(me.userId, ctx.params.roomId!, ctx.params.eventId!, body.reason);
    ctx.body = {};
  });

  router.post(clientPaths("/rooms/:roomId/report"), async (ctx) => {
    const me = await deps.auth.authenticate(ctx);
    const body = validateBody(reasonRequired, await readJsonBody(ctx, deps.bodyLimit));
    await deps.reports.reportRoom(me.userId, ctx.params.roomId!, body.reason);
    ctx.body = {};
  });

  router.post(clientPaths("/users/:userId/report"), async (ctx) => {
    const me = await deps.auth.authenticate(ctx);
    const body = validateBody(reasonRequired, await readJsonBody(ctx, deps.bodyLimit));
    await deps.reports.reportUser(me.userId, ctx.params.userId!, body.reason);
    ctx.body = {};
  });

  return router;
}
