import { Router } from "@koa/router";
import { readJsonBody } from "../../http/body.js";
import type { Authenticator } from "../../http/auth.js";
import { badJson, notFound } from "../../http/errors.js";
import type { ProfileService } from "../../users/profiles.js";
import { clientPaths } from "./client-paths.js";

export interface ProfileRoutesDeps {
  auth: Authenticator;
  profiles: ProfileService;
  bodyLimit: number;
}

// Client-server API "Profiles" (with custom fields, spec v1.16).
export function profileRoutes(deps: ProfileRoutesDeps): Router {
  const router = new Router();

  router.get(clientPaths("/profile/:userId"), async (ctx) => {
    const profile = await deps.profiles.getProfile(ctx.params.userId!);
    if (!profile) throw notFound("Profile not found");
    ctx.body = profile;
  });

  router.get(clientPaths("/profile/:userId/:keyName"), async (ctx) => {
    const key = ctx.params.keyName!;
    ctx.body = { [key]: await deps.profiles.getField(ctx.params.userId!, key) };
  });

  router.put(clientPaths("/profile/:userId/:keyName"), async (ctx) => {
    const r = await deps.auth.authenticate(ctx, { allowGuests: true });
    const key = ctx.params.keyName!;
    deps.profiles.checkKey(key);
    const body = await readJsonBody(ctx, deps.bodyLimit);
    if (typeof body !== "object" || body === null || Array.isArray(body)) throw badJson("Request body must be a JSON object");
    await deps.profiles.setField(r, ctx.params.userId!, key, body as Record<string, unknown>);
    ctx.body = {};
  });

  router.delete(clientPaths("/profile/:userId/:keyName"), async (ctx) => {
    const r = await deps.auth.authenticate(ctx, { allowGuests: true });
    await deps.profiles.deleteField(r, ctx.params.userId!, ctx.params.keyName!);
    ctx.body = {};
  });

  return router;
}
