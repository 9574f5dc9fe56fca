import { createHmac } from "node:crypto";
import { Router } from "@koa/router";
import type { Authenticator } from "../../http/auth.js";
import { MatrixError } from "../../http/errors.js";
import { clientPaths } from "./client-paths.js";

export interface VoipConfig {
  turnUris: readonly string[];
  /** TURN REST API shared secret (coturn `static-auth-secret`). */
  turnSharedSecret?: string | undefined;
  /** Fixed TURN credentials, when there is no shared secret. */
  turnUsername?: string | undefined;
  turnPassword?: string | undefined;
  turnUserLifetimeMs: number;
  turnAllowGuests: boolean;
  /** MatrixRTC foci (MSC4143), as clients read them. */
  rtcFoci: ReadonlyArray<Record<string, unknown>>;
}

export interface VoipRoutesDeps {
  auth: Authenticator;
  config: VoipConfig;
  now?: () => number;
}

/**
 * TURN REST API credentials: the username is `expiry:user_id` (expiry in
 * Unix seconds) and the password the base64 HMAC-SHA1 of the username under
 * the shared secret, which the TURN server checks with the same secret.
 */
export function turnCredentials(secret: string, userId: string, lifetimeMs: number, nowMs: number): { username: string; password: string } {
  const expiry = Math.floor((nowMs + lifetimeMs) / 1000);
  const username = `${expiry}:${userId}`;
  return { username, password: createHmac("sha1", secret).update(username).digest("base64") };
}

// Client-server "Voice over IP" (GET /voip/turnServer) and MSC4143 RTC transports.
export function voipRoutes(deps: VoipRoutesDeps): Router {
  const router = new Router();
  const c = deps.config;
  const now = deps.now ?? Date.now;

  router.get(clientPaths("/voip/turnServer"), async (ctx) => {
    const me = await deps.auth.authenticate(ctx, { allowGuests: true });
    if (me.isGuest && !c.turnAllowGuests) throw new MatrixError(403, "M_FORBIDDEN", "Guests may not use the TURN server");
    // No TURN server configured: an empty object, as deployed servers answer (clients then use STUN only).
    if (c.turnUris.length === 0) {
      ctx.body = {};
      return;
    }
    const ttl = Math.floor(c.turnUserLifetimeMs / 1000);
    if (c.turnSharedSecret) {
      ctx.body = { ...turnCredentials(c.turnSharedSecret, me.userId, c.turnUserLifetimeMs, now()), uris: c.turnUris, ttl };
    } else if (c.turnUsername && c.turnPassword) {
      ctx.body = { username: c.turnUsername, password: c.turnPassword, uris: c.turnUris, ttl };
    } else ctx.body = {};
  });

  // MSC4143: the RTC transports (foci) this homeserver offers its users.
  router.get("/_matrix/client/unstable/org.matrix.msc4143/rtc/transports", async (ctx) => {
    await deps.auth.authenticate(ctx, { allowGuests: true });
    ctx.body = { rtc_transports: c.rtcFoci };
  });

  return router;
}
