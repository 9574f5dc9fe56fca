import { createHmac, timingSafeEqual } from "node:crypto";
import { Router } from "@koa/router";
import { z } from "zod";
import { readJsonBody } from "../../http/body.js";
import type { Authenticator } from "../../http/auth.js";
import { forbidden, MatrixError, notFound } from "../../http/errors.js";
import { validateBody, validateQuery } from "../../http/validate.js";
import type { RegistrationTokenRow, UiaRepo } from "../../storage/uia-repo.js";
import type { AccountService } from "../../users/accounts.js";
import { randomString, type Clock, type Random } from "../../users/deps.js";
import { MAX_PASSWORD_BYTES } from "../../users/passwords.js";
import type { SessionService } from "../../users/sessions.js";

export interface SynapseAdminDeps {
  serverName: string;
  sharedSecret: string | undefined;
  accounts: AccountService;
  sessions: SessionService;
  uiaRepo: UiaRepo;
  auth: Authenticator;
  clock: Clock;
  random: Random;
  bodyLimit: number;
}

const NONCE_TTL_MS = 60_000;
const MAX_NONCES = 10_000;
const TOKEN_CHARS = /^[A-Za-z0-9._~-]{1,64}$/;

const sharedSecretBody = z.object({
  nonce: z.string(),
  username: z.string(),
  password: z.string(),
  mac: z.string(),
  admin: z.boolean().optional(),
  displayname: z.string().optional(),
  user_type: z.string().nullable().optional(),
});

const tokenBody = z.object({
  token: z.string().optional(),
  uses_allowed: z.number().int().min(0).nullable().optional(),
  expiry_time: z.number().int().min(0).nullable().optional(),
  length: z.number().int().min(1).max(64).optional(),
});

function tokenJson(t: RegistrationTokenRow) {
  return { token: t.token, uses_allowed: t.uses_allowed, pending: t.pending, completed: t.completed, expiry_time: t.expiry_time };
}

/**
 * The parts of Synapse's admin API that admin tools and test suites rely on:
 * shared-secret registration and registration-token management.
 */
