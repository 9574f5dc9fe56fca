import { Router } from "@koa/router";
import { z } from "zod";
import { readJsonBody } from "../../http/body.js";
import { notFound } from "../../http/errors.js";
import { validateBody } from "../../http/validate.js";
import type { DeviceRow, DevicesRepo } from "../../storage/devices-repo.js";
import type { Authenticator } from "../../http/auth.js";
import type { AccountService } from "../../users/accounts.js";
import type { AccountEvents } from "../../users/events.js";
import { requireReauth } from "../../users/reauth.js";
import { checkDeviceDisplayName, type SessionService } from "../../users/sessions.js";
import type { UiaService } from "../../users/uia.js";
import { clientPaths } from "./client-paths.js";

export interface DeviceRoutesDeps {
  auth: Authenticator;
  devices: DevicesRepo;
  sessions: SessionService;
  accounts: AccountService;
  uia: UiaService;
  events: AccountEvents;
  bodyLimit: number;
}

function deviceJson(d: DeviceRow) {
  return { device_id: d.device_id, display_name: d.display_name, last_seen_ip: d.last_seen_ip, last_seen_ts: d.last_seen_ts };
}

const deleteBody = z.looseObject({ auth: z.unknown().optional() });
const deleteManyBody = z.looseObject({ devices: z.array(z.string()), auth: z.unknown().optional() });

// Client-server API "Device management".
export function deviceRoutes(deps: DeviceRoutesDeps): Router {
  const router = new Router();

  router.get(clientPaths("/devices"), async (ctx) => {
    const r = await deps.auth.authenticate(ctx, { allowGuests: true });
    ctx.body = { devices: (await deps.devices.list(r.userId)).map(deviceJson) };
  });

  router.get(clientPaths("/devices/:deviceId"), async (ctx) => {
    const r = await deps.auth.authenticate(ctx, { allowGuests: true });
    const d = await deps.devices.get(r.userId, ctx.params.deviceId!);
    if (!d) throw notFound("Unknown device");
    ctx.body = deviceJson(d);
  });

  router.put(clientPaths("/devices/:deviceId"), async (ctx) => {
    const r = await deps.auth.authenticate(ctx, { allowGuests: true });
    const body = validateBody(
      z.looseObject({ display_name: z.string().nullable().optional() }),
      await readJsonBody(ctx, deps.bodyLimit, { emptyAsObject: true }),
    );
    checkDeviceDisplayName(body.display_name);
    const deviceId = ctx.params.deviceId!;
    // Spec v1.17: an application service may create devices for its users (201).
    if (r.appServiceId !== undefined && (await deps.sessions.createDevice(r.userId, deviceId, body.display_name ?? null))) {
      ctx.status = 201;
      ctx.body = {};
      return;
    }
    if (body.display_name !== undefined) {
      if (!(await deps.devices.setDisplayName(r.userId, deviceId, body.display_name))) throw notFound("Unknown device");
      await deps.events.emit("deviceUpdated", { userId: r.userId, deviceId });
    } else if (!(await deps.devices.get(r.userId, deviceId))) {
      throw notFound("Unknown device");
    }
    ctx.body = {};
  });

  router.delete(clientPaths("/devices/:deviceId"), async (ctx) => {
    const r = await deps.auth.authenticate(ctx);
    const body = validateBody(deleteBody, await readJsonBody(ctx, deps.bodyLimit, { emptyAsObject: true }));
    const deviceId = ctx.params.deviceId!;
    // Spec v1.17: no user-interactive auth for application services.
    if (r.appServiceId === undefined) {
      const session = await requireReauth(deps.uia, deps.accounts, { operation: `DELETE /devices/${deviceId}`, auth: body.auth, userId: r.userId });
      await deps.uia.finish(session.session_id);
    }
    await deps.sessions.deleteDevices(r.userId, [deviceId]);
    ctx.body = {};
  });

  router.post(clientPaths("/delete_devices"), async (ctx) => {
    const r = await deps.auth.authenticate(ctx);
    const body = validateBody(deleteManyBody, await readJsonBody(ctx, deps.bodyLimit));
    const operation = `POST /delete_devices ${JSON.stringify([...body.devices].sort())}`;
    if (r.appServiceId === undefined) {
      const session = await requireReauth(deps.uia, deps.accounts, { operation, auth: body.auth, userId: r.userId });
      await deps.uia.finish(session.session_id);
    }
    await deps.sessions.deleteDevices(r.userId, body.devices);
    ctx.body = {};
  });

  return router;
}
