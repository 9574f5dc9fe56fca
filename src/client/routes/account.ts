import { Router } from "@koa/router";
import { z } from "zod";
import { readJsonBody } from "../../http/body.js";
import { MatrixError } from "../../http/errors.js";
import { validateBody } from "../../http/validate.js";
import type { AccessTokenAuthenticator } from "../../users/access-tokens.js";
import type { AccountService } from "../../users/accounts.js";
import { checkNewPassword, type PasswordPolicy } from "../../users/passwords.js";
import { requireReauth } from "../../users/reauth.js";
import type { UiaService } from "../../users/uia.js";
import { clientPaths } from "./client-paths.js";

export interface AccountRoutesDeps {
  auth: AccessTokenAuthenticator;
  accounts: AccountService;
  uia: UiaService;
  passwordPolicy: PasswordPolicy;
  bodyLimit: number;
  /** Whether password reset by email is possible (an SMTP server is configured). */
  emailEnabled: boolean;
  /** Unbinds the user's 3PIDs from identity servers; true when every unbind succeeded. */
  unbindAll?: (userId: string, idServer: string | undefined) => Promise<boolean>;
}

const passwordBody = z.looseObject({
  new_password: z.string(),
  logout_devices: z.boolean().optional(),
  auth: z.unknown().optional(),
});

const deactivateBody = z.looseObject({
  auth: z.unknown().optional(),
  erase: z.boolean().optional(),
  id_server: z.string().optional(),
});

// Client-server API "Password management" and "Account deactivation".
export function accountRoutes(deps: AccountRoutesDeps): Router {
  const router = new Router();

  router.post(clientPaths("/account/password"), async (ctx) => {
    const body = validateBody(passwordBody, await readJsonBody(ctx, deps.bodyLimit));
    checkNewPassword(body.new_password, deps.passwordPolicy);
    const logoutDevices = body.logout_devices ?? true;
    if (deps.auth.extractToken(ctx) === undefined) {
      // Password reset: no access token, the account is proven by a validated email.
      if (!deps.emailEnabled) throw new MatrixError(401, "M_MISSING_TOKEN", "Missing access token");
      const session = await deps.uia.authenticate({
        operation: "POST /account/password (reset)",
        auth: body.auth,
        userId: null,
        flows: [{ stages: ["m.login.email.identity"] }],
      });
      const t = session.data.threepid as { medium: string; address: string } | undefined;
      const user = t ? await deps.accounts.resolveThreepid(t.medium, t.address) : undefined;
      if (!user || user.deactivated) throw new MatrixError(400, "M_THREEPID_NOT_FOUND", "No account has this email address");
      await deps.uia.finish(session.session_id);
      await deps.accounts.changePassword(user.user_id, body.new_password, { logoutDevices, keepDeviceId: null });
      ctx.body = {};
      return;
    }
    const t = await deps.auth.authenticateToken(ctx);
    const session = await requireReauth(deps.uia, deps.accounts, { operation: "POST /account/password", auth: body.auth, userId: t.requester.userId });
    await deps.uia.finish(session.session_id);
    await deps.accounts.changePassword(t.requester.userId, body.new_password, {
      logoutDevices,
      keepDeviceId: t.requester.deviceId,
      keepTokenHash: t.tokenHash,
    });
    ctx.body = {};
  });

  router.post(clientPaths("/account/deactivate"), async (ctx) => {
    const r = await deps.auth.authenticate(ctx);
    const body = validateBody(deactivateBody, await readJsonBody(ctx, deps.bodyLimit, { emptyAsObject: true }));
    const session = await requireReauth(deps.uia, deps.accounts, { operation: "POST /account/deactivate", auth: body.auth, userId: r.userId });
    await deps.uia.finish(session.session_id);
    const unbound = deps.unbindAll ? await deps.unbindAll(r.userId, body.id_server) : true;
    await deps.accounts.deactivate(r.userId, body.erase ?? false);
    ctx.body = { id_server_unbind_result: unbound ? "success" : "no-support" };
  });

  return router;
}
