import { Router } from "@koa/router";
import { notFound } from "../../http/errors.js";

export interface WellKnownOptions {
  /** `m.homeserver.base_url` for client discovery; a function since the port may be known only after listening. */
  clientBaseUrl: () => string;
  /** `m.server` delegation target, when federation is delegated. */
  server?: string | undefined;
}

// Client-server API "Server Discovery" and server-server API "Resolving server names".
export function wellKnownRoutes(opts: WellKnownOptions): Router {
  const router = new Router();
  router.get("/.well-known/matrix/client", (ctx) => {
    ctx.body = { "m.homeserver": { base_url: opts.clientBaseUrl() } };
  });
  router.get("/.well-known/matrix/server", (ctx) => {
    if (!opts.server) throw notFound("No server delegation is configured");
    ctx.body = { "m.server": opts.server };
  });
  return router;
}
