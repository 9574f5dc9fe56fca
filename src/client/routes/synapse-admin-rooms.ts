import { Router } from "@koa/router";
import { z } from "zod";
import type { AdminGuard } from "../../admin/guard.js";
import type { RoomAdmin } from "../../admin/room-admin.js";
import type { RoomDeletion } from "../../admin/room-deletion.js";
import type { HistoryPurge } from "../../admin/retention.js";
import { readJsonBody } from "../../http/body.js";
import { MatrixError } from "../../http/errors.js";
import { validateBody, validateQuery } from "../../http/validate.js";
import { ROOM_ORDER_COLUMNS, type RoomOrder } from "../../storage/admin-rooms-repo.js";

export interface SynapseAdminRoomDeps {
  guard: AdminGuard;
  rooms: RoomAdmin;
  deletion: RoomDeletion;
  history: HistoryPurge;
  bodyLimit: number;
}

const int = z
  .string()
  .regex(/^\d{1,9}$/, "must be a non-negative integer")
  .transform(Number);
const listQuery = z.looseObject({
  from: int.optional(),
  limit: int.optional(),
  order_by: z.enum(Object.keys(ROOM_ORDER_COLUMNS) as [RoomOrder, ...RoomOrder[]]).optional(),
  dir: z.enum(["f", "b"]).optional(),
  search_term: z.string().min(1).max(255).optional(),
});
const messagesQuery = z.looseObject({
  from: z.string().optional(),
  to: z.string().optional(),
  dir: z.enum(["f", "b"]).optional(),
  limit: int.optional(),
  filter: z.string().max(8192).optional(),
});
const deleteBody = z.looseObject({
  new_room_user_id: z.string().optional(),
  room_name: z.string().max(255).optional(),
  message: z.string().max(65536).optional(),
  block: z.boolean().optional(),
  purge: z.boolean().optional(),
  force_purge: z.boolean().optional(),
});

function parseFilter(raw: string | undefined): { types?: string[]; notTypes?: string[] } {
  if (raw === undefined) return {};
  let f: unknown;
  try {
    f = JSON.parse(raw);
  } catch {
    throw new MatrixError(400, "M_INVALID_PARAM", "filter is not valid JSON");
  }
  const parsed = z.looseObject({ types: z.array(z.string()).optional(), not_types: z.array(z.string()).optional() }).safeParse(f);
  if (!parsed.success) throw new MatrixError(400, "M_INVALID_PARAM", "filter is not a valid room event filter");
  return { types: parsed.data.types, notTypes: parsed.data.not_types };
}

