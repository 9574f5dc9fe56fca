import { createHash, randomBytes } from "node:crypto";
import { EventEmitter } from "node:events";
import type { Readable } from "node:stream";
import type { MediaConfig } from "../config/media-schema.js";
import { forbidden, MatrixError, notFound, tooLarge } from "../http/errors.js";
import type { MediaRepo, MediaRow, StoredContent, UserMediaStats } from "../storage/media-repo.js";
import type { BlobStore } from "./blob-store.js";
import { IngestAbortedError, IngestLimitError, ingestToFile } from "./ingest.js";
import { ImageTooLargeError, NotAnImageError, type ThumbnailMethod, type Thumbnailer } from "./thumbnailer.js";

/** The spec's alphabet for media ids (Content repository, "Matrix Content (mxc://) URIs"). */
export const MEDIA_ID_RE = /^[A-Za-z0-9_-]+$/;
const ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/** 24 characters from 62: ~143 bits, unguessable. */
export function randomMediaId(): string {
  const bytes = randomBytes(48);
  let id = "";
  for (const b of bytes) {
    if (b < 248) id += ALNUM[b % 62];
    if (id.length === 24) break;
  }
  return id.length === 24 ? id : randomMediaId();
}

/**
 * Where remote media comes from (the server-server API's media download):
 * fetch `mxc://origin/mediaId` into the local cache (media row with that
 * origin, bytes in the blob store) and return the row, or undefined when the
 * origin does not have it.
 */
export interface RemoteMediaSource {
  fetch(origin: string, mediaId: string, opts: { timeoutMs: number }): Promise<MediaRow | undefined>;
  /**
   * A thumbnail of remote media made by the origin, cached under the size
   * asked for (a thumbnail row without a media row), or undefined when the
   * origin does not have the media.
   */
  thumbnail?(origin: string, mediaId: string, p: ThumbnailParams, opts: { timeoutMs: number }): Promise<ServedThumbnail | undefined>;
}

export interface MediaServiceDeps {
  repo: MediaRepo;
  store: BlobStore;
  thumbnailer: Thumbnailer;
  serverName: string;
  config: MediaConfig;
  clock: () => number;
  newMediaId: () => string;
  remote?: RemoteMediaSource;
}

export interface UploadInput {
  body: Readable;
  declaredLength: number | undefined;
  contentType: string;
  fileName: string | null;
}

export interface ServedContent {
  contentType: string;
  uploadName: string | null;
  size: number;
  sha256: string;
}

export interface ServedThumbnail {
  contentType: string;
  size: number;
  /** Bytes when just generated; otherwise read from the blob store by sha256. */
  data?: Buffer;
  sha256: string;
}

export interface ThumbnailParams {
  width: number;
  height: number;
  method: ThumbnailMethod;
  animated: boolean;
}

const notYetUploaded = () => new MatrixError(504, "M_NOT_YET_UPLOADED", "Content has not yet been uploaded");
/** The rest of an over-size body is never read, so the connection cannot be reused. */
const uploadTooLarge = (limit: number) =>
  new MatrixError(413, "M_TOO_LARGE", `Cannot upload files larger than ${limit} bytes`, {}, { Connection: "close" });
const quotaExceeded = () => new MatrixError(403, "M_FORBIDDEN", "Media quota exceeded", {}, { Connection: "close" });

/** Formats whose original may be served as its own thumbnail, with the type sniffed from the bytes. */
const ORIGINAL_AS_THUMBNAIL: Record<string, string | undefined> = { png: "image/png", jpeg: "image/jpeg", gif: "image/gif", webp: "image/webp" };

/** Dynamic thumbnail sizes are rounded up to this grid, bounding how many variants one image can have. */
const DYNAMIC_GRID = 128;
const MAX_DYNAMIC = 4096;
/** Staging files older than this belong to no upload in progress (an upload is bounded by its size and timeouts). */
const STALE_STAGING_MS = 24 * 60 * 60 * 1000;

export class MediaService {
  private readonly uploaded = new EventEmitter();
  private readonly thumbsInFlight = new Map<string, Promise<ServedThumbnail>>();

