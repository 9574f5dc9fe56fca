import { Router } from "@koa/router";
import { z } from "zod";
import type { JsonValue } from "../../core/index.js";
import type { E2ee } from "../../e2ee/index.js";
import type { Authenticator } from "../../http/auth.js";
import { readJsonBody } from "../../http/body.js";
import { validateBody, validateQuery } from "../../http/validate.js";
import { parseStreamToken, type StreamToken } from "../../sync/tokens.js";
import { clientPaths } from "./client-paths.js";

export interface KeysRoutesDeps {
  auth: Authenticator;
  e2ee: E2ee;
  bodyLimit: number;
  /** Device list changes between two sync tokens including room co-membership (the sync area); the device list stream alone when absent. */
  keyChanges?: (userId: string, from: StreamToken, to: StreamToken) => Promise<{ changed: string[]; left: string[] }>;
}

const uploadBody = z.looseObject({
  device_keys: z.record(z.string(), z.unknown()).nullable().optional(),
  one_time_keys: z.record(z.string(), z.unknown()).nullable().optional(),
  fallback_keys: z.record(z.string(), z.unknown()).nullable().optional(),
});
const queryBody = z.looseObject({
  device_keys: z.record(z.string(), z.array(z.string())),
  timeout: z.number().int().optional(),
});
const claimBody = z.looseObject({
  one_time_keys: z.record(z.string(), z.record(z.string(), z.string())),
  timeout: z.number().int().optional(),
});
const changesQuery = z.object({ from: z.string(), to: z.string() });
const signingBody = z.looseObject({
  master_key: z.record(z.string(), z.unknown()).optional(),
  self_signing_key: z.record(z.string(), z.unknown()).optional(),
  user_signing_key: z.record(z.string(), z.unknown()).optional(),
  auth: z.unknown().optional(),
});
const signaturesBody = z.record(z.string(), z.record(z.string(), z.unknown()));

/** Client-server API "Key management API" and cross-signing endpoints. */
export function keysRoutes(deps: KeysRoutesDeps): Router {
  const router = new Router();
  const { e2ee } = deps;

  router.post(clientPaths("/keys/upload"), async (ctx) => {
    const r = await deps.auth.authenticate(ctx, { allowGuests: true });
    const raw = validateBody(uploadBody, await readJsonBody(ctx, deps.bodyLimit));
    // Older clients sent fallback keys under MSC2732's unstable name.
    const fallback = raw.fallback_keys ?? (raw["org.matrix.msc2732.fallback_keys"] as Record<string, unknown> | undefined);
    ctx.body = await e2ee.deviceKeys.upload(r, {
      device_keys: raw.device_keys as JsonValue | undefined,
      one_time_keys: raw.one_time_keys as JsonValue | undefined,
      fallback_keys: fallback as JsonValue | undefined,
    });
  });

  router.post(clientPaths("/keys/query"), async (ctx) => {
    const r = await deps.auth.authenticate(ctx, { allowGuests: true });
    const body = validateBody(queryBody, await readJsonBody(ctx, deps.bodyLimit));
    ctx.body = await e2ee.deviceKeys.query(r, body.device_keys, body.timeout);
  });

  router.post(clientPaths("/keys/claim"), async (ctx) => {
    await deps.auth.authenticate(ctx, { allowGuests: true });
    const body = validateBody(claimBody, await readJsonBody(ctx, deps.bodyLimit));
    ctx.body = await e2ee.deviceKeys.claim(body.one_time_keys, body.timeout);
  });

  router.get(clientPaths("/keys/changes"), async (ctx) => {
    const r = await deps.auth.authenticate(ctx);
    const q = validateQuery(changesQuery, ctx.query);
    const from = parseStreamToken(q.from, "from");
    const to = parseStreamToken(q.to, "to");
    ctx.body = deps.keyChanges ? await deps.keyChanges(r.userId, from, to) : await e2ee.deviceLists.getDeviceListChanges(r.userId, from.device_lists, to.device_lists);
  });

  router.post([...clientPaths("/keys/device_signing/upload"), "/_matrix/client/unstable/keys/device_signing/upload"], async (ctx) => {
    const r = await deps.auth.authenticate(ctx);
    const body = validateBody(signingBody, await readJsonBody(ctx, deps.bodyLimit));
    await e2ee.crossSigning.uploadSigningKeys(r, {
      master_key: body.master_key as JsonValue | undefined,
      self_signing_key: body.self_signing_key as JsonValue | undefined,
      user_signing_key: body.user_signing_key as JsonValue | undefined,
      auth: body.auth,
    });
    ctx.body = {};
  });

  router.post([...clientPaths("/keys/signatures/upload"), "/_matrix/client/unstable/keys/signatures/upload"], async (ctx) => {
    const r = await deps.auth.authenticate(ctx);
    const body = validateBody(signaturesBody, await readJsonBody(ctx, deps.bodyLimit));
    ctx.body = await e2ee.crossSigning.uploadSignatures(r, body as Record<string, JsonValue>);
  });

  return router;
}
