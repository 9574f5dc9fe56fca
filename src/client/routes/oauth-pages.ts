import { Router } from "@koa/router";
import type { Context } from "koa";
import { MatrixError } from "../../http/errors.js";
import type { AccountManagement } from "../../oauth/account-management.js";
import { OAuthError } from "../../oauth/errors.js";
import { Params } from "../../oauth/form.js";
import type { AuthorizationRequest, OAuthGrants, StoredClient } from "../../oauth/grants.js";
import {
  consentPage,
  deviceCodePage,
  deviceConsentPage,
  deviceDonePage,
  errorPage,
  loginPage,
  registerPage,
  STYLESHEET,
  type ClientView,
} from "../../oauth/pages.js";
import { loginUrl, redirectTo, safeThen, sendPage, type WebContext } from "../../oauth/web.js";

export interface OAuthPageDeps {
  web: WebContext;
  grants: OAuthGrants;
  account: AccountManagement;
  /** Whether the registration page (and `prompt=create`) is on. */
  registrationPage: boolean;
}

export function clientView(c: StoredClient): ClientView {
  return { name: c.client_name ?? new URL(c.client_uri).host, clientUri: c.client_uri, tosUri: c.tos_uri, policyUri: c.policy_uri };
}

/** What a MatrixError from the password check means for a person at a login form. */
function loginFailure(err: unknown): { status: number; message: string } {
  if (err instanceof MatrixError) {
    switch (err.errcode) {
      case "M_LIMIT_EXCEEDED":
        return { status: 429, message: "Too many attempts. Wait a moment and try again." };
      case "M_USER_DEACTIVATED":
        return { status: 403, message: "This account has been deactivated." };
      case "M_USER_LOCKED":
        return { status: 403, message: "This account has been locked." };
      case "M_FORBIDDEN":
        return { status: 403, message: err.message === "Invalid username or password" ? "Wrong username or password." : err.message };
      default:
        return { status: 400, message: err.message };
    }
  }
  throw err;
}

