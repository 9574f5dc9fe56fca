import { Router } from "@koa/router";
import { z } from "zod";
import type { Authenticator } from "../../http/auth.js";
import { readJsonBody } from "../../http/body.js";
import { validateBody } from "../../http/validate.js";
import type { UserDirectoryRepo } from "../../storage/user-directory-repo.js";
import { clientPaths } from "./client-paths.js";

const searchBody = z.looseObject({
  search_term: z.string().max(1000),
  limit: z.number().int().min(0).optional(),
});

const MAX_LIMIT = 100;

// Client-server API "User directory": users sharing a room with the requester
// or joined to public / world-readable rooms (and, with
// user_directory.search_all_users, every local user), by user id and display name.
export function userDirectoryRoutes(deps: { auth: Authenticator; directory: UserDirectoryRepo; searchAllUsers: boolean; bodyLimit: number }): Router {
  const router = new Router();
  router.post(clientPaths("/user_directory/search"), async (ctx) => {
    const r = await deps.auth.authenticate(ctx);
    const body = validateBody(searchBody, await readJsonBody(ctx, deps.bodyLimit));
    const limit = Math.min(body.limit ?? 10, MAX_LIMIT);
    const term = body.search_term.trim();
    const rows = term === "" || limit === 0 ? [] : await deps.directory.search(r.userId, term, limit + 1, { allLocalUsers: deps.searchAllUsers });
    ctx.body = {
      limited: rows.length > limit,
      results: rows.slice(0, limit).map((r) => {
        const out: Record<string, unknown> = { user_id: r.user_id };
        if (r.displayname !== null) out.display_name = r.displayname;
        if (r.avatar_url !== null) out.avatar_url = r.avatar_url;
        return out;
      }),
    };
  });
  return router;
}
