import { Router } from "@koa/router";
import { z } from "zod";
import type { JsonObject, JsonValue } from "../../core/index.js";
import type { DehydratedDeviceService } from "../../e2ee/dehydrated-devices.js";
import type { Authenticator } from "../../http/auth.js";
import { readJsonBody } from "../../http/body.js";
import { validateBody } from "../../http/validate.js";

export interface DehydratedDeviceRoutesDeps {
  auth: Authenticator;
  dehydrated: DehydratedDeviceService;
  bodyLimit: number;
}

/** MSC3814 (dehydrated devices) lives under its unstable prefix until it is in the spec. */
const PREFIX = "/_matrix/client/unstable/org.matrix.msc3814.v1";

const putBody = z.looseObject({
  device_id: z.string(),
  device_data: z.record(z.string(), z.unknown()),
  initial_device_display_name: z.string().max(512).optional(),
  device_keys: z.record(z.string(), z.unknown()).optional(),
  one_time_keys: z.record(z.string(), z.unknown()).optional(),
  fallback_keys: z.record(z.string(), z.unknown()).optional(),
});
const eventsBody = z.looseObject({ next_batch: z.string().optional() });

export function dehydratedDeviceRoutes(deps: DehydratedDeviceRoutesDeps): Router {
  const router = new Router();
  router.put(`${PREFIX}/dehydrated_device`, async (ctx) => {
    const r = await deps.auth.authenticate(ctx);
    const body = validateBody(putBody, await readJsonBody(ctx, deps.bodyLimit));
    ctx.body = await deps.dehydrated.put(r.userId, {
      device_id: body.device_id,
      device_data: body.device_data as JsonObject,
      initial_device_display_name: body.initial_device_display_name,
      device_keys: body.device_keys as JsonValue | undefined,
      one_time_keys: body.one_time_keys as JsonValue | undefined,
      fallback_keys: body.fallback_keys as JsonValue | undefined,
    });
  });
  router.get(`${PREFIX}/dehydrated_device`, async (ctx) => {
    const r = await deps.auth.authenticate(ctx);
    ctx.body = await deps.dehydrated.get(r.userId);
  });
  router.delete(`${PREFIX}/dehydrated_device`, async (ctx) => {
    const r = await deps.auth.authenticate(ctx);
    ctx.body = await deps.dehydrated.delete(r.userId);
  });
  router.post(`${PREFIX}/dehydrated_device/:deviceId/events`, async (ctx) => {
    const r = await deps.auth.authenticate(ctx);
    const body = validateBody(eventsBody, await readJsonBody(ctx, deps.bodyLimit, { emptyAsObject: true }));
    ctx.body = await deps.dehydrated.events(r.userId, ctx.params.deviceId!, body.next_batch);
  });
  return router;
}
