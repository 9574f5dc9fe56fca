import { Router } from "@koa/router";
import { z } from "zod";
import type { Authenticator } from "../../http/auth.js";
import { validateQuery } from "../../http/validate.js";
import { parseRoomEventFilter } from "../../rooms/event-filter.js";
import type { RoomReader } from "../../rooms/room-reader.js";
import { clientPaths, clientV1 } from "./client-paths.js";

export interface MessagesRoutesDeps {
  auth: Authenticator;
  reader: RoomReader;
}

const intParam = z
  .string()
  .regex(/^\d{1,9}$/, "must be a non-negative integer")
  .transform(Number);

const messagesQuery = z.looseObject({
  from: z.string().optional(),
  to: z.string().optional(),
  dir: z.enum(["b", "f"]),
  limit: intParam.optional(),
  filter: z.string().optional(),
});
const timestampQuery = z.looseObject({ ts: z.string().regex(/^\d{1,15}$/, "must be a timestamp").transform(Number), dir: z.enum(["b", "f"]) });
const contextQuery = z.looseObject({ limit: intParam.optional(), filter: z.string().optional() });
const membersQuery = z.looseObject({
  at: z.string().optional(),
  membership: z.enum(["join", "invite", "knock", "leave", "ban"]).optional(),
  not_membership: z.enum(["join", "invite", "knock", "leave", "ban"]).optional(),
});

// Client-server "Getting events for a room": /messages, /context, /event, /state, /members, /joined_members.
export function messagesRoutes(deps: MessagesRoutesDeps): Router {
  const router = new Router();

  router.get(clientPaths("/rooms/:roomId/messages"), async (ctx) => {
    const me = await deps.auth.authenticate(ctx, { allowGuests: true });
    const q = validateQuery(messagesQuery, ctx.query);
    ctx.body = await deps.reader.messages(me, ctx.params.roomId!, {
      from: q.from,
      to: q.to,
      dir: q.dir,
      limit: q.limit ?? 10,
      filter: parseRoomEventFilter(q.filter),
    });
  });

  router.get(clientPaths("/rooms/:roomId/context/:eventId"), async (ctx) => {
    const me = await deps.auth.authenticate(ctx, { allowGuests: true });
    const q = validateQuery(contextQuery, ctx.query);
    ctx.body = await deps.reader.context(me, ctx.params.roomId!, ctx.params.eventId!, q.limit ?? 10, parseRoomEventFilter(q.filter));
  });

  router.get(clientPaths("/rooms/:roomId/event/:eventId"), async (ctx) => {
    const me = await deps.auth.authenticate(ctx, { allowGuests: true });
    ctx.body = await deps.reader.event(me, ctx.params.roomId!, ctx.params.eventId!);
  });

  router.get(clientPaths("/rooms/:roomId/state"), async (ctx) => {
    const me = await deps.auth.authenticate(ctx, { allowGuests: true });
    ctx.body = await deps.reader.roomState(me, ctx.params.roomId!);
  });

  const getState = async (ctx: Parameters<Parameters<Router["get"]>[1]>[0], stateKey: string) => {
    const me = await deps.auth.authenticate(ctx, { allowGuests: true });
    const e = await deps.reader.stateEvent(me, ctx.params.roomId!, ctx.params.eventType!, stateKey);
    if (ctx.query.format === "event") ctx.body = await deps.reader.formatEvent(e, me);
    else ctx.body = e.row.redactedBy ? (await deps.reader.formatEvent(e, me)).content : e.event.content;
  };
  router.get(clientPaths("/rooms/:roomId/state/:eventType"), (ctx) => getState(ctx, ""));
  router.get(clientPaths("/rooms/:roomId/state/:eventType/:stateKey"), (ctx) => getState(ctx, ctx.params.stateKey ?? ""));

  // Client-server "Room timestamps" (v1.6).
  router.get(clientV1("/rooms/:roomId/timestamp_to_event"), async (ctx) => {
    const me = await deps.auth.authenticate(ctx, { allowGuests: true });
    const q = validateQuery(timestampQuery, ctx.query);
    ctx.body = await deps.reader.timestampToEvent(me, ctx.params.roomId!, q.ts, q.dir);
  });

  router.get(clientPaths("/rooms/:roomId/members"), async (ctx) => {
    const me = await deps.auth.authenticate(ctx, { allowGuests: true });
    const q = validateQuery(membersQuery, ctx.query);
    ctx.body = { chunk: await deps.reader.members(me, ctx.params.roomId!, q) };
  });

  router.get(clientPaths("/rooms/:roomId/joined_members"), async (ctx) => {
    const me = await deps.auth.authenticate(ctx, { allowGuests: true });
    ctx.body = { joined: await deps.reader.joinedMembers(me.userId, ctx.params.roomId!) };
  });

  return router;
}
