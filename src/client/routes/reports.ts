import { Router } from "@koa/router";
import { z } from "zod";
import type { Authenticator } from "../../http/auth.js";
import { readJsonBody } from "../../http/body.js";
import { forbidden } from "../../http/errors.js";
import { validateBody, validateQuery } from "../../http/validate.js";
import type { ContentReports } from "../../rooms/reports.js";
import { clientPaths } from "./client-paths.js";

export interface ReportRoutesDeps {
  auth: Authenticator;
  reports: ContentReports;
  isAdmin: (userId: string) => Promise<boolean>;
  bodyLimit: number;
}

const REASON_MAX = 10_000;
const eventReport = z.looseObject({ reason: z.string().max(REASON_MAX).optional(), score: z.number().optional() });
const reasonRequired = z.looseObject({ reason: z.string().max(REASON_MAX) });
const listQuery = z.looseObject({
  from: z.string().regex(/^\d{1,9}$/).transform(Number).optional(),
  limit: z.string().regex(/^\d{1,4}$/).transform(Number).optional(),
  dir: z.enum(["b", "f"]).optional(),
  room_id: z.string().optional(),
  user_id: z.string().optional(),
});

// Client-server "Reporting content", and Synapse's admin listing of reports.
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

  // Synapse-compatible listing for admin tools (all report kinds; `kind` says which).
  router.get("/_synapse/admin/v1/event_reports", async (ctx) => {
    const me = await deps.auth.authenticate(ctx);
    if (!(await deps.isAdmin(me.userId))) throw forbidden("You are not a server admin");
    const q = validateQuery(listQuery, ctx.query);
    const from = q.from ?? 0;
    const limit = Math.min(q.limit ?? 100, 1000);
    const { reports, total } = await deps.reports.list(from, limit, { dir: q.dir, roomId: q.room_id, reporter: q.user_id });
    ctx.body = {
      event_reports: reports.map((r) => ({
        id: r.id,
        kind: r.kind,
        received_ts: r.receivedTs,
        user_id: r.reporter,
        room_id: r.roomId,
        event_id: r.eventId,
        target_user_id: r.targetUserId,
        reason: r.reason,
      })),
      total,
      ...(from + reports.length < total ? { next_token: from + reports.length } : {}),
    };
  });

  return router;
}
