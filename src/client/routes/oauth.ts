import { Router } from "@koa/router";
import type { Context } from "koa";
import type { Ratelimiter } from "../../http/rate-limit.js";
import { readJsonBody } from "../../http/body.js";
import { GRANT_AUTHORIZATION_CODE, GRANT_DEVICE_CODE, GRANT_REFRESH_TOKEN, validateClientMetadata } from "../../oauth/client-metadata.js";
import { invalidClientMetadata, OAuthError, oauthEndpoint } from "../../oauth/errors.js";
import { readForm } from "../../oauth/form.js";
import type { OAuthGrants } from "../../oauth/grants.js";
import type { IdTokenSigner } from "../../oauth/id-token.js";
import type { OAuthClients } from "../../oauth/clients.js";
import { clientV1 } from "./client-paths.js";

export interface OAuthRoutesDeps {
  grants: OAuthGrants;
  clients: OAuthClients;
  signer: IdTokenSigner;
  /** The public base URL of the client API, without a trailing slash. */
  baseUrl: () => string;
  /** `prompt=create` works (the registration page is on). */
  registrationPage: boolean;
  /** Client registrations per address (each sign-in registers a client, so a generous rule). */
  clientRegistrationLimiter: Ratelimiter;
}

/** Account management actions the account page handles ("Account management URL actions"). */
export const ACCOUNT_ACTIONS = ["org.matrix.profile", "org.matrix.devices_list", "org.matrix.device_view", "org.matrix.device_delete", "org.matrix.account_deactivate", "org.matrix.cross_signing_reset"];

/** Endpoint URLs, relative to the base URL. */
export const OAUTH_PATHS = {
  authorization: "/oauth2/auth",
  token: "/oauth2/token",
  revocation: "/oauth2/revoke",
  registration: "/oauth2/register",
  device: "/oauth2/device",
  jwks: "/oauth2/keys.json",
  verification: "/oauth2/link",
  account: "/account/",
};

/** The issuer identifier (RFC 8414 section 2): the base URL with a trailing slash. */
export const issuerFor = (baseUrl: string) => `${baseUrl}/`;

/** "Server metadata discovery" (RFC 8414), with the OpenID Connect fields matrix-js-sdk reads. */
export function authMetadata(deps: Pick<OAuthRoutesDeps, "baseUrl" | "registrationPage">): Record<string, unknown> {
  const base = deps.baseUrl();
  const out: Record<string, unknown> = {
    issuer: issuerFor(base),
    authorization_endpoint: base + OAUTH_PATHS.authorization,
    token_endpoint: base + OAUTH_PATHS.token,
    revocation_endpoint: base + OAUTH_PATHS.revocation,
    registration_endpoint: base + OAUTH_PATHS.registration,
    device_authorization_endpoint: base + OAUTH_PATHS.device,
    jwks_uri: base + OAUTH_PATHS.jwks,
    response_types_supported: ["code"],
    response_modes_supported: ["query", "fragment"],
    grant_types_supported: [GRANT_AUTHORIZATION_CODE, GRANT_REFRESH_TOKEN, GRANT_DEVICE_CODE],
    code_challenge_methods_supported: ["S256"],
    token_endpoint_auth_methods_supported: ["none"],
    revocation_endpoint_auth_methods_supported: ["none"],
    scopes_supported: ["openid", "urn:matrix:client:api:*", "urn:matrix:client:device:*"],
    id_token_signing_alg_values_supported: ["RS256"],
    subject_types_supported: ["public"],
    claims_supported: ["iss", "sub", "aud", "exp", "iat", "auth_time", "nonce"],
    account_management_uri: base + OAUTH_PATHS.account,
    account_management_actions_supported: ACCOUNT_ACTIONS,
  };
  if (deps.registrationPage) out.prompt_values_supported = ["create"];
  return out;
}

/** Token endpoint responses carry credentials and are never cached (RFC 6749 section 5.1). */
function noStore(ctx: Context): void {
  ctx.set({ "Cache-Control": "no-store", Pragma: "no-cache" });
}

// Client-server API "OAuth 2.0 API": server metadata, dynamic client
// registration, the token endpoint (authorisation code, refresh token and
// device code grants), token revocation and the device authorisation endpoint.
export function oauthRoutes(deps: OAuthRoutesDeps): Router {
  const router = new Router();

  const metadata = (ctx: Context) => {
    ctx.set("Cache-Control", "public, max-age=300");
    ctx.body = authMetadata(deps);
  };
  router.get([clientV1("/auth_metadata"), "/_matrix/client/unstable/org.matrix.msc2965/auth_metadata"], metadata);
  router.get(["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"], metadata);
  // What clients asked before auth_metadata existed (MSC2965's first form).
  router.get("/_matrix/client/unstable/org.matrix.msc2965/auth_issuer", (ctx) => {
    ctx.body = { issuer: issuerFor(deps.baseUrl()) };
  });
  router.get(OAUTH_PATHS.jwks, async (ctx) => {
    ctx.set("Cache-Control", "public, max-age=3600");
    ctx.body = await deps.signer.jwks();
  });

  // "Dynamic client registration flow" (RFC 7591 section 3).
  router.post(
    OAUTH_PATHS.registration,
    oauthEndpoint(async (ctx) => {
      deps.clientRegistrationLimiter.check(ctx.ip);
      let body: unknown;
      try {
        body = await readJsonBody(ctx, 64 * 1024);
      } catch (err) {
        if ((err as { errcode?: string }).errcode === "M_TOO_LARGE") throw err;
        throw invalidClientMetadata("The body must be a JSON object");
      }
      const metadata = validateClientMetadata(body);
      const registered = await deps.clients.register(metadata);
      noStore(ctx);
      ctx.status = 201;
      ctx.body = registered;
    }),
  );

  router.post(
    OAUTH_PATHS.token,
    oauthEndpoint(async (ctx) => {
      const p = await readForm(ctx);
      const grantType = p.require("grant_type");
      let out;
      switch (grantType) {
        case GRANT_AUTHORIZATION_CODE:
          out = await deps.grants.exchangeCode(p);
          break;
        case GRANT_REFRESH_TOKEN:
          out = await deps.grants.refresh(p);
          break;
        case GRANT_DEVICE_CODE:
          out = await deps.grants.pollDeviceGrant(p);
          break;
        default:
          throw new OAuthError(400, "unsupported_grant_type", `Unsupported grant_type '${grantType}'`);
      }
      noStore(ctx);
      ctx.body = out;
    }),
  );

  // "Token revocation" (RFC 7009 section 2.2): 200 whether or not the token was known.
  router.post(
    OAUTH_PATHS.revocation,
    oauthEndpoint(async (ctx) => {
      await deps.grants.revoke(await readForm(ctx));
      noStore(ctx);
      ctx.body = {};
    }),
  );

  // "Device authorisation request" (RFC 8628 section 3.1).
  router.post(
    OAUTH_PATHS.device,
    oauthEndpoint(async (ctx) => {
      const out = await deps.grants.startDeviceGrant(await readForm(ctx));
      noStore(ctx);
      ctx.body = out;
    }),
  );

  return router;
}
