import { Router } from "@koa/router";
import { z } from "zod";
import type { Authenticator } from "../../http/auth.js";
import type { Ratelimiter } from "../../http/rate-limit.js";
import { forbidden } from "../../http/errors.js";
import { validateQuery } from "../../http/validate.js";
import type { MediaService } from "../../media/media-service.js";
import type { UrlPreviewer } from "../../media/url-preview.js";
import { downloadOptions, mediaParams, sendContent, sendThumbnail, thumbnailOptions, uploadInput } from "./media-serve.js";

export interface MediaRoutesOptions {
  media: MediaService;
  auth: Authenticator;
  /** Undefined when URL previews are disabled in the config. */
  previewer: UrlPreviewer | undefined;
  /** Per user, for uploads and POST /create. */
  uploadLimiter: Ratelimiter;
}

const previewQuery = z.object({ url: z.string().min(1).max(4096), ts: z.string().optional() });

/**
 * The content repository (spec: Client-Server API, "Content repository"):
 * uploads under /_matrix/media, the authenticated /_matrix/client/v1/media
 * endpoints, and the deprecated unauthenticated /_matrix/media/v3 (and r0)
 * downloads and thumbnails, frozen for new media when configured.
 */
export function mediaRoutes(opts: MediaRoutesOptions): Router {
  const { media, auth } = opts;
  const router = new Router();

  // ---- uploads ------------------------------------------------------------
  router.post(["/_matrix/media/v3/upload", "/_matrix/media/r0/upload"], async (ctx) => {
    const requester = await auth.authenticate(ctx);
    opts.uploadLimiter.check(requester.userId);
    const contentUri = await media.upload(requester.userId, uploadInput(ctx));
    ctx.body = { content_uri: contentUri };
  });

  router.post("/_matrix/media/v1/create", async (ctx) => {
    const requester = await auth.authenticate(ctx);
    opts.uploadLimiter.check(requester.userId);
    ctx.body = await media.create(requester.userId);
  });

  router.put("/_matrix/media/v3/upload/:serverName/:mediaId", async (ctx) => {
    const requester = await auth.authenticate(ctx);
    const { serverName, mediaId } = ctx.params as { serverName: string; mediaId: string };
    await media.uploadTo(requester.userId, serverName, mediaId, uploadInput(ctx));
    ctx.body = {};
  });

  // ---- authenticated (v1.11+) ----------------------------------------------
  router.get("/_matrix/client/v1/media/config", async (ctx) => {
    await auth.authenticate(ctx, { allowGuests: true });
    ctx.body = media.uploadConfig();
  });

  router.get("/_matrix/client/v1/media/download/:serverName/:mediaId{/:fileName}", async (ctx) => {
    await auth.authenticate(ctx, { allowGuests: true });
    const { serverName, mediaId } = mediaParams(ctx);
    const content = await media.content(serverName, mediaId, downloadOptions(ctx, false));
    sendContent(ctx, media, content, (ctx.params as { fileName?: string }).fileName);
  });

  router.get("/_matrix/client/v1/media/thumbnail/:serverName/:mediaId", async (ctx) => {
    await auth.authenticate(ctx, { allowGuests: true });
    const { serverName, mediaId } = mediaParams(ctx);
    const t = await media.thumbnail(serverName, mediaId, thumbnailOptions(ctx), downloadOptions(ctx, false));
    sendThumbnail(ctx, media, t);
  });

  const preview = async (ctx: Parameters<Parameters<typeof router.get>[1]>[0]) => {
    await auth.authenticate(ctx);
    const q = validateQuery(previewQuery, ctx.query);
    if (!opts.previewer) throw forbidden("URL previews are disabled on this server");
    ctx.body = await opts.previewer.preview(q.url);
  };
  router.get("/_matrix/client/v1/media/preview_url", preview);

  // ---- deprecated unauthenticated (and r0) ---------------------------------
  for (const v of ["v3", "r0"]) {
    router.get(`/_matrix/media/${v}/config`, async (ctx) => {
      await auth.authenticate(ctx, { allowGuests: true });
      ctx.body = media.uploadConfig();
    });
    router.get(`/_matrix/media/${v}/preview_url`, preview);

    router.get(`/_matrix/media/${v}/download/:serverName/:mediaId{/:fileName}`, async (ctx) => {
      const { serverName, mediaId } = mediaParams(ctx);
      const content = await media.content(serverName, mediaId, downloadOptions(ctx, true));
      sendContent(ctx, media, content, (ctx.params as { fileName?: string }).fileName);
    });

    router.get(`/_matrix/media/${v}/thumbnail/:serverName/:mediaId`, async (ctx) => {
      const { serverName, mediaId } = mediaParams(ctx);
      const t = await media.thumbnail(serverName, mediaId, thumbnailOptions(ctx), downloadOptions(ctx, true));
      sendThumbnail(ctx, media, t);
    });
  }
  return router;
}
