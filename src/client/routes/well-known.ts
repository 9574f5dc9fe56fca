import { Router } from "@koa/router";
import { notFound } from "../../http/errors.js";

export interface WellKnownOptions {
  /** `m.homeserver.base_url` for client discovery; a function since the port may be known only after listening. */
  clientBaseUrl: () => string;
  /** `m.server` delegation target, when federation is delegated. */
  server?: string | undefined;
  /** MatrixRTC foci (MSC4143), advertised as `org.matrix.msc4143.rtc_foci` and `m.rtc_foci`. */
  rtcFoci?: ReadonlyArray<Record<string, unknown>>;
}

// Client-server API "Server Discovery" and server-server API "Resolving server names".
export function wellKnownRoutes(opts: WellKnownOptions): Router {
  const router = new Router();
  router.get("/.well-known/matrix/client", (ctx) => {
    const body: Record<string, unknown> = { "m.homeserver": { base_url: opts.clientBaseUrl() } };
    if (opts.rtcFoci && opts.rtcFoci.length > 0) {
      body["org.matrix.msc4143.rtc_foci"] = opts.rtcFoci;
      body["m.rtc_foci"] = opts.rtcFoci;
    }
    ctx.body = body;
  });
  router.get("/.well-known/matrix/server", (ctx) => {
    if (!opts.server) throw notFound("No server delegation is configured");
    ctx.body = { "m.server": opts.server };
  });
  return router;
}
