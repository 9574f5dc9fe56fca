import { Router, type RouterContext } from "@koa/router";
import { z } from "zod";
import type { Authenticator } from "../http/auth.js";
import { forbidden, notFound } from "../http/errors.js";
import { validateQuery } from "../http/validate.js";
import type { MediaService } from "../media/media-service.js";
import type { MediaRow } from "../storage/media-repo.js";

export interface MediaAdminOptions {
  media: MediaService;
  auth: Authenticator;
  isServerAdmin(userId: string): Promise<boolean>;
}

const int = z
  .string()
  .regex(/^\d{1,15}$/, "must be a non-negative integer")
  .transform(Number);
const page = z.object({ from: int.optional(), limit: int.optional() });

function mediaInfo(row: MediaRow) {
  return {
    media_origin: row.origin,
    media_id: row.media_id,
    user_id: row.user_id,
    media_type: row.content_type,
    media_length: row.size_bytes,
    upload_name: row.upload_name,
    created_ts: row.created_ts,
    last_access_ts: row.last_access_ts,
    quarantined_by: row.quarantined_by,
    safe_from_quarantine: false,
  };
}

/**
 * Media administration on Synapse's admin API paths, so existing admin tools
 * work: quarantine, delete by id, delete local media older than a time,
 * purge the remote cache, per-user usage.
 */
export function mediaAdminRoutes(opts: MediaAdminOptions): Router {
  const { media } = opts;
  const router = new Router();

  const requireAdmin = async (ctx: RouterContext) => {
    const requester = await opts.auth.authenticate(ctx);
    if (!(await opts.isServerAdmin(requester.userId))) throw forbidden("You are not a server admin");
    return requester;
  };
  const params = (ctx: RouterContext) => ctx.params as { serverName: string; mediaId: string };

  router.get("/_synapse/admin/v1/media/:serverName/:mediaId", async (ctx) => {
    await requireAdmin(ctx);
    const { serverName, mediaId } = params(ctx);
    const row = await media.info(serverName, mediaId);
    if (!row) throw notFound("Unknown media");
    ctx.body = { media_info: mediaInfo(row) };
  });

  router.post("/_synapse/admin/v1/media/quarantine/:serverName/:mediaId", async (ctx) => {
    const admin = await requireAdmin(ctx);
    const { serverName, mediaId } = params(ctx);
    if (!(await media.quarantine(serverName, mediaId, admin.userId))) throw notFound("Unknown media");
    ctx.body = {};
  });

  router.post("/_synapse/admin/v1/media/unquarantine/:serverName/:mediaId", async (ctx) => {
    await requireAdmin(ctx);
    const { serverName, mediaId } = params(ctx);
    if (!(await media.quarantine(serverName, mediaId, null))) throw notFound("Unknown media");
    ctx.body = {};
  });

  router.delete("/_synapse/admin/v1/media/:serverName/:mediaId", async (ctx) => {
    await requireAdmin(ctx);
    const { serverName, mediaId } = params(ctx);
    const deleted = await media.delete(serverName, mediaId);
    if (deleted.length === 0) throw notFound("Unknown media");
    ctx.body = { deleted_media: deleted, total: deleted.length };
  });

  const deleteOld = async (ctx: RouterContext) => {
    await requireAdmin(ctx);
    const q = validateQuery(z.object({ before_ts: int, size_gt: int.optional() }), ctx.query);
    const deleted = await media.deleteLocalBefore(q.before_ts, q.size_gt ?? 0);
    ctx.body = { deleted_media: deleted, total: deleted.length };
  };
  router.post("/_synapse/admin/v1/media/delete", deleteOld);
  router.post("/_synapse/admin/v1/media/:serverName/delete", deleteOld);

  router.post("/_synapse/admin/v1/purge_media_cache", async (ctx) => {
    await requireAdmin(ctx);
    const q = validateQuery(z.object({ before_ts: int }), ctx.query);
    ctx.body = { deleted: await media.purgeRemoteCache(q.before_ts) };
  });

  router.get("/_synapse/admin/v1/statistics/users/media", async (ctx) => {
    await requireAdmin(ctx);
    const q = validateQuery(page, ctx.query);
    const from = q.from ?? 0;
    const limit = Math.min(q.limit ?? 100, 1000);
    const { users, total } = await media.userStats(from, limit);
    const body: Record<string, unknown> = { users: users.map((u) => ({ ...u, displayname: null })), total };
    if (from + users.length < total) body.next_token = from + users.length;
    ctx.body = body;
  });

  router.get("/_synapse/admin/v1/users/:userId/media", async (ctx) => {
    await requireAdmin(ctx);
    const q = validateQuery(page, ctx.query);
    const from = q.from ?? 0;
    const limit = Math.min(q.limit ?? 100, 1000);
    const { rows, total } = await media.listUserMedia((ctx.params as { userId: string }).userId, from, limit);
    const body: Record<string, unknown> = { media: rows.map(mediaInfo), total };
    if (from + rows.length < total) body.next_token = from + rows.length;
    ctx.body = body;
  });

  return router;
}
