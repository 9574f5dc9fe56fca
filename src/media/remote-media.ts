import { createHash } from "node:crypto";
import { MatrixError } from "../http/errors.js";
import { isTimeout, ResponseTooLargeError } from "../federation/transport.js";
import type { MediaRepo, MediaRow } from "../storage/media-repo.js";
import type { BlobStore } from "./blob-store.js";
import { baseType, normaliseContentType } from "./content-headers.js";
import type { RemoteMediaSource, ServedThumbnail, ThumbnailParams } from "./media-service.js";
import { MultipartError, parseMediaMultipart } from "./multipart-parse.js";
import { BlockedAddressError, FetchLimitError, type FetchedResponse } from "./safe-fetch.js";

/**
 * Other servers' media for our clients (Server-Server API, "Content
 * Repository"): fetched from the server in the mxc:// URI with the
 * authenticated federation endpoints, falling back to the deprecated
 * `/_matrix/media/v3` ones (with `allow_remote=false`) only when the origin
 * answers 404 M_UNRECOGNIZED, as that section requires. A `Location` part is
 * followed through the SSRF-safe fetcher. Bytes are cached in the same blob
 * store under the origin and media id; concurrent requests for the same
 * media share one fetch.
 */

export interface OriginResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

export interface RemoteMediaDeps {
  /** A GET to a homeserver, signed with X-Matrix unless `unsigned`. */
  get(
    origin: string,
    path: string,
    opts: { query: Record<string, string | number | boolean | undefined>; unsigned: boolean; maxBytes: number; timeoutMs: number },
  ): Promise<OriginResponse>;
  /** Fetches a redirect target, checking every address dialled. */
  redirects: { get(url: string, opts: { maxBytes: number; timeoutMs: number }): Promise<FetchedResponse> };
  repo: MediaRepo;
  store: BlobStore;
  clock: () => number;
  /** Largest media accepted from another server (bytes). */
  maxBytes: number;
  timeoutMs: number;
  /** Remote media cached now counts as newly uploaded for the legacy-endpoint freeze. */
  authenticatedOnly: boolean;
}

interface Fetched {
  contentType: string | undefined;
  disposition: string | undefined;
  data: Buffer;
}

/** Multipart framing and the JSON part around the media bytes. */
const FRAMING_BYTES = 64 * 1024;
/** The content types the spec lists for thumbnails; anything else from a remote is not served as one. */
const THUMBNAIL_TYPES = new Set(["image/png", "image/apng", "image/jpeg", "image/gif", "image/webp"]);

const fetchFailed = () => new MatrixError(502, "M_UNKNOWN", "Failed to fetch remote media");
const remoteTooLarge = () => new MatrixError(502, "M_TOO_LARGE", "Remote media is too large");
const timedOut = () => new MatrixError(504, "M_UNKNOWN", "Timed out fetching remote media");

function errcodeOf(body: Buffer): string | undefined {
  try {
    const j: unknown = JSON.parse(body.toString("utf8"));
    const code = typeof j === "object" && j !== null ? (j as { errcode?: unknown }).errcode : undefined;
    return typeof code === "string" ? code : undefined;
  } catch {
    return undefined;
  }
}

/** The file name of a Content-Disposition header (`filename*` in UTF-8 preferred), or null. */
export function fileNameOf(disposition: string | undefined): string | null {
  if (!disposition) return null;
  const star = /(?:^|;)\s*filename\*\s*=\s*(?:utf-8|UTF-8)''([^;]+)/.exec(disposition);
  let name: string | undefined;
  if (star) {
    try {
      name = decodeURIComponent(star[1]!.trim());
    } catch {
      name = undefined;
    }
  }
  if (name === undefined) {
    const m = /(?:^|;)\s*filename\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]+))/.exec(disposition);
    name = m ? (m[1] !== undefined ? m[1].replace(/\\(.)/g, "$1") : m[2]) : undefined;
  }
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are stripped from a stored file name on purpose.
  const clean = name?.replace(/[\0-\x1f\x7f]/g, "").slice(0, 1024);
  return clean || null;
}

/** Remote bodies are held in memory while fetched; this bounds how many at once. */
const MAX_CONCURRENT_FETCHES = 8;

