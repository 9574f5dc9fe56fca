import { createHash } from "node:crypto";
import { Router } from "@koa/router";
import type { Context } from "koa";
import { z } from "zod";
import type { JsonObject } from "../../core/index.js";
import type { Authenticator, Requester } from "../../http/auth.js";
import { readJsonBody } from "../../http/body.js";
import { badJson, MatrixError } from "../../http/errors.js";
import { validateBody } from "../../http/validate.js";
import type { DelayedEvents } from "../../rooms/delayed-events.js";
import type { RoomMessaging } from "../../rooms/messaging.js";
import { clientPaths } from "./client-paths.js";
import { delayParam } from "./delayed-events.js";

export interface RoomSendRoutesDeps {
  auth: Authenticator;
  messaging: RoomMessaging;
  /** Shadow-banned users (admin API): their messages seem sent but reach nobody. */
  isShadowBanned?: (userId: string) => Promise<boolean>;
  /** Per-user message rate limit (429 M_LIMIT_EXCEEDED when over it). */
  checkMessageRate?: (userId: string) => Promise<void>;
  /** Delayed events (MSC4140): `?org.matrix.msc4140.delay=` schedules instead of sending. */
  delayed?: DelayedEvents;
}

/** A stable, well-formed event id for a shadow-banned send (a retry gets the same one). */
function fakeEventId(userId: string, roomId: string, txnId: string): string {
  return `$${createHash("sha256").update(`${userId}\0${roomId}\0${txnId}`).digest("base64url")}`;
}

/** Client-server "Size limits": an event is at most 64 KiB, so a bigger body cannot become one. */
const EVENT_BODY_LIMIT = 65536;

async function readContent(ctx: Context): Promise<JsonObject> {
  const body = await readJsonBody(ctx, EVENT_BODY_LIMIT);
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw badJson("Event content must be a JSON object");
  return body as JsonObject;
}

const redactBody = z.looseObject({ reason: z.string().optional() });

/**
 * Application service API "Timestamp massaging": an appservice may set the
 * event's origin_server_ts with `ts` on /send and /state; others' `ts` is ignored.
 */
function massagedTs(ctx: Context, me: Requester): number | undefined {
  if (me.appServiceId === undefined) return undefined;
  const ts = ctx.query.ts;
  if (ts === undefined) return undefined;
  if (typeof ts !== "string" || !/^\d{1,16}$/.test(ts) || !Number.isSafeInteger(Number(ts))) {
    throw new MatrixError(400, "M_INVALID_PARAM", "ts must be a timestamp in milliseconds");
  }
  return Number(ts);
}

// Client-server "Sending events to a room" and "Redactions".
export function roomSendRoutes(deps: RoomSendRoutesDeps): Router {
  const router = new Router();

  router.put(clientPaths("/rooms/:roomId/send/:eventType/:txnId"), async (ctx) => {
    const me = await deps.auth.authenticate(ctx, { allowGuests: true });
    const content = await readContent(ctx);
    const { roomId, eventType, txnId } = ctx.params as { roomId: string; eventType: string; txnId: string };
    // Appservices are never rate-limited.
    if (!me.appServiceId) await deps.checkMessageRate?.(me.userId);
    const delay = deps.delayed ? delayParam(ctx) : undefined;
    if (delay !== undefined) {
      ctx.body = { delay_id: await deps.delayed!.schedule(me, roomId, eventType, null, content, delay, txnId) };
      return;
    }
    if (await deps.isShadowBanned?.(me.userId)) {
      ctx.body = { event_id: fakeEventId(me.userId, roomId, txnId) };
      return;
    }
    ctx.body = { event_id: await deps.messaging.sendMessage(me, roomId, eventType, content, txnId, massagedTs(ctx, me)) };
  });

  // The r0 form without a transaction id, which older clients and tools still use.
  router.post(clientPaths("/rooms/:roomId/send/:eventType"), async (ctx) => {
    const me = await deps.auth.authenticate(ctx, { allowGuests: true });
    const content = await readContent(ctx);
    const { roomId, eventType } = ctx.params as { roomId: string; eventType: string };
    // Appservices are never rate-limited.
    if (!me.appServiceId) await deps.checkMessageRate?.(me.userId);
    if (await deps.isShadowBanned?.(me.userId)) {
      ctx.body = { event_id: fakeEventId(me.userId, roomId, `${Date.now()}-${Math.random()}`) };
      return;
    }
    ctx.body = { event_id: await deps.messaging.sendMessage(me, roomId, eventType, content, undefined, massagedTs(ctx, me)) };
  });

  const putState = async (ctx: Context, stateKey: string) => {
    const me = await deps.auth.authenticate(ctx, { allowGuests: true });
    const content = await readContent(ctx);
    const { roomId, eventType } = ctx.params as { roomId: string; eventType: string };
    const delay = deps.delayed ? delayParam(ctx) : undefined;
    if (delay !== undefined) {
      ctx.body = { delay_id: await deps.delayed!.schedule(me, roomId, eventType, stateKey, content, delay) };
      return;
    }
    ctx.body = { event_id: await deps.messaging.sendState(me, roomId, eventType, stateKey, content, massagedTs(ctx, me)) };
  };
  router.put(clientPaths("/rooms/:roomId/state/:eventType"), (ctx) => putState(ctx, ""));
  router.put(clientPaths("/rooms/:roomId/state/:eventType/:stateKey"), (ctx) => putState(ctx, ctx.params.stateKey ?? ""));

  const redact = async (ctx: Context, txnId: string | undefined) => {
    const me = await deps.auth.authenticate(ctx, { allowGuests: true });
    const body = validateBody(redactBody, await readJsonBody(ctx, EVENT_BODY_LIMIT, { emptyAsObject: true }));
    const { roomId, eventId } = ctx.params as { roomId: string; eventId: string };
    ctx.body = { event_id: await deps.messaging.redact(me, roomId, eventId, txnId, body.reason) };
  };
  router.put(clientPaths("/rooms/:roomId/redact/:eventId/:txnId"), (ctx) => redact(ctx, ctx.params.txnId));
  // The r0 form without a transaction id.
  router.post(clientPaths("/rooms/:roomId/redact/:eventId"), (ctx) => redact(ctx, undefined));

  return router;
}
