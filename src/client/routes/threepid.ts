import { Router } from "@koa/router";
import { z } from "zod";
import type { Authenticator } from "../../http/auth.js";
import { readJsonBody } from "../../http/body.js";
import { MatrixError } from "../../http/errors.js";
import type { Ratelimiter } from "../../http/rate-limit.js";
import { validateBody, validateQuery } from "../../http/validate.js";
import type { AccountService } from "../../users/accounts.js";
import { requireReauth } from "../../users/reauth.js";
import type { EmailPurpose, ThreepidService } from "../../users/threepids.js";
import type { UiaService } from "../../users/uia.js";
import { clientPaths } from "./client-paths.js";

export interface ThreepidRoutesDeps {
  auth: Authenticator;
  accounts: AccountService;
  uia: UiaService;
  threepids: ThreepidService;
  bodyLimit: number;
  /** Limits requestToken calls (each may send a mail) per client IP. */
  mailLimiter: Ratelimiter;
}

const requestTokenBody = z.looseObject({
  client_secret: z.string(),
  email: z.string(),
  send_attempt: z.number().int(),
  next_link: z.string().optional(),
  id_server: z.string().optional(),
  id_access_token: z.string().optional(),
});

const submitBody = z.object({ sid: z.string(), client_secret: z.string(), token: z.string() });
const threepidBody = z.looseObject({ medium: z.enum(["email", "msisdn"]), address: z.string(), id_server: z.string().optional() });

const notSupported = () => new MatrixError(400, "M_THREEPID_MEDIUM_NOT_SUPPORTED", "Phone numbers are not supported on this server");

// Client-server API "Adding Account Administrative Contact Information" and
// the requestToken endpoints of registration and password reset.
export function threepidRoutes(deps: ThreepidRoutesDeps): Router {
  const router = new Router();
  const { threepids } = deps;

  const requestToken = (purpose: EmailPurpose) => async (ctx: Parameters<Parameters<Router["post"]>[1]>[0]) => {
    const body = validateBody(requestTokenBody, await readJsonBody(ctx, deps.bodyLimit));
    deps.mailLimiter.check(ctx.ip);
    ctx.body = await threepids.requestEmailToken(body, purpose);
  };
  router.post(clientPaths("/register/email/requestToken"), requestToken("register"));
  router.post(clientPaths("/account/password/email/requestToken"), requestToken("reset"));
  router.post(clientPaths("/account/3pid/email/requestToken"), requestToken("add"));
  for (const p of ["/register/msisdn/requestToken", "/account/password/msisdn/requestToken", "/account/3pid/msisdn/requestToken"]) {
    router.post(clientPaths(p), () => {
      throw notSupported();
    });
  }

  // The link in the validation mail.
  router.get(clientPaths("/account/3pid/email/submit_token"), async (ctx) => {
    const q = validateQuery(submitBody, ctx.query);
    const next = await threepids.submitToken(q.sid, q.client_secret, q.token);
    if (next) {
      ctx.redirect(next);
      return;
    }
    ctx.type = "text/plain";
    ctx.body = "Your email address has been validated. You can return to your Matrix client.\n";
  });
  // submit_url: the code from the mail, typed into the client (identity-service submitToken shape).
  router.post(clientPaths("/account/3pid/email/submit_token"), async (ctx) => {
    const body = validateBody(submitBody, await readJsonBody(ctx, deps.bodyLimit));
    await threepids.submitToken(body.sid, body.client_secret, body.token);
    ctx.body = { success: true };
  });

  router.get(clientPaths("/account/3pid"), async (ctx) => {
    const r = await deps.auth.authenticate(ctx);
    const rows = await threepids.list(r.userId);
    ctx.body = { threepids: rows.map((t) => ({ medium: t.medium, address: t.address, validated_at: t.validated_ts, added_at: t.added_ts })) };
  });

  router.post(clientPaths("/account/3pid/add"), async (ctx) => {
    const r = await deps.auth.authenticate(ctx);
    const body = validateBody(z.looseObject({ client_secret: z.string(), sid: z.string(), auth: z.unknown().optional() }), await readJsonBody(ctx, deps.bodyLimit));
    const session = await requireReauth(deps.uia, deps.accounts, { operation: `POST /account/3pid/add ${body.sid}`, auth: body.auth, userId: r.userId });
    await threepids.add(r.userId, body.sid, body.client_secret);
    await deps.uia.finish(session.session_id);
    ctx.body = {};
  });

  // Deprecated POST /account/3pid: the spec makes it an equivalent of /3pid/bind.
  router.post(clientPaths("/account/3pid"), async (ctx) => {
    const r = await deps.auth.authenticate(ctx);
    const body = validateBody(
      z.looseObject({ three_pid_creds: z.object({ client_secret: z.string(), sid: z.string(), id_server: z.string(), id_access_token: z.string() }) }),
      await readJsonBody(ctx, deps.bodyLimit),
    );
    await threepids.bind(r.userId, body.three_pid_creds);
    ctx.body = {};
  });

  // Also under the pre-v3 unstable prefix, which older clients and test suites still call.
  router.post([...clientPaths("/account/3pid/bind"), "/_matrix/client/unstable/account/3pid/bind"], async (ctx) => {
    const r = await deps.auth.authenticate(ctx);
    const body = validateBody(
      z.object({ client_secret: z.string(), sid: z.string(), id_server: z.string(), id_access_token: z.string() }),
      await readJsonBody(ctx, deps.bodyLimit),
    );
    await threepids.bind(r.userId, body);
    ctx.body = {};
  });

  router.post(clientPaths("/account/3pid/delete"), async (ctx) => {
    const r = await deps.auth.authenticate(ctx);
    const body = validateBody(threepidBody, await readJsonBody(ctx, deps.bodyLimit));
    // Spec "Account suspension": suspended users may add contacts but not remove them.
    await deps.accounts.assertNotSuspended(r.userId);
    const ok = await threepids.delete(r.userId, body.medium, body.address, body.id_server);
    ctx.body = { id_server_unbind_result: ok ? "success" : "no-support" };
  });

  router.post([...clientPaths("/account/3pid/unbind"), "/_matrix/client/unstable/account/3pid/unbind"], async (ctx) => {
    const r = await deps.auth.authenticate(ctx);
    const body = validateBody(threepidBody, await readJsonBody(ctx, deps.bodyLimit));
    const ok = await threepids.unbind(r.userId, body.medium, body.medium === "email" ? body.address.toLowerCase() : body.address, body.id_server);
    ctx.body = { id_server_unbind_result: ok ? "success" : "no-support" };
  });

  return router;
}
