import { Router, type RouterContext } from "@koa/router";
import { z } from "zod";
import type { Authenticator } from "../../http/auth.js";
import { readJsonBody } from "../../http/body.js";
import { forbidden, MatrixError, notFound } from "../../http/errors.js";
import { validateBody } from "../../http/validate.js";
import type { UserRow, UsersRepo } from "../../storage/users-repo.js";
import { clientV1 } from "./client-paths.js";

export interface ModerationDeps {
  serverName: string;
  auth: Authenticator;
  users: UsersRepo;
  bodyLimit: number;
  /** Whether a user holds the moderator role (moderators may lock and suspend, but not server admins). */
  isModerator?: (userId: string) => Promise<boolean>;
  /** Drops the authenticator's cached tokens of a user whose lock changed (it takes effect at once). */
  credentialsChanged?: (userId: string) => void;
}

// Client-server API "Server administration" (v1.18): GET/PUT
// /admin/lock/{userId} and /admin/suspend/{userId}, for server admins and moderators.
export function moderationRoutes(deps: ModerationDeps): Router {
  const router = new Router();

  const target = async (ctx: RouterContext): Promise<UserRow> => {
    const requester = await deps.auth.authenticate(ctx);
    const isAdmin = (await deps.users.get(requester.userId))?.is_admin === true;
    if (!isAdmin && !(await deps.isModerator?.(requester.userId))) throw forbidden("You are not a server admin or moderator");
    const userId = ctx.params.userId!;
    if (!userId.endsWith(`:${deps.serverName}`)) throw new MatrixError(400, "M_INVALID_PARAM", "The user is not local to this server");
    const user = await deps.users.get(userId);
    if (!user || user.deactivated) throw notFound("No such user, or the user is deactivated");
    if (!isAdmin && user.is_admin) throw forbidden("Moderators cannot act on server admins");
    return user;
  };

  router.get(clientV1("/admin/lock/:userId"), async (ctx) => {
    ctx.body = { locked: (await target(ctx)).locked };
  });
  router.put(clientV1("/admin/lock/:userId"), async (ctx) => {
    const user = await target(ctx);
    const body = validateBody(z.object({ locked: z.boolean() }), await readJsonBody(ctx, deps.bodyLimit));
    await deps.users.setLocked(user.user_id, body.locked);
    deps.credentialsChanged?.(user.user_id);
    ctx.body = { locked: body.locked };
  });
  router.get(clientV1("/admin/suspend/:userId"), async (ctx) => {
    ctx.body = { suspended: (await target(ctx)).suspended };
  });
  router.put(clientV1("/admin/suspend/:userId"), async (ctx) => {
    const user = await target(ctx);
    const body = validateBody(z.object({ suspended: z.boolean() }), await readJsonBody(ctx, deps.bodyLimit));
    await deps.users.setSuspended(user.user_id, body.suspended);
    deps.credentialsChanged?.(user.user_id);
    ctx.body = { suspended: body.suspended };
  });
  return router;
}