  constructor(private readonly d: MediaServiceDeps) {
    this.uploaded.setMaxListeners(0);
  }

  get serverName(): string {
    return this.d.serverName;
  }

  uploadConfig(): Record<string, unknown> {
    return { "m.upload.size": this.d.config.max_upload_bytes };
  }

  private mxc(mediaId: string): string {
    return `mxc://${this.d.serverName}/${mediaId}`;
  }

  /** Streams a body into staging and then the blob store, enforcing the size limit and the user's quota. */
  private async ingest(userId: string, input: UploadInput): Promise<StoredContent> {
    const max = this.d.config.max_upload_bytes;
    if (input.declaredLength !== undefined && input.declaredLength > max) throw uploadTooLarge(max);
    let limit = max;
    let quotaBound = false;
    const quota = this.d.config.max_bytes_per_user;
    if (quota > 0) {
      const remaining = quota - (await this.d.repo.usageBytes(userId));
      if (remaining < (input.declaredLength ?? 1)) throw quotaExceeded();
      if (remaining < max) {
        limit = remaining;
        quotaBound = true;
      }
    }
    const staged = await this.d.store.stagingPath();
    try {
      const r = await ingestToFile(input.body, staged, limit);
      await this.d.store.commit(staged, r.sha256);
      return { contentType: input.contentType, uploadName: input.fileName, sizeBytes: r.size, sha256: r.sha256, uploadedTs: this.d.clock() };
    } catch (err) {
      await this.d.store.discard(staged);
      if (err instanceof IngestLimitError) throw quotaBound ? quotaExceeded() : uploadTooLarge(max);
      // The client went away mid-upload; nothing was stored.
      if (err instanceof IngestAbortedError) throw new MatrixError(400, "M_UNKNOWN", "The upload was interrupted");
      throw err;
    }
  }

  /** POST /_matrix/media/v3/upload */
  async upload(userId: string, input: UploadInput): Promise<string> {
    const content = await this.ingest(userId, input);
    const mediaId = this.d.newMediaId();
    await this.d.repo.insertUploaded(this.d.serverName, mediaId, userId, content, this.d.config.freeze_legacy_unauthenticated_media);
    return this.mxc(mediaId);
  }

  /** POST /_matrix/media/v1/create */
  async create(userId: string): Promise<{ content_uri: string; unused_expires_at: number }> {
    const now = this.d.clock();
    if ((await this.d.repo.countPending(userId, now)) >= this.d.config.max_pending_uploads_per_user) {
      throw new MatrixError(429, "M_LIMIT_EXCEEDED", "Too many pending media uploads", { retry_after_ms: 60_000 });
    }
    const mediaId = this.d.newMediaId();
    const expires = now + this.d.config.unused_upload_expiry_ms;
    await this.d.repo.insertPending(this.d.serverName, mediaId, userId, now, expires, this.d.config.freeze_legacy_unauthenticated_media);
    return { content_uri: this.mxc(mediaId), unused_expires_at: expires };
  }

  /** PUT /_matrix/media/v3/upload/{serverName}/{mediaId} */
  async uploadTo(userId: string, serverName: string, mediaId: string, input: UploadInput): Promise<void> {
    if (serverName !== this.d.serverName || !MEDIA_ID_RE.test(mediaId)) throw notFound("Unknown media ID");
    const row = await this.d.repo.get(serverName, mediaId);
    const now = this.d.clock();
    if (!row || (row.sha256 === null && (row.unused_expires_ts ?? 0) <= now)) throw notFound("Unknown or expired media ID");
    if (row.user_id !== userId) throw forbidden("This media ID was created by another user");
    if (row.sha256 !== null) throw new MatrixError(409, "M_CANNOT_OVERWRITE_MEDIA", "Media already uploaded");
    const content = await this.ingest(userId, input);
    if (!(await this.d.repo.completePending(serverName, mediaId, userId, content, this.d.clock()))) {
      // Lost a race with a concurrent PUT (or the id expired meanwhile).
      const again = await this.d.repo.get(serverName, mediaId);
      if (again?.sha256) throw new MatrixError(409, "M_CANNOT_OVERWRITE_MEDIA", "Media already uploaded");
      throw notFound("Unknown or expired media ID");
    }
    this.uploaded.emit(`${serverName}/${mediaId}`);
  }

