import { Router } from "@koa/router";
import { z } from "zod";
import type { Authenticator } from "../../http/auth.js";
import { readJsonBody } from "../../http/body.js";
import { validateBody } from "../../http/validate.js";
import type { JsonObject } from "../../core/index.js";
import type { RoomCreation } from "../../rooms/room-creation.js";
import { clientPaths } from "./client-paths.js";

export interface CreateRoomRoutesDeps {
  auth: Authenticator;
  creation: RoomCreation;
  bodyLimit: number;
}

const jsonObject = z.record(z.string(), z.unknown()).transform((v) => v as JsonObject);

const createRoomBody = z.looseObject({
  visibility: z.enum(["public", "private"]).optional(),
  room_alias_name: z.string().optional(),
  name: z.string().optional(),
  topic: z.string().optional(),
  invite: z.array(z.string()).optional(),
  invite_3pid: z.array(z.unknown()).optional(),
  room_version: z.string().optional(),
  creation_content: jsonObject.optional(),
  initial_state: z
    .array(z.looseObject({ type: z.string(), state_key: z.string().optional(), content: jsonObject }))
    .optional(),
  preset: z.enum(["private_chat", "public_chat", "trusted_private_chat"]).optional(),
  is_direct: z.boolean().optional(),
  power_level_content_override: jsonObject.optional(),
});

// Client-server "Creation": POST /createRoom.
export function createRoomRoutes(deps: CreateRoomRoutesDeps): Router {
  const router = new Router();
  router.post(clientPaths("/createRoom"), async (ctx) => {
    const me = await deps.auth.authenticate(ctx);
    const body = validateBody(createRoomBody, await readJsonBody(ctx, deps.bodyLimit, { emptyAsObject: true }));
    const { roomId } = await deps.creation.createRoom(me.userId, body);
    ctx.body = { room_id: roomId };
  });
  return router;
}
