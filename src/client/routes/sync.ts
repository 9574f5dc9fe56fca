import { Router } from "@koa/router";
import { z } from "zod";
import type { Authenticator } from "../../http/auth.js";
import { validateQuery } from "../../http/validate.js";
import { PRESENCE_STATES } from "../../ephemeral/presence.js";
import type { SyncService } from "../../sync/sync-service.js";
import { parseStreamToken } from "../../sync/tokens.js";
import { clientPaths } from "./client-paths.js";

export interface SyncRoutesDeps {
  auth: Authenticator;
  sync: SyncService;
  /** Longest long-poll honoured; a larger `timeout` is cut to it. */
  maxTimeoutMs: number;
}

const bool = z.enum(["true", "false"]).transform((v) => v === "true");
const query = z.looseObject({
  filter: z.string().optional(),
  since: z.string().optional(),
  full_state: bool.optional(),
  set_presence: z.enum(PRESENCE_STATES).optional(),
  timeout: z.string().regex(/^\d{1,12}$/, "must be a non-negative integer").optional(),
  use_state_after: bool.optional(),
});

// Client-server API "Syncing": GET /sync.
export function syncRoutes(deps: SyncRoutesDeps): Router {
  const router = new Router();

  router.get(clientPaths("/sync"), async (ctx) => {
    const me = await deps.auth.authenticate(ctx, { allowGuests: true });
    const q = validateQuery(query, ctx.query);
    const since = q.since === undefined || q.since === "" ? undefined : parseStreamToken(q.since, "since");
    // A client that goes away frees its waiter at once (the socket closes before we answer).
    const abort = new AbortController();
    const onClose = () => {
      if (!ctx.res.writableFinished) abort.abort();
    };
    ctx.req.socket.once("close", onClose);
    try {
      ctx.body = await deps.sync.sync(
        {
          userId: me.userId,
          deviceId: me.deviceId,
          since,
          filter: q.filter,
          fullState: q.full_state ?? false,
          setPresence: q.set_presence ?? "online",
          timeoutMs: Math.min(Number(q.timeout ?? "0"), deps.maxTimeoutMs),
          useStateAfter: q.use_state_after ?? false,
        },
        abort.signal,
      );
    } finally {
      ctx.req.socket.off("close", onClose);
    }
  });

  return router;
}