  /**
   * Looks up servable media, waiting up to `timeoutMs` for a pending async
   * upload (spec: `timeout_ms`, capped by config). `legacy` marks the
   * deprecated unauthenticated endpoints, which do not serve media uploaded
   * while they were frozen.
   */
  async content(serverName: string, mediaId: string, opts: { timeoutMs: number; allowRemote: boolean; legacy: boolean }): Promise<ServedContent> {
    const row = await this.resolve(serverName, mediaId, opts);
    if (opts.legacy && row.authenticated_only && this.d.config.freeze_legacy_unauthenticated_media) {
      throw notFound("This media is only available through the authenticated /_matrix/client/v1/media endpoints");
    }
    const size = await this.d.store.size(row.sha256!);
    if (size === undefined) throw notFound("Media content is missing");
    void this.d.repo.touch(row.origin, row.media_id, this.d.clock()).catch(() => {});
    return { contentType: row.content_type ?? "application/octet-stream", uploadName: row.upload_name, size, sha256: row.sha256! };
  }

  open(sha256: string, range?: { start: number; end: number }): Readable {
    return this.d.store.open(sha256, range);
  }

  /** Whether the legacy endpoints may not fetch remote media: newly cached media is "new" for the freeze. */
  private legacyFrozen(legacy: boolean): boolean {
    return legacy && this.d.config.freeze_legacy_unauthenticated_media;
  }

  private async resolve(serverName: string, mediaId: string, opts: { timeoutMs: number; allowRemote: boolean; legacy: boolean }): Promise<MediaRow> {
    if (!MEDIA_ID_RE.test(mediaId)) throw notFound("Unknown media");
    let row = await this.d.repo.get(serverName, mediaId);
    if (!row && serverName !== this.d.serverName) {
      if (!opts.allowRemote || !this.d.remote || this.legacyFrozen(opts.legacy)) throw notFound("Unknown media");
      row = await this.d.remote.fetch(serverName, mediaId, { timeoutMs: Math.min(opts.timeoutMs, this.d.config.max_download_wait_ms) });
    }
    if (!row) throw notFound("Unknown media");
    if (row.quarantined_by) throw notFound("Unknown media");
    if (row.sha256 === null) row = await this.waitForUpload(row, opts.timeoutMs);
    return row;
  }