// Client-server API "Authorisation code flow" and "Device authorisation flow":
// the server's own login, registration and consent pages. Plain HTML forms
// (they work without JavaScript), CSRF-checked, every value escaped.
export function oauthPageRoutes(deps: OAuthPageDeps): Router {
  const router = new Router();
  const { web } = deps;
  const serverName = web.serverName;

  router.get("/oauth2/assets/style.css", (ctx) => {
    ctx.set("Cache-Control", "public, max-age=3600");
    ctx.set("X-Content-Type-Options", "nosniff");
    ctx.type = "text/css; charset=utf-8";
    ctx.body = STYLESHEET;
  });

  // --- sign in, register, sign out ---

  router.get("/oauth2/login", async (ctx) => {
    const then = safeThen(typeof ctx.query.then === "string" ? ctx.query.then : undefined);
    if (await web.user(ctx)) return redirectTo(ctx, then);
    const registerHref = deps.registrationPage ? `/oauth2/signup?then=${encodeURIComponent(then)}` : undefined;
    // MSC4198 `login_hint=mxid:@user:server` on the authorisation request fills in the username.
    const hint = new URLSearchParams(then.split("?")[1] ?? "").get("login_hint");
    const username = hint?.startsWith("mxid:") ? hint.slice(5) : undefined;
    sendPage(ctx, 200, loginPage({ serverName, csrf: web.csrf(ctx), then, registerHref, username }));
  });

  router.post("/oauth2/login", async (ctx) => {
    const p = await web.form(ctx);
    if (!p) return;
    const then = safeThen(p.get("then"));
    const username = p.get("username") ?? "";
    try {
      const userId = await deps.account.checkPassword(ctx.ip, username, p.get("password") ?? "");
      await web.signIn(ctx, userId);
      redirectTo(ctx, then);
    } catch (err) {
      const f = loginFailure(err);
      const registerHref = deps.registrationPage ? `/oauth2/signup?then=${encodeURIComponent(then)}` : undefined;
      sendPage(ctx, f.status, loginPage({ serverName, csrf: web.csrf(ctx), then, username, error: f.message, registerHref }));
    }
  });

  router.get("/oauth2/signup", async (ctx) => {
    const then = safeThen(typeof ctx.query.then === "string" ? ctx.query.then : undefined);
    if (!deps.registrationPage) return redirectTo(ctx, loginUrl(then));
    sendPage(ctx, 200, registerPage({ serverName, csrf: web.csrf(ctx), then, loginHref: loginUrl(then) }));
  });

  router.post("/oauth2/signup", async (ctx) => {
    const p = await web.form(ctx);
    if (!p) return;
    const then = safeThen(p.get("then"));
    if (!deps.registrationPage) return sendPage(ctx, 403, errorPage(serverName, "Registration is closed on this server."));
    const username = p.get("username") ?? "";
    const page = (status: number, error: string) =>
      sendPage(ctx, status, registerPage({ serverName, csrf: web.csrf(ctx), then, username, error, loginHref: loginUrl(then) }));
    const password = p.get("password") ?? "";
    if (password !== (p.get("password_confirm") ?? "")) return page(400, "The passwords do not match.");
    try {
      const userId = await deps.account.register(ctx.ip, username, password);
      await web.signIn(ctx, userId);
      redirectTo(ctx, then);
    } catch (err) {
      if (!(err instanceof MatrixError)) throw err;
      page(err.status === 429 ? 429 : 400, err.status === 429 ? "Too many attempts. Wait a moment and try again." : err.message);
    }
  });

  router.post("/oauth2/logout", async (ctx) => {
    const p = await web.form(ctx);
    if (!p) return;
    await web.signOut(ctx);
    redirectTo(ctx, loginUrl(safeThen(p.get("then"))));
  });

  // --- authorisation endpoint ---

  /** Parses and checks an authorisation request; answers the error itself and returns undefined when it cannot go on. */
  const checkRequest = async (ctx: Context, query: string): Promise<AuthorizationRequest | undefined> => {
    let check;
    try {
      check = await deps.grants.checkAuthorizationRequest(Params.parse(new URLSearchParams(query)));
    } catch (err) {
      if (!(err instanceof OAuthError)) throw err;
      sendPage(ctx, 400, errorPage(serverName, err.message));
      return undefined;
    }
    if (check.ok) return check.request;
    if ("fatal" in check) sendPage(ctx, 400, errorPage(serverName, check.fatal));
    else redirectTo(ctx, check.redirect);
    return undefined;
  };

  const consent = (ctx: Context, request: AuthorizationRequest, userId: string, query: string) => {
    const redirectHost = (() => {
      const u = new URL(request.redirectUri);
      return u.host || `${u.protocol}`;
    })();
    sendPage(
      ctx,
      200,
      consentPage({
        serverName,
        csrf: web.csrf(ctx),
        userId,
        client: clientView(request.client),
        deviceId: request.scope.deviceId,
        query,
        redirectHost,
        self: `/oauth2/auth?${query}`,
      }),
    );
  };

  router.get("/oauth2/auth", async (ctx) => {
    const query = ctx.querystring;
    const request = await checkRequest(ctx, query);
    if (!request) return;
    const user = await web.user(ctx);
    if (request.prompt.has("none")) {
      // OpenID Connect "prompt=none": no page may be shown, and consent is always asked here.
      return redirectTo(ctx, deps.grants.deny(request, user ? "consent_required" : "login_required", "User interaction is required"));
    }
    const wantsRegistration = request.prompt.has("create") && deps.registrationPage;
    if (!user || request.prompt.has("login") || wantsRegistration) {
      // Sign in (or register), then come back here without prompt=login, so the page does not loop.
      const back = new URLSearchParams(query);
      const prompt = [...request.prompt].filter((v) => v !== "login" && v !== "create");
      if (prompt.length) back.set("prompt", prompt.join(" "));
      else back.delete("prompt");
      const then = `/oauth2/auth?${back.toString()}`;
      if (request.prompt.has("login")) await web.signOut(ctx);
      if (wantsRegistration) return redirectTo(ctx, `/oauth2/signup?then=${encodeURIComponent(then)}`);
      return redirectTo(ctx, loginUrl(then));
    }
    consent(ctx, request, user.userId, query);
  });

  router.post("/oauth2/consent", async (ctx) => {
    const p = await web.form(ctx);
    if (!p) return;
    const query = p.get("q") ?? "";
    const request = await checkRequest(ctx, query);
    if (!request) return;
    const user = await web.user(ctx);
    if (!user) return redirectTo(ctx, loginUrl(`/oauth2/auth?${query}`));
    if (p.get("action") !== "allow") return redirectTo(ctx, deps.grants.deny(request));
    const blocked = await deps.account.blockedReason(user.userId);
    if (blocked) return redirectTo(ctx, deps.grants.deny(request, "access_denied", blocked));
    redirectTo(ctx, await deps.grants.approve(request, user.userId, user.authTime));
  });

  // --- device authorisation: the verification page ---

  /** Rate limits user-code lookups (RFC 8628 section 5.1: user codes are guessable by brute force). */
  const userCodeRate = (ctx: Context, userId: string, code: string): boolean => {
    try {
      deps.account.checkUserCodeRate(ctx.ip);
      return true;
    } catch (err) {
      if (!(err instanceof MatrixError) || err.status !== 429) throw err;
      sendPage(ctx, 429, deviceCodePage({ serverName, csrf: web.csrf(ctx), userId, userCode: code, error: "Too many attempts. Wait a moment and try again." }));
      return false;
    }
  };

  router.get("/oauth2/link", async (ctx) => {
    const code = typeof ctx.query.user_code === "string" ? ctx.query.user_code : undefined;
    const self = code ? `/oauth2/link?user_code=${encodeURIComponent(code)}` : "/oauth2/link";
    const user = await web.user(ctx);
    if (!user) return redirectTo(ctx, loginUrl(self));
    const csrf = web.csrf(ctx);
    if (code === undefined || code === "") return sendPage(ctx, 200, deviceCodePage({ serverName, csrf, userId: user.userId }));
    if (!userCodeRate(ctx, user.userId, code)) return;
    const grant = await deps.grants.findDeviceGrant(code);
    if (!grant) {
      return sendPage(ctx, 404, deviceCodePage({ serverName, csrf, userId: user.userId, userCode: code, error: "This code is unknown or has expired." }));
    }
    sendPage(
      ctx,
      200,
      deviceConsentPage({ serverName, csrf, userId: user.userId, client: clientView(grant.client), deviceId: grant.scope.deviceId, userCode: code }),
    );
  });

  router.post("/oauth2/link", async (ctx) => {
    const p = await web.form(ctx);
    if (!p) return;
    const code = p.get("user_code") ?? "";
    const user = await web.user(ctx);
    if (!user) return redirectTo(ctx, loginUrl(`/oauth2/link?user_code=${encodeURIComponent(code)}`));
    if (!userCodeRate(ctx, user.userId, code)) return;
    const grant = await deps.grants.findDeviceGrant(code);
    const csrf = web.csrf(ctx);
    if (!grant) {
      return sendPage(ctx, 404, deviceCodePage({ serverName, csrf, userId: user.userId, userCode: code, error: "This code is unknown or has expired." }));
    }
    const approve = p.get("action") === "allow";
    if (approve) {
      const blocked = await deps.account.blockedReason(user.userId);
      if (blocked) return sendPage(ctx, 403, errorPage(serverName, blocked));
    }
    const decided = await deps.grants.decideDeviceGrant(grant.id, user.userId, approve);
    if (!decided) return sendPage(ctx, 409, errorPage(serverName, "This request was already answered."));
    sendPage(ctx, 200, deviceDonePage({ approved: approve }));
  });

  return router;
}
