import { Router } from "@koa/router";
import { z } from "zod";
import type { Authenticator } from "../../http/auth.js";
import { readJsonBody } from "../../http/body.js";
import { forbidden, MatrixError } from "../../http/errors.js";
import { validateBody } from "../../http/validate.js";
import { PRESENCE_STATES, type PresenceService } from "../../ephemeral/presence.js";
import { PRIVATE_READ, PUBLIC_READ, type ReceiptsService, type RoomAccess } from "../../ephemeral/receipts.js";
import type { TypingService } from "../../ephemeral/typing.js";
import { clientPaths } from "./client-paths.js";

/** Room account data, for m.fully_read (read markers module). */
export interface RoomAccountDataWriter {
  setRoomAccountData(userId: string, roomId: string, type: string, content: Record<string, unknown>): Promise<void>;
}

export interface EphemeralRoutesDeps {
  auth: Authenticator;
  typing: TypingService;
  receipts: ReceiptsService;
  presence: PresenceService;
  rooms: RoomAccess;
  accountData: RoomAccountDataWriter;
  bodyLimit: number;
}

const typingBody = z.object({ typing: z.boolean(), timeout: z.number().int().min(0).optional() });
const receiptBody = z.looseObject({ thread_id: z.string().optional() });
const readMarkersBody = z.looseObject({
  "m.fully_read": z.string().optional(),
  "m.read": z.string().optional(),
  "m.read.private": z.string().optional(),
});
const presenceBody = z.looseObject({ presence: z.enum(PRESENCE_STATES), status_msg: z.string().nullable().optional() });

// Typing notifications, Receipts, Read markers and Presence modules.
export function ephemeralRoutes(deps: EphemeralRoutesDeps): Router {
  const router = new Router();

  router.put(clientPaths("/rooms/:roomId/typing/:userId"), async (ctx) => {
    const me = await deps.auth.authenticate(ctx, { allowGuests: true });
    const body = validateBody(typingBody, await readJsonBody(ctx, deps.bodyLimit));
    if (ctx.params.userId !== me.userId) throw forbidden("You may only set your own typing state");
    const roomId = ctx.params.roomId!;
    if (!(await deps.rooms.isJoined(me.userId, roomId))) throw forbidden("You are not joined to this room");
    // Without a `timeout` the server's default applies, as deployed servers do.
    deps.typing.setTyping(roomId, me.userId, body.typing, body.timeout);
    ctx.body = {};
  });

  router.post(clientPaths("/rooms/:roomId/receipt/:receiptType/:eventId"), async (ctx) => {
    const me = await deps.auth.authenticate(ctx, { allowGuests: true });
    const body = validateBody(receiptBody, await readJsonBody(ctx, deps.bodyLimit, { emptyAsObject: true }));
    const { roomId, receiptType, eventId } = ctx.params as { roomId: string; receiptType: string; eventId: string };
    if (receiptType === "m.fully_read") {
      // Since v1.4 the receipt endpoint also sets the read marker; it takes no thread.
      if (body.thread_id !== undefined) throw new MatrixError(400, "M_INVALID_PARAM", "m.fully_read cannot be threaded");
      await setFullyRead(deps, me.userId, roomId, eventId);
    } else {
      await deps.receipts.setReceipt(me.userId, roomId, receiptType, eventId, body.thread_id);
    }
    ctx.body = {};
  });

  router.post(clientPaths("/rooms/:roomId/read_markers"), async (ctx) => {
    const me = await deps.auth.authenticate(ctx, { allowGuests: true });
    const body = validateBody(readMarkersBody, await readJsonBody(ctx, deps.bodyLimit));
    const roomId = ctx.params.roomId!;
    if (body["m.fully_read"]) await setFullyRead(deps, me.userId, roomId, body["m.fully_read"]);
    if (body["m.read"]) await deps.receipts.setReceipt(me.userId, roomId, PUBLIC_READ, body["m.read"], undefined);
    if (body["m.read.private"]) await deps.receipts.setReceipt(me.userId, roomId, PRIVATE_READ, body["m.read.private"], undefined);
    ctx.body = {};
  });

  router.put(clientPaths("/presence/:userId/status"), async (ctx) => {
    const me = await deps.auth.authenticate(ctx, { allowGuests: true });
    const body = validateBody(presenceBody, await readJsonBody(ctx, deps.bodyLimit));
    if (ctx.params.userId !== me.userId) throw forbidden("You may only set your own presence");
    await deps.presence.setPresence(me.userId, body.presence, body.status_msg);
    ctx.body = {};
  });

  router.get(clientPaths("/presence/:userId/status"), async (ctx) => {
    const me = await deps.auth.authenticate(ctx, { allowGuests: true });
    ctx.body = await deps.presence.getPresence(me.userId, ctx.params.userId!);
  });

  return router;
}

async function setFullyRead(deps: EphemeralRoutesDeps, userId: string, roomId: string, eventId: string): Promise<void> {
  if (!(await deps.rooms.isJoined(userId, roomId))) throw forbidden("You are not joined to this room");
  if (!(await deps.rooms.hasEvent(roomId, eventId))) throw new MatrixError(404, "M_NOT_FOUND", "No such event in this room");
  await deps.accountData.setRoomAccountData(userId, roomId, "m.fully_read", { event_id: eventId });
}
