import { Router } from "@koa/router";
import type { Authenticator } from "../../http/auth.js";
import { roomVersionsCapability } from "../../core/room-versions.js";
import { clientPaths } from "./client-paths.js";

export interface CapabilitiesDeps {
  auth: Authenticator;
  defaultRoomVersion: string;
  loginGetTokenEnabled: boolean;
  threepidChanges: boolean;
}

// Client-server API "Capabilities negotiation".
export function capabilitiesRoutes(deps: CapabilitiesDeps): Router {
  const router = new Router();
  router.get(clientPaths("/capabilities"), async (ctx) => {
    await deps.auth.authenticate(ctx, { allowGuests: true });
    ctx.body = {
      capabilities: {
        "m.change_password": { enabled: true },
        "m.room_versions": roomVersionsCapability(deps.defaultRoomVersion),
        "m.set_displayname": { enabled: true },
        "m.set_avatar_url": { enabled: true },
        "m.3pid_changes": { enabled: deps.threepidChanges },
        "m.get_login_token": { enabled: deps.loginGetTokenEnabled },
        "m.profile_fields": { enabled: true },
      },
    };
  });
  return router;
}
