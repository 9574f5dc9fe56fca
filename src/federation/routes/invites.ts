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
  // The deprecated v1 form: the body is the event; stripped state in unsigned.invite_room_state;
  // the answer [200, {event}]. Without room_version, v1 covers rooms of version 1 and 2 only.
  router.put("/_matrix/federation/v1/invite/:roomId/:eventId", async (ctx) => {
    const { origin, body } = await deps.auth.authenticate(ctx, { bodyLimit: deps.bodyLimit });
    const { unsigned, ...event } =
      typeof body === "object" && body !== null && !Array.isArray(body) ? (body as Record<string, unknown>) : { unsigned: undefined };
    const roomState = typeof unsigned === "object" && unsigned !== null ? (unsigned as Record<string, unknown>).invite_room_state : undefined;
    const v2 = { room_version: "1", event, invite_room_state: roomState ?? [] };
    ctx.body = [200, await deps.invites.receive(origin, ctx.params.roomId!, ctx.params.eventId!, v2)];
  });
  // Server-server "Third-party invites": the invitee's server asks us to issue the invite.
  router.put("/_matrix/federation/v1/exchange_third_party_invite/:roomId", async (ctx) => {
    const { origin, body } = await deps.auth.authenticate(ctx, { bodyLimit: deps.bodyLimit });
    await deps.invites.exchangeThirdParty(origin, ctx.params.roomId!, body);
    ctx.body = {};
  });
  return router;
}
