import { Router } from "@koa/router";
import type { Context } from "koa";
import { z } from "zod";
import { readJsonBody } from "../../http/body.js";
import { forbidden, MatrixError } from "../../http/errors.js";
import type { Ratelimiter } from "../../http/rate-limit.js";
import { validateBody, validateQuery } from "../../http/validate.js";
import type { UiaRepo } from "../../storage/uia-repo.js";
import type { AccessTokenAuthenticator } from "../../users/access-tokens.js";
import type { AccountService } from "../../users/accounts.js";
import type { PasswordPolicy } from "../../users/passwords.js";
import { checkDeviceDisplayName, checkDeviceId, type SessionService } from "../../users/sessions.js";
import { UiaChallenge, type UiaFlow, type UiaService } from "../../users/uia.js";
import type { Clock } from "../../users/deps.js";
import { clientPaths, clientV1 } from "./client-paths.js";

export interface RegisterRoutesDeps {
  serverName: string;
  registration: {
    enabled: boolean;
    allow_guests: boolean;
    require_token: boolean;
    require_email: boolean;
    recaptcha?: { public_key: string } | undefined;
  };
  /** `auth.oauth_only`: accounts are made on the OAuth registration page; only appservices register here. */
  oauthOnly?: boolean;
  passwordPolicy: PasswordPolicy;
  accounts: AccountService;
  sessions: SessionService;
  uia: UiaService;
  uiaRepo: UiaRepo;
  auth: AccessTokenAuthenticator;
  registrationLimiter: Ratelimiter;
  /** For /register/available and token validity checks: their own buckets, so checks do not use up registrations. */
  checkLimiter: Ratelimiter;
  bodyLimit: number;
  clock: Clock;
  /** An SMTP server is configured (offers the optional email flow). */
  emailEnabled: boolean;
  /** Adds a validated 3PID to a newly registered account (the email stage). */
  addThreepid?: (userId: string, t: { medium: string; address: string; validated_ts: number }) => Promise<void>;
  /** Whether an account already holds this 3PID. */
  threepidInUse?: (medium: string, address: string) => Promise<boolean>;
}

const registerBody = z.looseObject({
  username: z.string().optional(),
  password: z.string().optional(),
  device_id: z.string().optional(),
  initial_device_display_name: z.string().optional(),
  inhibit_login: z.boolean().optional(),
  refresh_token: z.boolean().optional(),
  type: z.string().optional(),
  guest_access_token: z.string().optional(),
});

/**
 * The registration flows: a token stage when required, an email stage when
 * required; with mail configured but optional, a second flow that includes the
 * email stage lets clients offer "email (optional)", as Element does.
 */
export function registrationFlows(r: RegisterRoutesDeps["registration"], emailEnabled: boolean): UiaFlow[] {
  const base: string[] = [...(r.recaptcha ? ["m.login.recaptcha"] : []), ...(r.require_token ? ["m.login.registration_token"] : [])];
  if (r.require_email) return [{ stages: [...base, "m.login.email.identity"] }];
  const flows: UiaFlow[] = [{ stages: base.length ? base : ["m.login.dummy"] }];
  if (emailEnabled) flows.push({ stages: [...base, "m.login.email.identity"] });
  return flows;
}

/** The 401's `params`: the reCAPTCHA site key clients show the captcha with ("Google ReCaptcha"). */
function registrationParams(r: RegisterRoutesDeps["registration"]): Record<string, unknown> {
  return r.recaptcha ? { "m.login.recaptcha": { public_key: r.recaptcha.public_key } } : {};
}