export function synapseAdminRoutes(deps: SynapseAdminDeps): Router {
  const router = new Router();

  router.get("/_synapse/admin/v1/register", async (ctx) => {
    if (!deps.sharedSecret) throw new MatrixError(400, "M_UNKNOWN", "Shared secret registration is not enabled");
    const nonce = randomString(deps.random, 32);
    if (!(await deps.uiaRepo.createNonce(nonce, deps.clock.now(), NONCE_TTL_MS, MAX_NONCES))) {
      throw new MatrixError(429, "M_LIMIT_EXCEEDED", "Too many outstanding nonces", { retry_after_ms: NONCE_TTL_MS });
    }
    ctx.body = { nonce };
  });

  router.post("/_synapse/admin/v1/register", async (ctx) => {
    if (!deps.sharedSecret) throw new MatrixError(400, "M_UNKNOWN", "Shared secret registration is not enabled");
    const body = validateBody(sharedSecretBody, await readJsonBody(ctx, deps.bodyLimit));
    // Single use, whatever the outcome.
    if (!(await deps.uiaRepo.takeNonce(body.nonce, deps.clock.now() - NONCE_TTL_MS))) throw new MatrixError(400, "M_UNKNOWN", "Unrecognised nonce");
    if (Buffer.byteLength(body.password, "utf8") > MAX_PASSWORD_BYTES) throw new MatrixError(400, "M_INVALID_PARAM", "Password too long");

    // HMAC-SHA1 over nonce, username, password and the admin flag (and the
    // user type when given), NUL-separated, keyed with the shared secret.
    const hmac = createHmac("sha1", deps.sharedSecret);
    hmac.update(body.nonce).update("\x00").update(body.username).update("\x00").update(body.password).update("\x00");
    hmac.update(body.admin ? "admin" : "notadmin");
    if (body.user_type) hmac.update("\x00").update(body.user_type);
    const want = hmac.digest();
    const got = /^[0-9a-fA-F]{40}$/.test(body.mac) ? Buffer.from(body.mac, "hex") : Buffer.alloc(0);
    if (got.length !== want.length || !timingSafeEqual(got, want)) throw forbidden("HMAC incorrect");

    const localpart = body.username.toLowerCase();
    await deps.accounts.checkUsername(localpart, { allowReserved: true });
    const userId = await deps.accounts.createAccount({
      localpart,
      password: body.password,
      skipPolicy: true,
      isAdmin: body.admin ?? false,
      userType: body.user_type ?? null,
      displayname: body.displayname,
    });
    const s = await deps.sessions.createSession(userId, {});
    ctx.body = { user_id: userId, access_token: s.access_token, device_id: s.device_id, home_server: deps.serverName };
  });

  const requireAdmin = async (ctx: Parameters<Parameters<typeof router.get>[1]>[0]) => {
    const requester = await deps.auth.authenticate(ctx);
    const user = await deps.accounts.getUser(requester.userId);
    if (!user?.is_admin) throw forbidden("You are not a server admin");
    return requester;
  };

  router.get("/_synapse/admin/v1/registration_tokens", async (ctx) => {
    await requireAdmin(ctx);
    const q = validateQuery(z.object({ valid: z.enum(["true", "false"]).optional() }), ctx.query);
    const now = deps.clock.now();
    const isValid = (t: RegistrationTokenRow) =>
      (t.expiry_time === null || t.expiry_time > now) && (t.uses_allowed === null || t.pending + t.completed < t.uses_allowed);
    let rows = await deps.uiaRepo.listTokens();
    if (q.valid !== undefined) rows = rows.filter((t) => isValid(t) === (q.valid === "true"));
    ctx.body = { registration_tokens: rows.map(tokenJson) };
  });

  router.post("/_synapse/admin/v1/registration_tokens/new", async (ctx) => {
    await requireAdmin(ctx);
    const body = validateBody(tokenBody, await readJsonBody(ctx, deps.bodyLimit, { emptyAsObject: true }));
    if (body.token !== undefined && !TOKEN_CHARS.test(body.token)) {
      throw new MatrixError(400, "M_INVALID_PARAM", "token must be 1-64 characters of A-Z, a-z, 0-9, '.', '_', '~', '-'");
    }
    if (body.token !== undefined && body.length !== undefined) throw new MatrixError(400, "M_INVALID_PARAM", "Give either token or length");
    if (body.expiry_time != null && body.expiry_time < deps.clock.now()) throw new MatrixError(400, "M_INVALID_PARAM", "expiry_time is in the past");
    const token = body.token ?? randomString(deps.random, body.length ?? 16, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~-");
    const row = await deps.uiaRepo.createToken({ token, usesAllowed: body.uses_allowed ?? null, expiryTime: body.expiry_time ?? null });
    if (!row) throw new MatrixError(400, "M_INVALID_PARAM", `Token already exists: ${token}`);
    ctx.body = tokenJson(row);
  });

  router.get("/_synapse/admin/v1/registration_tokens/:token", async (ctx) => {
    await requireAdmin(ctx);
    const row = await deps.uiaRepo.getToken(ctx.params.token!);
    if (!row) throw notFound("No such registration token");
    ctx.body = tokenJson(row);
  });

  router.put("/_synapse/admin/v1/registration_tokens/:token", async (ctx) => {
    await requireAdmin(ctx);
    const body = validateBody(tokenBody.pick({ uses_allowed: true, expiry_time: true }).strict(), await readJsonBody(ctx, deps.bodyLimit, { emptyAsObject: true }));
    const changes: { usesAllowed?: number | null; expiryTime?: number | null } = {};
    if (body.uses_allowed !== undefined) changes.usesAllowed = body.uses_allowed;
    if (body.expiry_time !== undefined) changes.expiryTime = body.expiry_time;
    const row = await deps.uiaRepo.updateToken(ctx.params.token!, changes);
    if (!row) throw notFound("No such registration token");
    ctx.body = tokenJson(row);
  });

  router.delete("/_synapse/admin/v1/registration_tokens/:token", async (ctx) => {
    await requireAdmin(ctx);
    if (!(await deps.uiaRepo.deleteToken(ctx.params.token!))) throw notFound("No such registration token");
    ctx.body = {};
  });

  return router;
}
