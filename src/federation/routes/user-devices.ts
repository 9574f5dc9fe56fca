import { Router } from "@koa/router";
import { isValidUserId, serverNameOf, type JsonObject } from "../../core/index.js";
import type { DeviceListSnapshot } from "../../e2ee/device-keys.js";
import { invalidParam } from "../../http/errors.js";
import type { FederationAuthenticator } from "../request-auth.js";

export interface UserDevicesRoutesDeps {
  auth: FederationAuthenticator;
  serverName: string;
  snapshot(userId: string): Promise<DeviceListSnapshot>;
  /** The stream_id of the user's last m.device_list_update (0 before the first). */
  streamId(userId: string): Promise<number>;
  bodyLimit: number;
}

/** Server-server "Device Management": `GET /_matrix/federation/v1/user/devices/{userId}`, for local users only. */
export function userDevicesRoutes(deps: UserDevicesRoutesDeps): Router {
  const router = new Router();
  router.get("/_matrix/federation/v1/user/devices/:userId", async (ctx) => {
    await deps.auth.authenticate(ctx, { bodyLimit: deps.bodyLimit });
    const userId = ctx.params.userId!;
    if (!isValidUserId(userId, { historical: true }) || serverNameOf(userId) !== deps.serverName) {
      throw invalidParam("The user must be a user of this server");
    }
    // The stream id is read first: an update committed in between is then sent again after it, and re-applied harmlessly.
    const streamId = await deps.streamId(userId);
    const snap = await deps.snapshot(userId);
    const body: JsonObject = { user_id: userId, stream_id: streamId, devices: snap.devices as JsonObject[] };
    if (snap.master_key) body.master_key = snap.master_key;
    if (snap.self_signing_key) body.self_signing_key = snap.self_signing_key;
    ctx.body = body;
  });
  return router;
}
