import { Router } from "@koa/router";
import { z } from "zod";
import type { JsonValue } from "../../core/index.js";
import type { ToDeviceService } from "../../e2ee/to-device.js";
import type { Authenticator } from "../../http/auth.js";
import { readJsonBody } from "../../http/body.js";
import { validateBody } from "../../http/validate.js";
import { clientPaths } from "./client-paths.js";

export interface ToDeviceRoutesDeps {
  auth: Authenticator;
  toDevice: ToDeviceService;
  bodyLimit: number;
}

const sendBody = z.looseObject({ messages: z.record(z.string(), z.record(z.string(), z.record(z.string(), z.unknown()))) });

/** Client-server API "Send-to-Device messaging". */
export function toDeviceRoutes(deps: ToDeviceRoutesDeps): Router {
  const router = new Router();
  router.put(clientPaths("/sendToDevice/:eventType/:txnId"), async (ctx) => {
    const r = await deps.auth.authenticate(ctx, { allowGuests: true });
    const body = validateBody(sendBody, await readJsonBody(ctx, deps.bodyLimit));
    await deps.toDevice.send(r, ctx.params.eventType!, ctx.params.txnId!, body.messages as JsonValue);
    ctx.body = {};
  });
  return router;
}
