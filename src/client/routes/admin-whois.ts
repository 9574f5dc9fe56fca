import { Router } from "@koa/router";
import type { Authenticator } from "../../http/auth.js";
import { forbidden, notFound } from "../../http/errors.js";
import type { DevicesRepo } from "../../storage/devices-repo.js";
import type { AccountService } from "../../users/accounts.js";
import { clientPaths } from "./client-paths.js";

export interface WhoisDeps {
  auth: Authenticator;
  accounts: AccountService;
  devices: DevicesRepo;
}

// Client-server API "Server administration": GET /admin/whois/{userId}, for
// server admins (and, harmlessly, for users asking about themselves).
export function whoisRoutes(deps: WhoisDeps): Router {
  const router = new Router();
  router.get(clientPaths("/admin/whois/:userId"), async (ctx) => {
    const r = await deps.auth.authenticate(ctx);
    const target = ctx.params.userId!;
    if (target !== r.userId) {
      const me = await deps.accounts.getUser(r.userId);
      if (!me?.is_admin) throw forbidden("You are not a server admin");
    }
    const user = await deps.accounts.getUser(target);
    if (!user) throw notFound("Unknown user");
    const devices: Record<string, unknown> = {};
    for (const d of await deps.devices.list(target)) {
      const connections =
        d.last_seen_ts !== null ? [{ ip: d.last_seen_ip ?? undefined, last_seen: d.last_seen_ts, user_agent: d.last_seen_user_agent ?? undefined }] : [];
      devices[d.device_id] = { sessions: [{ connections }] };
    }
    ctx.body = { user_id: target, devices };
  });
  return router;
}
