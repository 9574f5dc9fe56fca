import type { Context } from "koa";
import type { Authenticator, Requester } from "../http/auth.js";
import { forbidden } from "../http/errors.js";

/** Authenticates a request and lets only server admins through (403 M_FORBIDDEN otherwise). */
export type AdminGuard = (ctx: Context) => Promise<Requester>;

export function adminGuard(auth: Authenticator, isAdmin: (userId: string) => Promise<boolean>): AdminGuard {
  return async (ctx) => {
    const requester = await auth.authenticate(ctx);
    if (!(await isAdmin(requester.userId))) throw forbidden("You are not a server admin");
    return requester;
  };
}