// Client-server API "Account registration".
export function registerRoutes(deps: RegisterRoutesDeps): Router {
  const router = new Router();

  router.post(clientPaths("/register"), async (ctx) => {
    const kind = ctx.query.kind ?? "user";
    if (kind !== "user" && kind !== "guest") throw new MatrixError(400, "M_INVALID_PARAM", "kind must be 'user' or 'guest'");
    const body = validateBody(registerBody, await readJsonBody(ctx, deps.bodyLimit, { emptyAsObject: true }));
    // Device fields are checked before anything is created.
    checkDeviceId(body.device_id);
    checkDeviceDisplayName(body.initial_device_display_name);

    if (deps.oauthOnly && body.type !== "m.login.application_service") {
      throw forbidden("Registration goes through the OAuth 2.0 API on this server");
    }
    if (deps.oauthOnly && body.inhibit_login !== true) {
      // "Account registration" (v1.17): without the legacy API an appservice must set inhibit_login.
      throw new MatrixError(400, "M_APPSERVICE_LOGIN_UNSUPPORTED", "Set inhibit_login: this server has no legacy login");
    }

    if (kind === "guest") {
      if (!deps.registration.allow_guests) throw new MatrixError(403, "M_GUEST_ACCESS_FORBIDDEN", "Guest access is disabled");
      deps.registrationLimiter.check(ctx.ip);
      const userId = await deps.accounts.createGuest();
      const s = await deps.sessions.createSession(userId, { deviceId: body.device_id, displayName: body.initial_device_display_name ?? null });
      ctx.body = { ...s, home_server: deps.serverName };
      return;
    }

    if (body.type === "m.login.application_service") {
      await registerAppServiceUser(ctx, deps, body);
      return;
    }

    if (!deps.registration.enabled) throw forbidden("Registration has been disabled");

    // "User-interactive authentication": the session carries the request across its
    // steps. A later step may leave out what the first one sent (deployed servers
    // remember it), and a repeat after success answers for the same account.
    const sessionId = typeof (body.auth as { session?: unknown } | undefined)?.session === "string" ? ((body.auth as { session: string }).session) : undefined;
    const existing = sessionId !== undefined ? await deps.uiaRepo.getSession(sessionId) : undefined;
    const remembered = (existing?.operation === "POST /register" ? existing.data.register_params : undefined) as RememberedParams | undefined;
    const p: RememberedParams = { ...remembered, ...definedParams(body) };
    const registeredUserId = existing?.operation === "POST /register" ? existing.data.registered_user_id : undefined;
    if (typeof registeredUserId === "string") {
      await respondRegistered(ctx, deps, registeredUserId, p);
      return;
    }

    // Check what can be checked before the client goes through the stages.
    let localpart = p.username?.toLowerCase();
    // "Guest access": a guest becomes a full user by registering with its token;
    // the account keeps the guest's (numeric) user id.
    let guestUserId: string | undefined;
    if (body.guest_access_token !== undefined) {
      const guest = await deps.auth.resolveToken(body.guest_access_token);
      if (!guest?.isGuest) throw forbidden("guest_access_token is not a valid guest's token");
      const guestLocalpart = guest.userId.slice(1, guest.userId.indexOf(":"));
      if (localpart !== undefined && localpart !== guestLocalpart) throw forbidden("A guest can only be upgraded to its own user id");
      localpart = guestLocalpart;
      guestUserId = guest.userId;
    } else if (localpart !== undefined) {
      await deps.accounts.checkUsername(localpart);
    }
    // The password is kept only as its hash between the steps.
    let passwordHash = body.password !== undefined ? await deps.accounts.hashNewPassword(body.password) : (remembered?.password_hash ?? undefined);
    if (body.password !== undefined) p.password_hash = passwordHash;

    let session;
    try {
      session = await deps.uia.authenticate({
        operation: "POST /register",
        auth: body.auth,
        userId: null,
        flows: registrationFlows(deps.registration, deps.emailEnabled),
        params: registrationParams(deps.registration),
      });
    } catch (err) {
      const challenged = err instanceof UiaChallenge && typeof err.body.session === "string" ? err.body.session : undefined;
      if (challenged) await deps.uiaRepo.setData(challenged, { register_params: p });
      throw err;
    }

    if (passwordHash === undefined) throw new MatrixError(400, "M_MISSING_PARAM", "Missing 'password'");
    const threepid = session.data.threepid as { medium: string; address: string; validated_ts: number } | undefined;
    if (threepid && (await deps.threepidInUse?.(threepid.medium, threepid.address))) {
      throw new MatrixError(400, "M_THREEPID_IN_USE", "This email address is already in use");
    }
    deps.registrationLimiter.check(ctx.ip);
    let userId: string;
    if (guestUserId !== undefined) {
      if (body.password === undefined) throw new MatrixError(400, "M_MISSING_PARAM", "Missing 'password'");
      await deps.accounts.upgradeGuest(guestUserId, body.password);
      userId = guestUserId;
    } else {
      localpart ??= await deps.accounts.generateLocalpart();
      await deps.accounts.checkUsername(localpart);
      userId = await deps.accounts.createAccount({ localpart, password: null, passwordHash });
    }
    passwordHash = undefined;

    const token = session.data.registration_token;
    if (typeof token === "string") await deps.uiaRepo.completeToken(token);
    if (threepid && deps.addThreepid) await deps.addThreepid(userId, threepid);
    // The session stays (until it expires) to answer a repeat of this request; the password hash goes.
    await deps.uiaRepo.setData(session.session_id, { registered: true, registered_user_id: userId, register_params: { ...p, password_hash: undefined } });
    await respondRegistered(ctx, deps, userId, p);
  });

  router.get(clientPaths("/register/available"), async (ctx) => {
    const q = validateQuery(z.object({ username: z.string() }), ctx.query);
    deps.checkLimiter.check(ctx.ip);
    await deps.accounts.checkUsername(q.username);
    ctx.body = { available: true };
  });

  router.get(clientV1("/register/m.login.registration_token/validity"), async (ctx) => {
    const q = validateQuery(z.object({ token: z.string() }), ctx.query);
    if (!deps.registration.enabled) throw forbidden("Registration has been disabled");
    deps.checkLimiter.check(ctx.ip);
    const row = await deps.uiaRepo.getToken(q.token);
    const now = deps.clock.now();
    const valid =
      row !== undefined &&
      (row.expiry_time === null || row.expiry_time > now) &&
      (row.uses_allowed === null || row.pending + row.completed < row.uses_allowed);
    ctx.body = { valid };
  });

  return router;
}

