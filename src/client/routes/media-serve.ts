import type { Context } from "koa";
import { z } from "zod";
import { MatrixError, notFound } from "../../http/errors.js";
import { validateQuery } from "../../http/validate.js";
import { contentDisposition, mediaSecurityHeaders, normaliseContentType, parseRange } from "../../media/content-headers.js";
import type { MediaService, ServedContent, ServedThumbnail, UploadInput } from "../../media/media-service.js";

/** Shared request parsing and response writing of the media routes (authenticated and legacy). */

const SERVER_NAME_RE = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?$/;

/** Spec "Security considerations": only valid server names and [A-Za-z0-9_-] media ids get anywhere. */
export function mediaParams(ctx: Context): { serverName: string; mediaId: string } {
  const { serverName, mediaId } = ctx.params as { serverName: string; mediaId: string };
  if (!SERVER_NAME_RE.test(serverName) || !/^[A-Za-z0-9_-]+$/.test(mediaId)) throw notFound("Unknown media");
  return { serverName, mediaId };
}

const bool = z.enum(["true", "false"]).transform((v) => v === "true");
const int = z.string().regex(/^\d{1,15}$/, "must be a non-negative integer").transform(Number);

const downloadQuery = z.object({
  timeout_ms: int.optional(),
  allow_remote: bool.optional(),
  allow_redirect: bool.optional(),
});

export function downloadOptions(ctx: Context, legacy: boolean): { timeoutMs: number; allowRemote: boolean; legacy: boolean } {
  const q = validateQuery(downloadQuery, ctx.query);
  return { timeoutMs: q.timeout_ms ?? 20_000, allowRemote: q.allow_remote ?? true, legacy };
}

const thumbnailQuery = downloadQuery.extend({
  width: z.string().regex(/^\d{1,5}$/, "must be a positive integer").transform(Number).refine((n) => n > 0, "must be positive"),
  height: z.string().regex(/^\d{1,5}$/, "must be a positive integer").transform(Number).refine((n) => n > 0, "must be positive"),
  method: z.enum(["crop", "scale"]).optional(),
  animated: bool.optional(),
});

export function thumbnailOptions(ctx: Context) {
  const q = validateQuery(thumbnailQuery, ctx.query);
  return { width: q.width, height: q.height, method: q.method ?? "scale", animated: q.animated ?? false };
}

export function uploadInput(ctx: Context): UploadInput {
  const q = validateQuery(z.object({ filename: z.string().max(1024).optional() }), ctx.query);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are stripped from the stored file name on purpose.
  const fileName = q.filename?.replace(/[\0-\x1f\x7f]/g, "") || null;
  return {
    body: ctx.req,
    declaredLength: ctx.request.length,
    contentType: normaliseContentType(ctx.get("content-type") || undefined),
    fileName,
  };
}

function commonHeaders(ctx: Context, etag: string): void {
  ctx.set(mediaSecurityHeaders());
  // Media never changes under its id; shared caches must not keep authenticated content.
  ctx.set("Cache-Control", "private, max-age=86400");
  ctx.set("ETag", `"${etag}"`);
}

/** Writes media bytes: whole, or one `Range`, with a safe Content-Disposition. */
export function sendContent(ctx: Context, service: MediaService, c: ServedContent, fileName: string | undefined): void {
  const range = parseRange(ctx.get("range") || undefined, c.size);
  if (range === "unsatisfiable") {
    throw new MatrixError(416, "M_UNKNOWN", "Requested range not satisfiable", {}, { "Content-Range": `bytes */${c.size}` });
  }
  commonHeaders(ctx, c.sha256);
  // Checked again on the way out: cached remote media carries another server's header.
  const type = normaliseContentType(c.contentType);
  ctx.set("Content-Type", type);
  ctx.set("Content-Disposition", contentDisposition(type, fileName ?? c.uploadName));
  ctx.set("Accept-Ranges", "bytes");
  // Koa only answers `fresh` for a 2xx status.
  ctx.status = 200;
  if (!range && ctx.fresh) {
    ctx.status = 304;
    return;
  }
  if (range) {
    ctx.status = 206;
    ctx.set("Content-Range", `bytes ${range.start}-${range.end}/${c.size}`);
    ctx.body = service.open(c.sha256, range);
    ctx.length = range.end - range.start + 1;
  } else {
    ctx.status = 200;
    ctx.body = service.open(c.sha256);
    ctx.length = c.size;
  }
}

/** Thumbnails are always `inline` (spec: GET /media/thumbnail, Content-Disposition). */
export function sendThumbnail(ctx: Context, service: MediaService, t: ServedThumbnail): void {
  commonHeaders(ctx, t.sha256);
  ctx.set("Content-Type", t.contentType);
  const ext = t.contentType.split("/")[1];
  ctx.set("Content-Disposition", contentDisposition(t.contentType, `thumbnail.${ext}`, true));
  ctx.status = 200;
  if (ctx.fresh) {
    ctx.status = 304;
    return;
  }
  ctx.status = 200;
  ctx.body = t.data ?? service.open(t.sha256);
  ctx.length = t.size;
}
