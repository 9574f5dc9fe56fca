import { Router } from "@koa/router";
import type { Authenticator } from "../../http/auth.js";
import { readJsonBody } from "../../http/body.js";
import { MatrixError } from "../../http/errors.js";
import { validateBody } from "../../http/validate.js";
import { normaliseRequest, slidingRequestSchema } from "../../sync/sliding/request.js";
import type { SlidingSyncService } from "../../sync/sliding/sliding-sync-service.js";

export interface SlidingSyncRoutesDeps {
  auth: Authenticator;
  sliding: SlidingSyncService;
  bodyLimit: number;
}

// MSC4186 "Unstable prefix".
export const SLIDING_SYNC_PATH = "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync";

// Simplified sliding sync: POST /sync with lists, room subscriptions and extensions.
export function slidingSyncRoutes(deps: SlidingSyncRoutesDeps): Router {
  const router = new Router();
  router.post(SLIDING_SYNC_PATH, async (ctx) => {
    const me = await deps.auth.authenticate(ctx);
    if (me.deviceId === null) throw new MatrixError(400, "M_UNKNOWN", "Sliding sync needs a device");
    const body = validateBody(slidingRequestSchema, await readJsonBody(ctx, deps.bodyLimit, { emptyAsObject: true }));
    const q = ctx.query;
    const req = normaliseRequest(
      body,
      { pos: typeof q.pos === "string" ? q.pos : undefined, timeout: typeof q.timeout === "string" ? q.timeout : undefined },
      me.userId,
    );
    // A client that goes away frees its waiter at once.
    const abort = new AbortController();
    const onClose = () => {
      if (!ctx.res.writableFinished) abort.abort();
    };
    ctx.req.socket.once("close", onClose);
    try {
      ctx.body = await deps.sliding.sync({ userId: me.userId, deviceId: me.deviceId }, req, abort.signal);
    } finally {
      ctx.req.socket.off("close", onClose);
    }
  });
  return router;
}