/** What a registration request asked for, kept in its UIA session between the steps. */
interface RememberedParams {
  username?: string;
  device_id?: string;
  initial_device_display_name?: string;
  inhibit_login?: boolean;
  refresh_token?: boolean;
  password_hash?: string;
}

function definedParams(body: z.infer<typeof registerBody>): RememberedParams {
  const out: RememberedParams = {};
  if (body.username !== undefined) out.username = body.username;
  if (body.device_id !== undefined) out.device_id = body.device_id;
  if (body.initial_device_display_name !== undefined) out.initial_device_display_name = body.initial_device_display_name;
  if (body.inhibit_login !== undefined) out.inhibit_login = body.inhibit_login;
  if (body.refresh_token !== undefined) out.refresh_token = body.refresh_token;
  return out;
}

/** The answer for a registered account: its id, and (unless inhibit_login) a new login. */
async function respondRegistered(ctx: Context, deps: RegisterRoutesDeps, userId: string, p: RememberedParams): Promise<void> {
  if (p.inhibit_login) {
    ctx.body = { user_id: userId, home_server: deps.serverName };
    return;
  }
  const s = await deps.sessions.createSession(userId, {
    deviceId: p.device_id,
    displayName: p.initial_device_display_name ?? null,
    refresh: p.refresh_token === true,
  });
  ctx.body = { ...s, home_server: deps.serverName };
}

/**
 * "Appservice registration": an application service registers users in its
 * namespace with its as_token and `type: m.login.application_service`, even
 * when open registration is off. The namespace check belongs to the
 * appservice area (ExclusiveNamespaces); here the token must be an appservice's.
 */
async function registerAppServiceUser(ctx: Context, deps: RegisterRoutesDeps, body: z.infer<typeof registerBody>): Promise<void> {
  const requester = await deps.auth.authenticate(ctx);
  if (!requester.appServiceId) throw new MatrixError(401, "M_UNKNOWN_TOKEN", "This access token is not an application service's");
  if (body.username === undefined) throw new MatrixError(400, "M_MISSING_PARAM", "Missing 'username'");
  const localpart = body.username.toLowerCase();
  deps.accounts.checkAppServiceUser(requester.appServiceId, deps.accounts.userIdFor(localpart));
  await deps.accounts.checkUsername(localpart, { allowReserved: true });
  const userId = await deps.accounts.createAccount({ localpart, password: null, appServiceId: requester.appServiceId });
  if (body.inhibit_login) {
    ctx.body = { user_id: userId, home_server: deps.serverName };
    return;
  }
  const s = await deps.sessions.createSession(userId, { deviceId: body.device_id, displayName: body.initial_device_display_name ?? null });
  ctx.body = { ...s, home_server: deps.serverName };
}
