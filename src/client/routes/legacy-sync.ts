import { Router } from "@koa/router";
import type { Context } from "koa";
import { z } from "zod";
import type { Authenticator } from "../../http/auth.js";
import { MatrixError } from "../../http/errors.js";
import { validateQuery } from "../../http/validate.js";
import type { RoomPeeking } from "../../rooms/peeking.js";
import type { LegacyStream } from "../../sync/legacy-stream.js";
import { parseStreamToken } from "../../sync/tokens.js";
import { clientPaths } from "./client-paths.js";

export interface LegacySyncRoutesDeps {
  auth: Authenticator;
  legacy: LegacyStream;
  peeking: RoomPeeking;
}

const intParam = z
  .string()
  .regex(/^\d{1,9}$/, "must be a non-negative integer")
  .transform(Number);
const bool = z.enum(["true", "false"]).transform((v) => v === "true");

const eventsQuery = z.looseObject({ room_id: z.string().optional(), from: z.string().optional(), timeout: intParam.optional(), limit: intParam.optional() });
const initialSyncQuery = z.looseObject({ limit: intParam.optional(), archived: bool.optional() });

// The event stream's page size when the client names none, and its ceiling.
const DEFAULT_EVENTS_LIMIT = 100;
const MAX_EVENTS_LIMIT = 1000;
// Messages per room in the initial syncs.
const DEFAULT_INITIAL_LIMIT = 20;
const MAX_INITIAL_LIMIT = 1000;

/** A client that goes away frees its long-poll at once. */
function closeSignal(ctx: Context): { signal: AbortSignal; done(): void } {
  const abort = new AbortController();
  const onClose = () => {
    if (!ctx.res.writableFinished) abort.abort();
  };
  ctx.req.socket.once("close", onClose);
  return { signal: abort.signal, done: () => ctx.req.socket.off("close", onClose) };
}

/**
 * The deprecated endpoints of the client-server API's earlier versions that
 * clients still use: GET /events (with `room_id`, "Room Previews"; without,
 * the user's whole event stream), GET /initialSync and
 * GET /rooms/{roomId}/initialSync.
 */
export function legacySyncRoutes(deps: LegacySyncRoutesDeps): Router {
  const router = new Router();

  router.get(clientPaths("/events"), async (ctx) => {
    const me = await deps.auth.authenticate(ctx, { allowGuests: true });
    const q = validateQuery(eventsQuery, ctx.query);
    // Guests follow only the rooms they peek into.
    if (me.isGuest && q.room_id === undefined) throw new MatrixError(403, "M_GUEST_ACCESS_FORBIDDEN", "Guests must name a room_id");
    const timeout = q.timeout ?? 30_000;
    if (q.room_id !== undefined) {
      ctx.body = await deps.peeking.events(me, q.room_id, q.from, timeout);
      return;
    }
    const from = q.from === undefined || q.from === "" ? undefined : parseStreamToken(q.from, "from");
    const limit = Math.min(q.limit ?? DEFAULT_EVENTS_LIMIT, MAX_EVENTS_LIMIT);
    if (limit === 0) throw new MatrixError(400, "M_INVALID_PARAM", "limit must be positive");
    const close = closeSignal(ctx);
    try {
      ctx.body = await deps.legacy.events(me, from, timeout, limit, close.signal);
    } finally {
      close.done();
    }
  });

  router.get(clientPaths("/initialSync"), async (ctx) => {
    const me = await deps.auth.authenticate(ctx);
    const q = validateQuery(initialSyncQuery, ctx.query);
    ctx.body = await deps.legacy.initialSync(me, Math.min(q.limit ?? DEFAULT_INITIAL_LIMIT, MAX_INITIAL_LIMIT), q.archived ?? false);
  });

  router.get(clientPaths("/rooms/:roomId/initialSync"), async (ctx) => {
    const me = await deps.auth.authenticate(ctx, { allowGuests: true });
    const q = validateQuery(initialSyncQuery, ctx.query);
    ctx.body = await deps.legacy.roomInitialSync(me, ctx.params.roomId!, Math.min(q.limit ?? DEFAULT_INITIAL_LIMIT, MAX_INITIAL_LIMIT));
  });

  return router;
}