/** Synapse's room admin API (`/_synapse/admin/v1|v2/rooms...`). Server admins only. */
export function synapseAdminRoomRoutes(deps: SynapseAdminRoomDeps): Router {
  const router = new Router();
  const { guard } = deps;

  router.get("/_synapse/admin/v1/rooms", async (ctx) => {
    await guard(ctx);
    const q = validateQuery(listQuery, ctx.query);
    ctx.body = await deps.rooms.list({
      from: q.from ?? 0,
      limit: Math.min(q.limit ?? 100, 1000),
      order: q.order_by ?? "name",
      dir: q.dir ?? "f",
      search: q.search_term,
    });
  });

  router.get("/_synapse/admin/v1/rooms/:roomId", async (ctx) => {
    await guard(ctx);
    ctx.body = await deps.rooms.details(ctx.params.roomId!);
  });

  router.get("/_synapse/admin/v1/rooms/:roomId/members", async (ctx) => {
    await guard(ctx);
    ctx.body = await deps.rooms.members(ctx.params.roomId!);
  });

  router.get("/_synapse/admin/v1/rooms/:roomId/state", async (ctx) => {
    await guard(ctx);
    ctx.body = await deps.rooms.state(ctx.params.roomId!);
  });

  router.get("/_synapse/admin/v1/rooms/:roomId/messages", async (ctx) => {
    await guard(ctx);
    const q = validateQuery(messagesQuery, ctx.query);
    ctx.body = await deps.rooms.messages(ctx.params.roomId!, {
      from: q.from,
      to: q.to,
      dir: q.dir ?? "f",
      limit: Math.min(q.limit ?? 10, 1000),
      ...parseFilter(q.filter),
    });
  });

  router.get("/_synapse/admin/v1/rooms/:roomId/context/:eventId", async (ctx) => {
    await guard(ctx);
    const q = validateQuery(z.looseObject({ limit: int.optional() }), ctx.query);
    ctx.body = await deps.rooms.context(ctx.params.roomId!, ctx.params.eventId!, Math.min(q.limit ?? 10, 100));
  });

  router.get("/_synapse/admin/v1/rooms/:roomId/block", async (ctx) => {
    await guard(ctx);
    ctx.body = await deps.rooms.blockStatus(ctx.params.roomId!);
  });

  router.put("/_synapse/admin/v1/rooms/:roomId/block", async (ctx) => {
    const admin = await guard(ctx);
    const body = validateBody(z.looseObject({ block: z.boolean() }), await readJsonBody(ctx, deps.bodyLimit));
    if (!/^!/.test(ctx.params.roomId!)) throw new MatrixError(400, "M_INVALID_PARAM", `${ctx.params.roomId} is not a legal room ID`);
    ctx.body = await deps.rooms.setBlocked(ctx.params.roomId!, body.block, admin.userId);
  });

  router.post("/_synapse/admin/v1/rooms/:roomIdOrAlias/make_room_admin", async (ctx) => {
    const admin = await guard(ctx);
    const body = validateBody(z.looseObject({ user_id: z.string().optional() }), await readJsonBody(ctx, deps.bodyLimit, { emptyAsObject: true }));
    await deps.rooms.makeRoomAdmin(await deps.rooms.resolve(ctx.params.roomIdOrAlias!), body.user_id ?? admin.userId);
    ctx.body = {};
  });

  router.get("/_synapse/admin/v1/rooms/:roomId/forward_extremities", async (ctx) => {
    await guard(ctx);
    ctx.body = await deps.rooms.forwardExtremities(await deps.rooms.resolve(ctx.params.roomId!));
  });

  router.delete("/_synapse/admin/v1/rooms/:roomId/forward_extremities", async (ctx) => {
    await guard(ctx);
    ctx.body = await deps.rooms.deleteForwardExtremities(await deps.rooms.resolve(ctx.params.roomId!));
  });

  const deleteParams = async (ctx: Parameters<Parameters<typeof router.get>[1]>[0]) => {
    const body = validateBody(deleteBody, await readJsonBody(ctx, deps.bodyLimit, { emptyAsObject: true }));
    return {
      new_room_user_id: body.new_room_user_id,
      room_name: body.room_name,
      message: body.message,
      block: body.block ?? false,
      purge: body.purge ?? true,
      force_purge: body.force_purge ?? false,
    };
  };

  // v2: the deletion runs in the background; its status is polled.
  router.delete("/_synapse/admin/v2/rooms/:roomId", async (ctx) => {
    const admin = await guard(ctx);
    ctx.body = { delete_id: await deps.deletion.schedule(ctx.params.roomId!, admin.userId, await deleteParams(ctx)) };
  });

  router.get("/_synapse/admin/v2/rooms/:roomId/delete_status", async (ctx) => {
    await guard(ctx);
    ctx.body = await deps.deletion.statusOfRoom(ctx.params.roomId!);
  });

  router.get("/_synapse/admin/v2/rooms/delete_status/:deleteId", async (ctx) => {
    await guard(ctx);
    ctx.body = await deps.deletion.status(ctx.params.deleteId!);
  });

  // v1: the same deletion, answered once it is done.
  router.delete("/_synapse/admin/v1/rooms/:roomId", async (ctx) => {
    const admin = await guard(ctx);
    ctx.body = await deps.deletion.deleteNow(ctx.params.roomId!, admin.userId, await deleteParams(ctx));
  });

  const purgeHistory = async (ctx: Parameters<Parameters<typeof router.get>[1]>[0], pathEventId: string | undefined) => {
    await guard(ctx);
    const body = validateBody(
      z.looseObject({
        delete_local_events: z.boolean().optional(),
        purge_up_to_event_id: z.string().optional(),
        purge_up_to_ts: z.number().int().min(0).optional(),
      }),
      await readJsonBody(ctx, deps.bodyLimit, { emptyAsObject: true }),
    );
    const roomId = await deps.rooms.resolve(ctx.params.roomId!);
    ctx.body = {
      purge_id: await deps.history.schedule(roomId, {
        beforeEventId: pathEventId ?? body.purge_up_to_event_id,
        beforeTs: body.purge_up_to_ts,
        includeLocal: body.delete_local_events ?? false,
      }),
    };
  };
  router.post("/_synapse/admin/v1/purge_history/:roomId", (ctx) => purgeHistory(ctx, undefined));
  router.post("/_synapse/admin/v1/purge_history/:roomId/:eventId", (ctx) => purgeHistory(ctx, ctx.params.eventId));
  router.get("/_synapse/admin/v1/purge_history_status/:purgeId", async (ctx) => {
    await guard(ctx);
    ctx.body = deps.history.status(ctx.params.purgeId!);
  });

  return router;
}
