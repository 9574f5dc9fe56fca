import { Router } from "@koa/router";
import { z } from "zod";
import { readJsonBody } from "../../http/body.js";
import { badJson, forbidden, MatrixError, unrecognized } from "../../http/errors.js";
import type { Ratelimiter } from "../../http/rate-limit.js";
import { validateBody } from "../../http/validate.js";
import type { AccessTokenAuthenticator } from "../../users/access-tokens.js";
import type { AccountService } from "../../users/accounts.js";
import type { SessionService } from "../../users/sessions.js";
import { readIdentifier } from "../../users/stages.js";
import type { UiaService } from "../../users/uia.js";
import { clientPaths, clientV1 } from "./client-paths.js";

export interface LoginRoutesDeps {
  serverName: string;
  accounts: AccountService;
  sessions: SessionService;
  uia: UiaService;
  auth: AccessTokenAuthenticator;
  loginPerIp: Ratelimiter;
  loginPerAccount: Ratelimiter;
  bodyLimit: number;
  loginGetTokenEnabled: boolean;
  /** The configured public client URL, sent as `well_known` (spec "Login" response). */
  publicBaseUrl?: string | undefined;
  /** `auth.oauth_only`: the legacy login is off ("Authentication API discovery"), appservice logins stay. */
  oauthOnly?: boolean;
}

const loginBody = z.looseObject({
  type: z.string(),
  password: z.string().optional(),
  token: z.string().optional(),
  device_id: z.string().optional(),
  initial_device_display_name: z.string().optional(),
  refresh_token: z.boolean().optional(),
});

// Client-server API "Login", "Logout", "Refreshing access tokens", "Current account information".
export function loginRoutes(deps: LoginRoutesDeps): Router {
  const router = new Router();

  router.get(clientPaths("/login"), (ctx) => {
    if (deps.oauthOnly) throw unrecognized(404, "This server signs users in through the OAuth 2.0 API only");
    const flows: Array<Record<string, unknown>> = [{ type: "m.login.password" }];
    flows.push(deps.loginGetTokenEnabled ? { type: "m.login.token", get_login_token: true } : { type: "m.login.token" });
    flows.push({ type: "m.login.application_service" });
    ctx.body = { flows };
  });

  router.post(clientPaths("/login"), async (ctx) => {
    const body = validateBody(loginBody, await readJsonBody(ctx, deps.bodyLimit));
    let userId: string;
    if (deps.oauthOnly && body.type !== "m.login.application_service") {
      throw new MatrixError(400, "M_UNKNOWN", "This server signs users in through the OAuth 2.0 API only");
    }
    switch (body.type) {
      case "m.login.password": {
        if (body.password === undefined) throw badJson("Missing required field 'password'");
        deps.loginPerIp.check(ctx.ip);
        const ident = readIdentifier(body);
        const typed = ident.kind === "user" ? ident.user! : `${ident.medium}:${ident.address}`;
        const user =
          ident.kind === "user" ? await deps.accounts.resolveUser(ident.user!) : await deps.accounts.resolveThreepid(ident.medium!, ident.address!);
        deps.loginPerAccount.check(user?.user_id ?? typed.toLowerCase());
        const ok = await deps.accounts.checkPassword(user, body.password, user?.user_id ?? typed.toLowerCase());
        if (ok.locked) throw new MatrixError(401, "M_USER_LOCKED", "This account has been locked", { soft_logout: true });
        userId = ok.user_id;
        break;
      }
      case "m.login.token": {
        if (body.token === undefined) throw badJson("Missing required field 'token'");
        deps.loginPerIp.check(ctx.ip);
        const owner = await deps.sessions.consumeLoginToken(body.token);
        if (!owner) throw forbidden("Invalid or expired login token");
        const user = await deps.accounts.getUser(owner);
        if (!user || user.deactivated) throw new MatrixError(403, "M_USER_DEACTIVATED", "This account has been deactivated");
        userId = owner;
        break;
      }
      case "m.login.application_service": {
        // "Appservice login": the appservice's token, and a user in its namespace.
        const requester = await deps.auth.authenticate(ctx);
        if (!requester.appServiceId) throw new MatrixError(401, "M_UNKNOWN_TOKEN", "This access token is not an application service's");
        const ident = readIdentifier(body);
        if (ident.kind !== "user") throw new MatrixError(400, "M_UNKNOWN", "Appservice login needs an m.id.user identifier");
        const user = await deps.accounts.resolveUser(ident.user!);
        if (!user || user.deactivated) throw forbidden("Unknown user");
        deps.accounts.checkAppServiceUser(requester.appServiceId, user.user_id);
        userId = user.user_id;
        break;
      }
      default:
        throw new MatrixError(400, "M_UNKNOWN", `Unknown login type '${body.type}'`);
    }
    const s = await deps.sessions.createSession(userId, {
      deviceId: body.device_id,
      displayName: body.initial_device_display_name ?? null,
      refresh: body.refresh_token === true,
    });
    const out: Record<string, unknown> = { ...s, home_server: deps.serverName };
    if (deps.publicBaseUrl) out.well_known = { "m.homeserver": { base_url: deps.publicBaseUrl } };
    ctx.body = out;
  });

  router.post(clientV1("/login/get_token"), async (ctx) => {
    if (!deps.loginGetTokenEnabled || deps.oauthOnly) throw unrecognized(404, "Login tokens are disabled on this server");
    const { requester } = await deps.auth.authenticateToken(ctx);
    const body = (await readJsonBody(ctx, deps.bodyLimit, { emptyAsObject: true })) as Record<string, unknown>;
    const session = await deps.uia.authenticate({
      operation: "POST /login/get_token",
      auth: body.auth,
      userId: requester.userId,
      flows: [{ stages: ["m.login.password"] }],
    });
    await deps.uia.finish(session.session_id);
    ctx.body = await deps.sessions.createLoginToken(requester.userId);
  });

  router.post([...clientPaths("/refresh"), clientV1("/refresh")], async (ctx) => {
    const body = validateBody(z.object({ refresh_token: z.string() }), await readJsonBody(ctx, deps.bodyLimit));
    ctx.body = await deps.sessions.refresh(body.refresh_token);
  });

  router.post(clientPaths("/logout"), async (ctx) => {
    const t = await deps.auth.authenticateToken(ctx, { allowGuests: true, allowLocked: true });
    if (t.tokenHash) await deps.sessions.logout(t.requester.userId, t.requester.deviceId, t.tokenHash);
    ctx.body = {};
  });

  router.post(clientPaths("/logout/all"), async (ctx) => {
    const t = await deps.auth.authenticateToken(ctx, { allowGuests: true, allowLocked: true });
    await deps.sessions.logoutOthers(t.requester.userId, null, undefined);
    ctx.body = {};
  });

  router.get(clientPaths("/account/whoami"), async (ctx) => {
    const { requester } = await deps.auth.authenticateToken(ctx, { allowGuests: true });
    const out: Record<string, unknown> = { user_id: requester.userId, is_guest: requester.isGuest };
    if (requester.deviceId !== null) out.device_id = requester.deviceId;
    ctx.body = out;
  });

  return router;
}
