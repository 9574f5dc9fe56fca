import { Readable } from "node:stream";
import { Router } from "@koa/router";
import type { Context } from "koa";
import { z } from "zod";
import { notFound } from "../../http/errors.js";
import { validateQuery } from "../../http/validate.js";
import { contentDisposition, normaliseContentType } from "../../media/content-headers.js";
import { MEDIA_ID_RE, type MediaService } from "../../media/media-service.js";
import { multipartMedia } from "../../media/multipart.js";
import type { FederationAuthenticator } from "../request-auth.js";

export interface FederationMediaRoutesDeps {
  auth: FederationAuthenticator;
  media: MediaService;
}

const int = z
  .string()
  .regex(/^\d{1,15}$/, "must be a non-negative integer")
  .transform(Number);
const dimension = z
  .string()
  .regex(/^\d{1,5}$/, "must be a positive integer")
  .transform(Number)
  .refine((n) => n > 0, "must be positive");
const downloadQuery = z.looseObject({ timeout_ms: int.optional() });
const thumbnailQuery = downloadQuery.extend({
  width: dimension,
  height: dimension,
  method: z.enum(["crop", "scale"]).optional(),
  animated: z.enum(["true", "false"]).optional(),
});

function mediaId(ctx: Context): string {
  const id = (ctx.params as { mediaId: string }).mediaId;
  // Client-server "Security considerations": only [A-Za-z0-9_-] media ids get anywhere.
  if (!MEDIA_ID_RE.test(id)) throw notFound("Unknown media");
  return id;
}

/**
 * Server-server "Content Repository": our own media for other servers, as
 * `multipart/mixed` with exactly two parts, the JSON metadata (`{}`) and the
 * bytes. Only media whose origin is this server is served (never media we
 * cached from elsewhere), as the path names no server.
 */
export function federationMediaRoutes(deps: FederationMediaRoutesDeps): Router {
  const { media, auth } = deps;
  const router = new Router();
  const send = (ctx: Context, m: ReturnType<typeof multipartMedia>) => {
    ctx.status = 200;
    ctx.body = m.body;
    ctx.set("Content-Type", m.contentType);
    ctx.length = m.length;
  };

  router.get("/_matrix/federation/v1/media/download/:mediaId", async (ctx) => {
    await auth.authenticate(ctx, { bodyLimit: 0 });
    const id = mediaId(ctx);
    const q = validateQuery(downloadQuery, ctx.query);
    const c = await media.content(media.serverName, id, { timeoutMs: q.timeout_ms ?? 20_000, allowRemote: false, legacy: false });
    const type = normaliseContentType(c.contentType);
    send(
      ctx,
      multipartMedia({ contentType: type, contentDisposition: contentDisposition(type, c.uploadName), size: c.size, open: () => media.open(c.sha256) }),
    );
  });

  router.get("/_matrix/federation/v1/media/thumbnail/:mediaId", async (ctx) => {
    await auth.authenticate(ctx, { bodyLimit: 0 });
    const id = mediaId(ctx);
    const q = validateQuery(thumbnailQuery, ctx.query);
    const t = await media.thumbnail(
      media.serverName,
      id,
      { width: q.width, height: q.height, method: q.method ?? "scale", animated: q.animated === "true" },
      { timeoutMs: q.timeout_ms ?? 20_000, allowRemote: false, legacy: false },
    );
    const ext = t.contentType.split("/")[1];
    send(
      ctx,
      multipartMedia({
        contentType: t.contentType,
        contentDisposition: contentDisposition(t.contentType, `thumbnail.${ext}`, true),
        size: t.size,
        open: () => (t.data ? Readable.from([t.data]) : media.open(t.sha256)),
      }),
    );
  });
  return router;
}