  private async waitForUpload(row: MediaRow, timeoutMs: number): Promise<MediaRow> {
    const deadline = this.d.clock() + Math.max(0, Math.min(timeoutMs, this.d.config.max_download_wait_ms));
    const key = `${row.origin}/${row.media_id}`;
    for (;;) {
      if ((row.unused_expires_ts ?? 0) <= this.d.clock()) throw notFound("Unknown media");
      const left = deadline - this.d.clock();
      if (left <= 0) throw notYetUploaded();
      // Woken by an upload in this process; polling covers uploads through other processes.
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.uploaded.off(key, done);
          resolve();
        };
        const timer = setTimeout(done, Math.min(left, 1000));
        this.uploaded.once(key, done);
      });
      const fresh = await this.d.repo.get(row.origin, row.media_id);
      if (!fresh || fresh.quarantined_by) throw notFound("Unknown media");
      if (fresh.sha256 !== null) return fresh;
      row = fresh;
    }
  }

  /** Picks the cached size to make: the smallest configured one covering the request, else the request rounded up. */
  thumbnailTarget(p: { width: number; height: number; method: ThumbnailMethod }): { width: number; height: number } {
    const fits = this.d.config.thumbnail_sizes
      .filter((s) => s.method === p.method && s.width >= p.width && s.height >= p.height)
      .sort((a, b) => a.width * a.height - b.width * b.height);
    if (fits[0]) return { width: fits[0].width, height: fits[0].height };
    const round = (n: number) => Math.min(MAX_DYNAMIC, Math.ceil(n / DYNAMIC_GRID) * DYNAMIC_GRID);
    return { width: round(p.width), height: round(p.height) };
  }

  async thumbnail(
    serverName: string,
    mediaId: string,
    p: ThumbnailParams,
    opts: { timeoutMs: number; allowRemote: boolean; legacy: boolean },
  ): Promise<ServedThumbnail> {
    if (serverName !== this.d.serverName && MEDIA_ID_RE.test(mediaId) && !(await this.d.repo.get(serverName, mediaId))) {
      return this.remoteThumbnail(serverName, mediaId, p, opts);
    }
    const content = await this.content(serverName, mediaId, opts);
    const target = this.thumbnailTarget(p);
    const key = `${serverName}/${mediaId}/${target.width}x${target.height}/${p.method}/${p.animated}`;
    const cached = await this.d.repo.getThumbnail(serverName, mediaId, target.width, target.height, p.method, p.animated);
    if (cached && (await this.d.store.size(cached.sha256)) !== undefined) {
      return { contentType: cached.content_type, size: cached.size_bytes, sha256: cached.sha256 };
    }
    let job = this.thumbsInFlight.get(key);
    if (!job) {
      job = this.makeThumbnail(serverName, mediaId, content.sha256, { ...target, method: p.method, animated: p.animated });
      this.thumbsInFlight.set(key, job);
      void job.finally(() => this.thumbsInFlight.delete(key)).catch(() => {});
    }
    return job;
  }

  /**
   * Remote media not cached in full: the origin's thumbnail (its federation
   * thumbnail endpoint), cached here, rather than the whole original.
   */
  private async remoteThumbnail(
    origin: string,
    mediaId: string,
    p: ThumbnailParams,
    opts: { timeoutMs: number; allowRemote: boolean; legacy: boolean },
  ): Promise<ServedThumbnail> {
    if (this.legacyFrozen(opts.legacy)) throw notFound("Unknown media");
    const target = { ...this.thumbnailTarget(p), method: p.method, animated: p.animated };
    const cached = await this.d.repo.getThumbnail(origin, mediaId, target.width, target.height, target.method, target.animated);
    if (cached && (await this.d.store.size(cached.sha256)) !== undefined) {
      return { contentType: cached.content_type, size: cached.size_bytes, sha256: cached.sha256 };
    }
    if (!opts.allowRemote || !this.d.remote?.thumbnail) throw notFound("Unknown media");
    const t = await this.d.remote.thumbnail(origin, mediaId, target, { timeoutMs: Math.min(opts.timeoutMs, this.d.config.max_download_wait_ms) });
    if (!t) throw notFound("Unknown media");
    return t;
  }

  private async makeThumbnail(origin: string, mediaId: string, sourceSha: string, p: ThumbnailParams): Promise<ServedThumbnail> {
    let thumb;
    try {
      const file = await this.d.store.localPath(sourceSha);
      // Spec (Thumbnails): content smaller than the requested size is returned as it is.
      const info = await this.d.thumbnailer.probe(file);
      const asIs = ORIGINAL_AS_THUMBNAIL[info.format];
      if (asIs && info.width <= p.width && info.height <= p.height && (info.pages === 1 || p.animated)) {
        return await this.recordThumbnail(origin, mediaId, p, { width: info.width, height: info.height, contentType: asIs, sha256: sourceSha, size: (await this.d.store.size(sourceSha)) ?? 0 });
      }
      thumb = await this.d.thumbnailer.make(file, p);
    } catch (err) {
      if (err instanceof ImageTooLargeError) {
        throw origin === this.d.serverName ? tooLarge("Content is too large to thumbnail") : new MatrixError(502, "M_TOO_LARGE", "Content is too large to thumbnail");
      }
      if (err instanceof NotAnImageError) throw new MatrixError(400, "M_UNKNOWN", "Cannot generate thumbnails for the requested content");
      throw err;
    }
    const sha256 = createHash("sha256").update(thumb.data).digest("hex");
    await this.d.store.putBuffer(sha256, thumb.data);
    const made = await this.recordThumbnail(origin, mediaId, p, { width: thumb.width, height: thumb.height, contentType: thumb.contentType, sha256, size: thumb.data.length });
    return { ...made, data: thumb.data };
  }

  private async recordThumbnail(
    origin: string,
    mediaId: string,
    p: ThumbnailParams,
    t: { width: number; height: number; contentType: string; sha256: string; size: number },
  ): Promise<ServedThumbnail> {
    await this.d.repo.insertThumbnail({
      origin,
      media_id: mediaId,
      target_width: p.width,
      target_height: p.height,
      method: p.method,
      animated: p.animated,
      width: t.width,
      height: t.height,
      content_type: t.contentType,
      sha256: t.sha256,
      size_bytes: t.size,
      created_ts: this.d.clock(),
    });
    return { contentType: t.contentType, size: t.size, sha256: t.sha256 };
  }

  /** Stores bytes the server itself fetched (URL preview images) as local media. */
  async storeFetched(data: Buffer, contentType: string, fileName: string | null): Promise<string> {
    const sha256 = createHash("sha256").update(data).digest("hex");
    await this.d.store.putBuffer(sha256, data);
    const mediaId = this.d.newMediaId();
    await this.d.repo.insertUploaded(
      this.d.serverName,
      mediaId,
      null,
      { contentType, uploadName: fileName, sizeBytes: data.length, sha256, uploadedTs: this.d.clock() },
      true,
    );
    return this.mxc(mediaId);
  }

  // ---- administration -------------------------------------------------------

  async info(serverName: string, mediaId: string): Promise<MediaRow | undefined> {
    return MEDIA_ID_RE.test(mediaId) ? this.d.repo.get(serverName, mediaId) : undefined;
  }

  async quarantine(serverName: string, mediaId: string, by: string | null): Promise<boolean> {
    return this.d.repo.setQuarantine(serverName, mediaId, by);
  }

  private async deleteKeys(keys: Array<{ origin: string; mediaId: string }>): Promise<string[]> {
    const { deleted, orphanBlobs } = await this.d.repo.deleteMany(keys);
    for (const sha of orphanBlobs) await this.d.store.remove(sha);
    return deleted;
  }

  async delete(serverName: string, mediaId: string): Promise<string[]> {
    return this.deleteKeys([{ origin: serverName, mediaId }]);
  }

  /** Deletes local media uploaded before `beforeTs` (and larger than `sizeGt` bytes). */
  async deleteLocalBefore(beforeTs: number, sizeGt: number): Promise<string[]> {
    const all: string[] = [];
    for (;;) {
      const ids = await this.d.repo.listLocalBefore(this.d.serverName, beforeTs, sizeGt, 500);
      if (ids.length === 0) return all;
      all.push(...(await this.deleteKeys(ids.map((mediaId) => ({ origin: this.d.serverName, mediaId })))));
    }
  }

  /** Drops cached remote media not used since `beforeTs` (it is fetched again on demand). */
  async purgeRemoteCache(beforeTs: number): Promise<number> {
    let total = 0;
    for (;;) {
      const keys = await this.d.repo.listRemoteUnusedSince(this.d.serverName, beforeTs, 500);
      if (keys.length === 0) return total;
      total += (await this.deleteKeys(keys)).length;
    }
  }

  userStats(from: number, limit: number): Promise<{ users: UserMediaStats[]; total: number }> {
    return this.d.repo.userStats(from, limit);
  }

  listUserMedia(userId: string, from: number, limit: number): Promise<{ rows: MediaRow[]; total: number }> {
    return this.d.repo.listByUser(userId, from, limit);
  }

  usageBytes(userId: string): Promise<number> {
    return this.d.repo.usageBytes(userId);
  }

  /** Periodic housekeeping: expired async upload ids, URL previews, staging files left by a crash. */
  async sweep(): Promise<{ pending: number; previews: number; staged: number }> {
    const now = this.d.clock();
    return {
      pending: await this.d.repo.deleteExpiredPending(now),
      previews: await this.d.repo.deleteExpiredPreviews(now),
      staged: await this.d.store.sweepStaging(STALE_STAGING_MS),
    };
  }
}
