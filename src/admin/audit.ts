import type { Context, Next } from "koa";
import type { Authenticator } from "../http/auth.js";
import type { Logger } from "../logging.js";
import type { AdminRepo } from "../storage/admin-repo.js";

const ADMIN_PATH = /^\/_(synapse\/admin|matrix\/client\/v1\/admin)\//;
const READ_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);
// Reads that disclose someone's personal data or private messages are logged too.
const SENSITIVE_READS = /^\/_synapse\/admin\/v1\/(users\/[^/]+\/export|rooms\/[^/]+\/(messages|context\/[^/]+))$/;

/**
 * Records every admin action that changed something (a non-read request to
 * an admin path that succeeded) and every read of a user's data export or of
 * a room's messages: who, which endpoint, on what, when. Done after the
 * response is decided, so a refused request is not an action.
 */
export function auditMiddleware(deps: { repo: AdminRepo; auth: Authenticator; now: () => number; log: Logger }) {
  return async (ctx: Context, next: Next): Promise<void> => {
    await next();
    if (!ADMIN_PATH.test(ctx.path) || ctx.status >= 400) return;
    if (READ_METHODS.has(ctx.method) && !(ctx.method === "GET" && SENSITIVE_READS.test(ctx.path))) return;
    let who: string;
    try {
      who = (await deps.auth.authenticate(ctx)).userId;
    } catch {
      // Shared-secret registration has no access token; the secret is the actor.
      who = "shared_secret";
    }
    const matched = (ctx as Context & { _matchedRoute?: string | RegExp })._matchedRoute;
    const params = (ctx as Context & { params?: Record<string, string> }).params ?? {};
    try {
      await deps.repo.audit({
        ts: deps.now(),
        adminUserId: who,
        action: `${ctx.method} ${typeof matched === "string" ? matched : ctx.path}`,
        target: { ...params },
        status: ctx.status,
      });
    } catch (err) {
      deps.log.error({ err }, "could not write the admin audit log");
    }
  };
}
