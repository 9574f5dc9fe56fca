import { Router } from "@koa/router";
import type { Authenticator } from "../../http/auth.js";
import { roomVersionsCapability } from "../../core/room-versions.js";
import { clientPaths } from "./client-paths.js";

export interface CapabilitiesDeps {
  auth: Authenticator;
  defaultRoomVersion: string;
  loginGetTokenEnabled: boolean;
  threepidChanges: boolean;
  isAdmin(userId: string): Promise<boolean>;
}

// Client-server API "Capabilities negotiation".
export function capabilitiesRoutes(deps: CapabilitiesDeps): Router {
  const router = new Router();
  router.get(clientPaths("/capabilities"), async (ctx) => {
    const r = await deps.auth.authenticate(ctx, { allowGuests: true });
    // Spec: m.account_moderation is omitted for users who can do neither.
    const moderation = (await deps.isAdmin(r.userId)) ? { "m.account_moderation": { lock: true, suspend: true } } : {};
    ctx.body = {
      capabilities: {
        ...moderation,
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
