import { Router } from "@koa/router";
import type { Context } from "koa";
import { z } from "zod";
import type { JsonObject } from "../../core/index.js";
import type { Authenticator } from "../../http/auth.js";
import { readJsonBody } from "../../http/body.js";
import { validateBody, validateQuery } from "../../http/validate.js";
import type { RoomMembership } from "../../rooms/membership.js";
import type { ThirdPartyInvites } from "../../rooms/third-party-invites.js";
import { clientPaths, clientV1 } from "./client-paths.js";

export interface MembershipRoutesDeps {
  auth: Authenticator;
  membership: RoomMembership;
  thirdPartyInvites?: ThirdPartyInvites;
  bodyLimit: number;
  /** Shadow-banned users (admin API): their invites seem sent but reach nobody. */
  isShadowBanned?: (userId: string) => Promise<boolean>;
}

const reasonBody = z.looseObject({ reason: z.string().optional() });
const targetBody = z.looseObject({ user_id: z.string(), reason: z.string().optional() });
// "Inviting by third-party identifier" (POST /invite with a 3PID instead of user_id).
const thirdPartyBody = z.looseObject({ id_server: z.string(), id_access_token: z.string(), medium: z.string(), address: z.string() });

/** `via` (and the deprecated `server_name`) query parameters: servers to join or knock through. */
function viaServers(query: Context["query"]): string[] {
  const out: string[] = [];
  for (const key of ["via", "server_name"]) {
    const v = query[key];
    for (const s of Array.isArray(v) ? v : v === undefined ? [] : [v]) if (s.length > 0 && s.length <= 255) out.push(s);
  }
  return out.slice(0, 20);
}

// Client-server "Room membership": joining, knocking, inviting, leaving, kicking, banning, forgetting.
export function membershipRoutes(deps: MembershipRoutesDeps): Router {
  const router = new Router();
  const body = async <S extends z.ZodType>(ctx: Context, schema: S) =>
    validateBody(schema, await readJsonBody(ctx, deps.bodyLimit, { emptyAsObject: true }));

  const join = async (ctx: Context, roomIdOrAlias: string) => {
    // Guests may join rooms whose guest_access allows it (checked in the membership service).
    const me = await deps.auth.authenticate(ctx, { allowGuests: true });
    const b = await body(ctx, reasonBody);
    if (b.third_party_signed !== undefined && deps.thirdPartyInvites) {
      const roomId = await deps.membership.resolveRoom(roomIdOrAlias);
      await deps.thirdPartyInvites.exchangeForJoin(roomId, me.userId, b.third_party_signed);
    }
    ctx.body = { room_id: await deps.membership.join(me, roomIdOrAlias, b.reason, b as JsonObject, viaServers(ctx.query)) };
  };
  router.post(clientPaths("/join/:roomIdOrAlias"), (ctx) => join(ctx, ctx.params.roomIdOrAlias!));
  router.post(clientPaths("/rooms/:roomId/join"), (ctx) => join(ctx, ctx.params.roomId!));
  router.post(clientPaths("/knock/:roomIdOrAlias"), async (ctx) => {
    const me = await deps.auth.authenticate(ctx);
    const b = await body(ctx, reasonBody);
    ctx.body = { room_id: await deps.membership.knock(me, ctx.params.roomIdOrAlias!, b.reason, viaServers(ctx.query)) };
  });
  router.post(clientPaths("/rooms/:roomId/invite"), async (ctx) => {
    const me = await deps.auth.authenticate(ctx);
    const raw = await readJsonBody(ctx, deps.bodyLimit, { emptyAsObject: true });
    if (await deps.isShadowBanned?.(me.userId)) {
      ctx.body = {};
      return;
    }
    if (deps.thirdPartyInvites && typeof raw === "object" && raw !== null && !("user_id" in raw) && "medium" in raw) {
      await deps.thirdPartyInvites.invite(me, ctx.params.roomId!, validateBody(thirdPartyBody, raw));
      ctx.body = {};
      return;
    }
    const b = validateBody(targetBody, raw);
    await deps.membership.invite(me, ctx.params.roomId!, b.user_id, b.reason);
    ctx.body = {};
  });
  router.post(clientPaths("/rooms/:roomId/leave"), async (ctx) => {
    const me = await deps.auth.authenticate(ctx, { allowGuests: true });
    const b = await body(ctx, reasonBody);
    await deps.membership.leave(me, ctx.params.roomId!, b.reason);
    ctx.body = {};
  });
  router.post(clientPaths("/rooms/:roomId/kick"), async (ctx) => {
    const me = await deps.auth.authenticate(ctx);
    const b = await body(ctx, targetBody);
    await deps.membership.kick(me, ctx.params.roomId!, b.user_id, b.reason);
    ctx.body = {};
  });
  router.post(clientPaths("/rooms/:roomId/ban"), async (ctx) => {
    const me = await deps.auth.authenticate(ctx);
    const b = await body(ctx, targetBody);
    await deps.membership.ban(me, ctx.params.roomId!, b.user_id, b.reason);
    ctx.body = {};
  });
  router.post(clientPaths("/rooms/:roomId/unban"), async (ctx) => {
    const me = await deps.auth.authenticate(ctx);
    const b = await body(ctx, targetBody);
    await deps.membership.unban(me, ctx.params.roomId!, b.user_id, b.reason);
    ctx.body = {};
  });
  router.post(clientPaths("/rooms/:roomId/forget"), async (ctx) => {
    const me = await deps.auth.authenticate(ctx, { allowGuests: true });
    await body(ctx, z.looseObject({}));
    await deps.membership.forget(me.userId, ctx.params.roomId!);
    ctx.body = {};
  });
  // Client-server "Mutual rooms".
  router.get(clientV1("/mutual_rooms"), async (ctx) => {
    const me = await deps.auth.authenticate(ctx);
    const q = validateQuery(z.looseObject({ user_id: z.string(), from: z.string().optional() }), ctx.query);
    ctx.body = await deps.membership.mutualRooms(me.userId, q.user_id, q.from);
  });
  router.get(clientPaths("/joined_rooms"), async (ctx) => {
    const me = await deps.auth.authenticate(ctx, { allowGuests: true });
    ctx.body = { joined_rooms: await deps.membership.joinedRooms(me.userId) };
  });
  return router;
}
