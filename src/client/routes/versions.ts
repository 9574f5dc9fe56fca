import { Router } from "@koa/router";

/**
 * Spec versions we advertise. Only versions whose required endpoints are really
 * served belong here: clients take this list at its word. Grows as features land.
 */
export const SUPPORTED_SPEC_VERSIONS: readonly string[] = [
  // Accounts: login, registration with UIA, whoami with device_id and
  // is_guest (v1.2), refresh tokens (v1.3), login/get_token (v1.7), account
  // locking errors (v1.8). Custom profile fields (v1.16) are announced through
  // the m.profile_fields capability. Later versions are for the areas whose
  // features they add (v1.11 authenticated media, ...).
  "v1.1",
  "v1.2",
  "v1.3",
  "v1.4",
  "v1.5",
  "v1.6",
  "v1.7",
  "v1.8",
  // v1.9: the .m.rule.suppress_edits default push rule. v1.10: /relations
  // `recurse`. v1.11: authenticated media (/_matrix/client/v1/media/*),
  // first cross-signing upload without UIA. Clients such as Element switch to
  // authenticated media only when v1.11 is listed, and new media is not
  // served on the frozen legacy endpoints, so this entry matters.
  "v1.9",
  "v1.10",
  "v1.11",
];

/** Unstable features (MSC flags) we really implement. */
export const UNSTABLE_FEATURES: Readonly<Record<string, boolean>> = {
  // Dehydrated devices (e2ee area, /_matrix/client/unstable/org.matrix.msc3814.v1).
  "org.matrix.msc3814": true,
  // Simplified sliding sync (sync/sliding/, POST /_matrix/client/unstable/org.matrix.simplified_msc3575/sync).
  "org.matrix.simplified_msc3575": true,
};

/** `configured`: flags that depend on the configuration (e.g. org.matrix.msc4140 when delayed events are enabled). */
export function versionsRoutes(configured: Readonly<Record<string, boolean>> = {}): Router {
  const router = new Router();
  const unstable = { ...UNSTABLE_FEATURES, ...configured };
  router.get("/_matrix/client/versions", (ctx) => {
    ctx.body = { versions: SUPPORTED_SPEC_VERSIONS, unstable_features: unstable };
  });
  return router;
}
