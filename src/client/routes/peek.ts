import { Router } from "@koa/router";
import type { Authenticator } from "../../http/auth.js";
import type { PeekedRooms } from "../../sync/peeked-rooms.js";
import { clientPaths } from "./client-paths.js";

export interface PeekRoutesDeps {
  auth: Authenticator;
  peeks: Pick<PeekedRooms, "peek" | "unpeek">;
}

// MSC2753 "Peeking via /sync": POST /peek/{roomIdOrAlias} and POST /rooms/{roomId}/unpeek.
export function peekRoutes(deps: PeekRoutesDeps): Router {
  const router = new Router();
  router.post(clientPaths("/peek/:roomIdOrAlias"), async (ctx) => {
    const me = await deps.auth.authenticate(ctx, { allowGuests: true });
    ctx.body = { room_id: await deps.peeks.peek(me, ctx.params.roomIdOrAlias!) };
  });
  router.post(clientPaths("/rooms/:roomId/unpeek"), async (ctx) => {
    const me = await deps.auth.authenticate(ctx, { allowGuests: true });
    await deps.peeks.unpeek(me, ctx.params.roomId!);
    ctx.body = {};
  });
  return router;
}
