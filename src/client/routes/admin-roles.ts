import { Router, type RouterContext } from "@koa/router";
import { z } from "zod";
import type { Authenticator } from "../../http/auth.js";
import { readJsonBody } from "../../http/body.js";
import { forbidden, MatrixError, notFound } from "../../http/errors.js";
import { validateBody } from "../../http/validate.js";
import type { RolesRepo } from "../../storage/roles-repo.js";
import type { UsersRepo } from "../../storage/users-repo.js";

/** Roles an admin can give; server admin itself is `/_synapse/admin/v1/users/{userId}/admin`. */
export const KNOWN_ROLES = ["moderator"] as const;

export interface AdminRolesDeps {
  serverName: string;
  auth: Authenticator;
  users: UsersRepo;
  roles: RolesRepo;
  bodyLimit: number;
}

// Admin API: GET/PUT /_synapse/admin/v1/users/{userId}/roles, beside Synapse's
// .../admin. Moderators may use the moderation endpoints (locking,
// suspension, reports) but nothing else of the admin API.
export function adminRolesRoutes(deps: AdminRolesDeps): Router {
  const router = new Router();

  const target = async (ctx: RouterContext): Promise<string> => {
    const requester = await deps.auth.authenticate(ctx);
    if (!(await deps.users.get(requester.userId))?.is_admin) throw forbidden("You are not a server admin");
    const userId = ctx.params.userId!;
    if (!userId.endsWith(`:${deps.serverName}`)) throw new MatrixError(400, "M_INVALID_PARAM", "The user is not local to this server");
    const user = await deps.users.get(userId);
    if (!user) throw notFound("No such user");
    return userId;
  };

  router.get("/_synapse/admin/v1/users/:userId/roles", async (ctx) => {
    ctx.body = { roles: await deps.roles.list(await target(ctx)) };
  });

  router.put("/_synapse/admin/v1/users/:userId/roles", async (ctx) => {
    const userId = await target(ctx);
    const body = validateBody(z.object({ roles: z.array(z.enum(KNOWN_ROLES)).max(16) }), await readJsonBody(ctx, deps.bodyLimit));
    await deps.roles.set(userId, body.roles);
    ctx.body = { roles: await deps.roles.list(userId) };
  });

  return router;
}
