import { Router } from "@koa/router";
import type { FederatedInvites } from "../membership/invites.js";
import type { FederationAuthenticator } from "../request-auth.js";

// Server-server "Inviting to a room": PUT /v2/invite, another server inviting one of our users.
export function inviteRoutes(deps: { auth: FederationAuthenticator; invites: FederatedInvites; bodyLimit: number }): Router {
  const router = new Router();
  router.put("/_matrix/federation/v2/invite/:roomId/:eventId", async (ctx) => {
    const { origin, body } = await deps.auth.authenticate(ctx, { bodyLimit: deps.bodyLimit });
    ctx.body = await deps.invites.receive(origin, ctx.params.roomId!, ctx.params.eventId!, body);
  });
  // Server-server "Third-party invites": the invitee's server asks us to issue the invite.
  router.put("/_matrix/federation/v1/exchange_third_party_invite/:roomId", async (ctx) => {
    const { origin, body } = await deps.auth.authenticate(ctx, { bodyLimit: deps.bodyLimit });
    await deps.invites.exchangeThirdParty(origin, ctx.params.roomId!, body);
    ctx.body = {};
  });
  return router;
}
