import { Router } from "@koa/router";
import type { Context } from "koa";
import { z } from "zod";
import type { JsonObject, JsonValue } from "../../core/index.js";
import { isKeyData, type BackupKeyData, type BackupKeys, type KeyBackupService } from "../../e2ee/key-backup.js";
import type { Authenticator } from "../../http/auth.js";
import { readJsonBody } from "../../http/body.js";
import { badJson, notFound } from "../../http/errors.js";
import { validateBody, validateQuery } from "../../http/validate.js";
import type { RoomKeyRow } from "../../storage/e2ee-backup-repo.js";
import { clientPaths } from "./client-paths.js";

export interface RoomKeysRoutesDeps {
  auth: Authenticator;
  keyBackup: KeyBackupService;
  bodyLimit: number;
}

// "auth_data" depends on the algorithm and is opaque to the server; deployed servers store any JSON value.
const versionBody = z.looseObject({
  algorithm: z.string().min(1),
  auth_data: z.unknown().refine((v) => v !== undefined && v !== null, "auth_data is required"),
});
const updateBody = versionBody.extend({ version: z.string().optional() });
const versionQuery = z.looseObject({ version: z.string() });
const keyData = z.looseObject({
  first_message_index: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  forwarded_count: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  is_verified: z.boolean(),
  session_data: z.record(z.string(), z.unknown()),
});
const roomBody = z.looseObject({ sessions: z.record(z.string(), keyData) });
const allBody = z.looseObject({ rooms: z.record(z.string(), roomBody) });

function keyJson(k: RoomKeyRow) {
  return {
    first_message_index: k.first_message_index,
    forwarded_count: k.forwarded_count,
    is_verified: k.is_verified,
    session_data: JSON.parse(k.session_data) as JsonObject,
  };
}

function sessionsOf(rows: RoomKeyRow[]): Record<string, ReturnType<typeof keyJson>> {
  return Object.fromEntries(rows.map((k) => [k.session_id, keyJson(k)]));
}

/** Client-server API "Server-side key backups". */
export function roomKeysRoutes(deps: RoomKeysRoutesDeps): Router {
  const router = new Router();
  const { keyBackup } = deps;
  const user = async (ctx: Context) => (await deps.auth.authenticate(ctx)).userId;
  const version = (ctx: Context) => validateQuery(versionQuery, ctx.query).version;

  router.post(clientPaths("/room_keys/version"), async (ctx) => {
    const userId = await user(ctx);
    const body = validateBody(versionBody, await readJsonBody(ctx, deps.bodyLimit));
    ctx.body = { version: await keyBackup.createVersion(userId, body.algorithm, body.auth_data as JsonValue) };
  });
  router.get(clientPaths("/room_keys/version"), async (ctx) => {
    ctx.body = await keyBackup.getVersion(await user(ctx));
  });
  router.get(clientPaths("/room_keys/version/:version"), async (ctx) => {
    ctx.body = await keyBackup.getVersion(await user(ctx), ctx.params.version!);
  });
  router.put(clientPaths("/room_keys/version/:version"), async (ctx) => {
    const userId = await user(ctx);
    const body = validateBody(updateBody, await readJsonBody(ctx, deps.bodyLimit));
    await keyBackup.updateVersion(userId, ctx.params.version!, { algorithm: body.algorithm, auth_data: body.auth_data as JsonValue, version: body.version });
    ctx.body = {};
  });
  router.delete(clientPaths("/room_keys/version/:version"), async (ctx) => {
    await keyBackup.deleteVersion(await user(ctx), ctx.params.version!);
    ctx.body = {};
  });

  // Keys: all rooms, one room, one session.
  router.put(clientPaths("/room_keys/keys"), async (ctx) => {
    const userId = await user(ctx);
    const v = version(ctx);
    const body = validateBody(allBody, await readJsonBody(ctx, deps.bodyLimit));
    const keys: BackupKeys = new Map();
    for (const [roomId, room] of Object.entries(body.rooms)) keys.set(roomId, toSessions(room.sessions));
    ctx.body = await keyBackup.putKeys(userId, v, keys);
  });
  router.put(clientPaths("/room_keys/keys/:roomId"), async (ctx) => {
    const userId = await user(ctx);
    const v = version(ctx);
    const body = validateBody(roomBody, await readJsonBody(ctx, deps.bodyLimit));
    ctx.body = await keyBackup.putKeys(userId, v, new Map([[ctx.params.roomId!, toSessions(body.sessions)]]));
  });
  router.put(clientPaths("/room_keys/keys/:roomId/:sessionId"), async (ctx) => {
    const userId = await user(ctx);
    const v = version(ctx);
    const body = validateBody(keyData, await readJsonBody(ctx, deps.bodyLimit));
    if (!isKeyData(body)) throw badJson("Invalid key data");
    ctx.body = await keyBackup.putKeys(userId, v, new Map([[ctx.params.roomId!, new Map([[ctx.params.sessionId!, body]])]]));
  });

  router.get(clientPaths("/room_keys/keys"), async (ctx) => {
    const rows = await keyBackup.getKeys(await user(ctx), version(ctx));
    const rooms: Record<string, { sessions: Record<string, ReturnType<typeof keyJson>> }> = {};
    for (const k of rows) ((rooms[k.room_id] ??= { sessions: {} }).sessions[k.session_id] = keyJson(k));
    ctx.body = { rooms };
  });
  router.get(clientPaths("/room_keys/keys/:roomId"), async (ctx) => {
    const rows = await keyBackup.getKeys(await user(ctx), version(ctx), ctx.params.roomId!);
    ctx.body = { sessions: sessionsOf(rows) };
  });
  router.get(clientPaths("/room_keys/keys/:roomId/:sessionId"), async (ctx) => {
    const rows = await keyBackup.getKeys(await user(ctx), version(ctx), ctx.params.roomId!, ctx.params.sessionId!);
    if (rows.length === 0) throw notFound("No key stored for this session");
    ctx.body = keyJson(rows[0]!);
  });

  router.delete(clientPaths("/room_keys/keys"), async (ctx) => {
    ctx.body = await keyBackup.deleteKeys(await user(ctx), version(ctx));
  });
  router.delete(clientPaths("/room_keys/keys/:roomId"), async (ctx) => {
    ctx.body = await keyBackup.deleteKeys(await user(ctx), version(ctx), ctx.params.roomId!);
  });
  router.delete(clientPaths("/room_keys/keys/:roomId/:sessionId"), async (ctx) => {
    ctx.body = await keyBackup.deleteKeys(await user(ctx), version(ctx), ctx.params.roomId!, ctx.params.sessionId!);
  });

  return router;
}

function toSessions(sessions: Record<string, z.infer<typeof keyData>>): Map<string, BackupKeyData> {
  const out = new Map<string, BackupKeyData>();
  for (const [sessionId, data] of Object.entries(sessions)) out.set(sessionId, data as BackupKeyData);
  return out;
}
