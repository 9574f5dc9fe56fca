import { Router } from "@koa/router";
import { readJsonBody } from "../../http/body.js";
import type { Authenticator } from "../../http/auth.js";
import { forbidden, notFound } from "../../http/errors.js";
import { validateBody } from "../../http/validate.js";
import type { AccountDataRepo } from "../../storage/account-data-repo.js";
import { filterSchema } from "../../users/filters.js";
import { clientPaths } from "./client-paths.js";

export interface FilterRoutesDeps {
  auth: Authenticator;
  repo: AccountDataRepo;
  bodyLimit: number;
}

/** Filters are small; a megabyte-sized one is abuse. */
const MAX_FILTER_BYTES = 64 * 1024;

// Client-server API "Filtering".
export function filterRoutes(deps: FilterRoutesDeps): Router {
  const router = new Router();

  router.post(clientPaths("/user/:userId/filter"), async (ctx) => {
    const r = await deps.auth.authenticate(ctx, { allowGuests: true });
    if (r.userId !== ctx.params.userId) throw forbidden("You may only create filters for yourself");
    const filter = validateBody(filterSchema, await readJsonBody(ctx, Math.min(deps.bodyLimit, MAX_FILTER_BYTES)));
    const id = await deps.repo.createFilter(r.userId, filter);
    ctx.body = { filter_id: String(id) };
  });

  router.get(clientPaths("/user/:userId/filter/:filterId"), async (ctx) => {
    const r = await deps.auth.authenticate(ctx, { allowGuests: true });
    if (r.userId !== ctx.params.userId) throw forbidden("You may only read your own filters");
    const id = ctx.params.filterId!;
    const filter = /^\d{1,15}$/.test(id) ? await deps.repo.getFilter(r.userId, Number(id)) : undefined;
    if (!filter) throw notFound("No such filter");
    ctx.body = filter;
  });

  return router;
}
