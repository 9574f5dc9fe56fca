import { Router } from "@koa/router";
import type { Context } from "koa";
import { z } from "zod";
import type { Authenticator } from "../../http/auth.js";
import { validateQuery } from "../../http/validate.js";
import type { RoomRelations } from "../../rooms/relations.js";
import { clientV1 } from "./client-paths.js";

export interface RelationsRoutesDeps {
  auth: Authenticator;
  relations: RoomRelations;
}

const intParam = z
  .string()
  .regex(/^\d{1,9}$/, "must be a non-negative integer")
  .transform(Number);

const relationsQuery = z.looseObject({
  from: z.string().optional(),
  to: z.string().optional(),
  dir: z.enum(["b", "f"]).optional(),
  limit: intParam.optional(),
  recurse: z.enum(["true", "false"]).optional(),
});

const threadsQuery = z.looseObject({
  include: z.enum(["all", "participated"]).optional(),
  limit: intParam.refine((n) => n > 0, "must be greater than zero").optional(),
  from: z.string().optional(),
});

// Client-server "Relationships API" and "Querying threads in a room".
export function relationsRoutes(deps: RelationsRoutesDeps): Router {
  const router = new Router();

  const relations = async (ctx: Context) => {
    const me = await deps.auth.authenticate(ctx, { allowGuests: true });
    const q = validateQuery(relationsQuery, ctx.query);
    const p = ctx.params as { roomId: string; eventId: string; relType?: string; eventType?: string };
    ctx.body = await deps.relations.relations(me, p.roomId, p.eventId, {
      relType: p.relType,
      eventType: p.eventType,
      from: q.from,
      to: q.to,
      dir: q.dir ?? "b",
      limit: q.limit,
      recurse: q.recurse === undefined ? undefined : q.recurse === "true",
    });
  };
  router.get(clientV1("/rooms/:roomId/relations/:eventId"), relations);
  router.get(clientV1("/rooms/:roomId/relations/:eventId/:relType"), relations);
  router.get(clientV1("/rooms/:roomId/relations/:eventId/:relType/:eventType"), relations);

  router.get(clientV1("/rooms/:roomId/threads"), async (ctx) => {
    const me = await deps.auth.authenticate(ctx, { allowGuests: true });
    const q = validateQuery(threadsQuery, ctx.query);
    ctx.body = await deps.relations.threads(me, ctx.params.roomId!, { include: q.include ?? "all", limit: q.limit, from: q.from });
  });

  return router;
}
