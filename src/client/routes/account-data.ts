import { Router } from "@koa/router";
import { z } from "zod";
import { readJsonBody } from "../../http/body.js";
import type { Authenticator } from "../../http/auth.js";
import { badJson } from "../../http/errors.js";
import { validateBody } from "../../http/validate.js";
import type { AccountDataService } from "../../users/account-data.js";
import { clientPaths } from "./client-paths.js";

export interface AccountDataRoutesDeps {
  auth: Authenticator;
  accountData: AccountDataService;
  bodyLimit: number;
}

async function objectBody(ctx: Parameters<Parameters<Router["put"]>[1]>[0], limit: number): Promise<Record<string, unknown>> {
  const body = await readJsonBody(ctx, limit);
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw badJson("Request body must be a JSON object");
  return body as Record<string, unknown>;
}

// Client-server API "Client Config" (account data) and "Room Tagging".
export function accountDataRoutes(deps: AccountDataRoutesDeps): Router {
  const router = new Router();
  const { accountData: svc } = deps;

  router.put(clientPaths("/user/:userId/account_data/:type"), async (ctx) => {
    const r = await deps.auth.authenticate(ctx, { allowGuests: true });
    await svc.put(r.userId, ctx.params.userId!, null, ctx.params.type!, await objectBody(ctx, deps.bodyLimit));
    ctx.body = {};
  });

  router.get(clientPaths("/user/:userId/account_data/:type"), async (ctx) => {
    const r = await deps.auth.authenticate(ctx, { allowGuests: true });
    ctx.body = await svc.get(r.userId, ctx.params.userId!, null, ctx.params.type!);
  });

  router.put(clientPaths("/user/:userId/rooms/:roomId/account_data/:type"), async (ctx) => {
    const r = await deps.auth.authenticate(ctx, { allowGuests: true });
    await svc.put(r.userId, ctx.params.userId!, ctx.params.roomId!, ctx.params.type!, await objectBody(ctx, deps.bodyLimit));
    ctx.body = {};
  });

  router.get(clientPaths("/user/:userId/rooms/:roomId/account_data/:type"), async (ctx) => {
    const r = await deps.auth.authenticate(ctx, { allowGuests: true });
    ctx.body = await svc.get(r.userId, ctx.params.userId!, ctx.params.roomId!, ctx.params.type!);
  });

  router.get(clientPaths("/user/:userId/rooms/:roomId/tags"), async (ctx) => {
    const r = await deps.auth.authenticate(ctx, { allowGuests: true });
    ctx.body = { tags: await svc.getTags(r.userId, ctx.params.userId!, ctx.params.roomId!) };
  });

  router.put(clientPaths("/user/:userId/rooms/:roomId/tags/:tag"), async (ctx) => {
    const r = await deps.auth.authenticate(ctx, { allowGuests: true });
    const body = validateBody(z.looseObject({ order: z.number().optional() }), await readJsonBody(ctx, deps.bodyLimit, { emptyAsObject: true }));
    await svc.setTag(r.userId, ctx.params.userId!, ctx.params.roomId!, ctx.params.tag!, body);
    ctx.body = {};
  });

  router.delete(clientPaths("/user/:userId/rooms/:roomId/tags/:tag"), async (ctx) => {
    const r = await deps.auth.authenticate(ctx, { allowGuests: true });
    await svc.deleteTag(r.userId, ctx.params.userId!, ctx.params.roomId!, ctx.params.tag!);
    ctx.body = {};
  });

  return router;
}
