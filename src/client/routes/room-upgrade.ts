import { Router } from "@koa/router";
import type { Context } from "koa";
import { z } from "zod";
import type { Authenticator, Requester } from "../../http/auth.js";
import { readJsonBody } from "../../http/body.js";
import { validateBody, validateQuery } from "../../http/validate.js";
import type { RoomSummaries } from "../../rooms/room-summary.js";
import type { SpaceHierarchy } from "../../rooms/space-hierarchy.js";
import type { RoomUpgrade } from "../../rooms/room-upgrade.js";
import { clientPaths, clientV1 } from "./client-paths.js";

export interface RoomUpgradeRoutesDeps {
  auth: Authenticator;
  upgrade: RoomUpgrade;
  summaries: RoomSummaries;
  hierarchy: SpaceHierarchy;
  bodyLimit: number;
}

const hierarchyQuery = z.looseObject({
  suggested_only: z.enum(["true", "false"]).optional(),
  limit: z.string().regex(/^\d{1,4}$/, "must be a positive integer").transform(Number).refine((n) => n > 0, "must be greater than zero").optional(),
  max_depth: z.string().regex(/^\d{1,4}$/, "must be a non-negative integer").transform(Number).optional(),
  from: z.string().optional(),
});

const upgradeBody = z.looseObject({
  new_version: z.string(),
  additional_creators: z.array(z.string()).optional(),
});

/** Room summaries may be read without an access token; a token that is sent must be valid. */
async function optionalAuth(auth: Authenticator, ctx: Context): Promise<Requester | undefined> {
  const header = ctx.get("authorization");
  if (!header && ctx.query.access_token === undefined) return undefined;
  return auth.authenticate(ctx, { allowGuests: true });
}

// Client-server "Room Upgrades" and "Room summary".
export function roomUpgradeRoutes(deps: RoomUpgradeRoutesDeps): Router {
  const router = new Router();

  router.post(clientPaths("/rooms/:roomId/upgrade"), async (ctx) => {
    const me = await deps.auth.authenticate(ctx);
    const body = validateBody(upgradeBody, await readJsonBody(ctx, deps.bodyLimit));
    const replacement = await deps.upgrade.upgrade(me.userId, ctx.params.roomId!, body.new_version, body.additional_creators);
    ctx.body = { replacement_room: replacement };
  });

  const summary = async (ctx: Context) => {
    const me = await optionalAuth(deps.auth, ctx);
    ctx.body = await deps.summaries.summary(me?.userId, (ctx.params as { roomIdOrAlias: string }).roomIdOrAlias);
  };
  router.get(clientV1("/room_summary/:roomIdOrAlias"), summary);
  // MSC3266's unstable path, still used by some clients.
  router.get("/_matrix/client/unstable/im.nheko.summary/rooms/:roomIdOrAlias/summary", summary);
  // The path matrix-js-sdk's getRoomSummary calls.
  router.get("/_matrix/client/unstable/im.nheko.summary/summary/:roomIdOrAlias", summary);

  // Client-server "Spaces": GET /v1/rooms/{roomId}/hierarchy.
  router.get(clientV1("/rooms/:roomId/hierarchy"), async (ctx) => {
    const me = await deps.auth.authenticate(ctx, { allowGuests: true });
    const q = validateQuery(hierarchyQuery, ctx.query);
    ctx.body = await deps.hierarchy.hierarchy(me.userId, ctx.params.roomId!, {
      suggestedOnly: q.suggested_only === "true",
      limit: q.limit,
      maxDepth: q.max_depth,
      from: q.from,
    });
  });

  return router;
}