export class RemoteMedia implements RemoteMediaSource {
  private readonly inFlight = new Map<string, Promise<unknown>>();
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly d: RemoteMediaDeps) {}

  /**
   * One fetch per key at a time; later callers wait for the first one's
   * result. The time limit runs from the first request, waiting for a fetch
   * slot included, so a queue behind slow origins ends in 504, not a hang.
   */
  private coalesce<T>(key: string, work: (deadline: number) => Promise<T>): Promise<T> {
    const running = this.inFlight.get(key) as Promise<T> | undefined;
    if (running) return running;
    const deadline = this.d.clock() + this.d.timeoutMs;
    const job = this.limited(deadline, work).finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, job);
    return job;
  }

  private async limited<T>(deadline: number, work: (deadline: number) => Promise<T>): Promise<T> {
    if (this.running >= MAX_CONCURRENT_FETCHES) {
      await new Promise<void>((resolve, reject) => {
        const granted = () => {
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(
          () => {
            const i = this.waiting.indexOf(granted);
            if (i >= 0) this.waiting.splice(i, 1);
            reject(timedOut());
          },
          Math.max(0, deadline - this.d.clock()),
        );
        this.waiting.push(granted);
      });
    } else this.running++;
    try {
      return await work(deadline);
    } finally {
      // The slot passes straight to the next waiter, or is freed.
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }

  fetch(origin: string, mediaId: string, opts: { timeoutMs: number }): Promise<MediaRow | undefined> {
    return this.coalesce(`download ${origin}/${mediaId}`, async (deadline) => {
      const got = await this.request(
        origin,
        `/_matrix/federation/v1/media/download/${encodeURIComponent(mediaId)}`,
        `/_matrix/media/v3/download/${encodeURIComponent(origin)}/${encodeURIComponent(mediaId)}`,
        { timeout_ms: opts.timeoutMs },
        "download",
        deadline,
      );
      if (!got) return undefined;
      const sha256 = createHash("sha256").update(got.data).digest("hex");
      await this.d.store.putBuffer(sha256, got.data);
      const now = this.d.clock();
      await this.d.repo.insertRemote(
        origin,
        mediaId,
        { contentType: normaliseContentType(got.contentType), uploadName: fileNameOf(got.disposition), sizeBytes: got.data.length, sha256, uploadedTs: now },
        this.d.authenticatedOnly,
      );
      return this.d.repo.get(origin, mediaId);
    });
  }

  thumbnail(origin: string, mediaId: string, p: ThumbnailParams, opts: { timeoutMs: number }): Promise<ServedThumbnail | undefined> {
    const key = `thumbnail ${origin}/${mediaId}/${p.width}x${p.height}/${p.method}/${p.animated}`;
    return this.coalesce(key, async (deadline) => {
      const query = { width: p.width, height: p.height, method: p.method, animated: p.animated, timeout_ms: opts.timeoutMs };
      const got = await this.request(
        origin,
        `/_matrix/federation/v1/media/thumbnail/${encodeURIComponent(mediaId)}`,
        `/_matrix/media/v3/thumbnail/${encodeURIComponent(origin)}/${encodeURIComponent(mediaId)}`,
        query,
        "thumbnail",
        deadline,
      );
      if (!got) return undefined;
      const contentType = baseType(normaliseContentType(got.contentType));
      if (!THUMBNAIL_TYPES.has(contentType)) throw fetchFailed();
      const sha256 = createHash("sha256").update(got.data).digest("hex");
      await this.d.store.putBuffer(sha256, got.data);
      // The origin chose the size; the row records the size asked for, which is what later requests look up.
      await this.d.repo.insertThumbnail({
        origin,
        media_id: mediaId,
        target_width: p.width,
        target_height: p.height,
        method: p.method,
        animated: p.animated,
        width: p.width,
        height: p.height,
        content_type: contentType,
        sha256,
        size_bytes: got.data.length,
        created_ts: this.d.clock(),
      });
      return { contentType, size: got.data.length, sha256, data: got.data };
    });
  }

  /** The new endpoint, then the legacy one where the spec allows; undefined when the origin has no such media. */
  private async request(
    origin: string,
    path: string,
    legacyPath: string,
    query: Record<string, string | number | boolean>,
    kind: "download" | "thumbnail",
    deadline: number,
  ): Promise<Fetched | undefined> {
    const res = await this.send(origin, path, query, false, deadline);
    if (res.status === 404 && errcodeOf(res.body) === "M_UNRECOGNIZED") {
      // "When falling back, servers MUST be sure to set allow_remote to false."
      const legacy = await this.send(origin, legacyPath, { ...query, allow_remote: false }, true, deadline);
      if (legacy.status >= 300 && legacy.status < 400 && legacy.headers.location) return this.followRedirect(legacy.headers.location, deadline);
      if (legacy.status !== 200) return this.failure(legacy, kind);
      return this.checked({ contentType: legacy.headers["content-type"], disposition: legacy.headers["content-disposition"], data: legacy.body });
    }
    if (res.status !== 200) return this.failure(res, kind);
    let parsed;
    try {
      parsed = parseMediaMultipart(res.headers["content-type"], res.body);
    } catch (err) {
      if (err instanceof MultipartError) throw fetchFailed();
      throw err;
    }
    const part = parsed.media;
    // "The second part is either: the bytes of the media itself ... or a Location header."
    if (part.headers.location) return this.followRedirect(part.headers.location, deadline);
    return this.checked({ contentType: part.headers["content-type"], disposition: part.headers["content-disposition"], data: part.body });
  }

  private async send(
    origin: string,
    path: string,
    query: Record<string, string | number | boolean>,
    unsigned: boolean,
    deadline: number,
  ): Promise<OriginResponse> {
    const timeoutMs = Math.max(1, deadline - this.d.clock());
    try {
      return await this.d.get(origin, path, { query, unsigned, maxBytes: this.d.maxBytes + FRAMING_BYTES, timeoutMs });
    } catch (err) {
      if (err instanceof ResponseTooLargeError) throw remoteTooLarge();
      if (isTimeout(err)) throw timedOut();
      throw fetchFailed();
    }
  }

  /**
   * A redirect target is any URL the origin names: fetched as plain HTTP(S)
   * through the fetcher that refuses denied addresses on every hop. The URL
   * itself is not cached ("servers SHOULD NOT cache the URL"); the bytes are.
   */
  private async followRedirect(location: string, deadline: number): Promise<Fetched> {
    let url: URL;
    try {
      url = new URL(location);
    } catch {
      throw fetchFailed();
    }
    if (url.protocol !== "https:" && url.protocol !== "http:") throw fetchFailed();
    let res: FetchedResponse;
    try {
      res = await this.d.redirects.get(url.href, { maxBytes: this.d.maxBytes, timeoutMs: Math.max(1, deadline - this.d.clock()) });
    } catch (err) {
      if (err instanceof FetchLimitError && /too large/.test(err.message)) throw remoteTooLarge();
      if (err instanceof BlockedAddressError || (err instanceof Error && err.cause instanceof BlockedAddressError)) {
        throw new MatrixError(502, "M_UNKNOWN", "Remote media redirects to an address this server does not fetch from");
      }
      if (isTimeout(err)) throw timedOut();
      throw fetchFailed();
    }
    if (res.status !== 200) throw fetchFailed();
    return this.checked({ contentType: res.headers["content-type"], disposition: res.headers["content-disposition"], data: res.body });
  }

  private checked(f: Fetched): Fetched {
    // Spec "Security considerations": large remote files are not proxied (502 M_TOO_LARGE).
    if (f.data.length > this.d.maxBytes) throw remoteTooLarge();
    return f;
  }

  /** Maps the origin's error to ours: 404 stays "not found", what the spec names passes on, the rest is 502. */
  private failure(res: OriginResponse, kind: "download" | "thumbnail"): undefined {
    const code = errcodeOf(res.body);
    if (res.status === 404) return undefined;
    if (res.status === 504 && code === "M_NOT_YET_UPLOADED") throw new MatrixError(504, "M_NOT_YET_UPLOADED", "Content has not yet been uploaded");
    if (code === "M_TOO_LARGE" || res.status === 413) throw remoteTooLarge();
    if (kind === "thumbnail" && res.status === 400) throw new MatrixError(400, "M_UNKNOWN", "Cannot generate thumbnails for the requested content");
    throw fetchFailed();
  }
}
