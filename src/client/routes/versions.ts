import { Router } from "@koa/router";

/**
 * Spec versions we advertise. Only versions whose required endpoints are really
 * served belong here: clients take this list at its word. Grows as features land.
 */
export const SUPPORTED_SPEC_VERSIONS: readonly string[] = [];

/** Unstable features (MSC flags) we really implement. */
export const UNSTABLE_FEATURES: Readonly<Record<string, boolean>> = {};

export function versionsRoutes(): Router {
  const router = new Router();
  router.get("/_matrix/client/versions", (ctx) => {
    ctx.body = { versions: SUPPORTED_SPEC_VERSIONS, unstable_features: UNSTABLE_FEATURES };
  });
  return router;
}
