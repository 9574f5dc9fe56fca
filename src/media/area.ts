import path from "node:path";
import type { Router } from "@koa/router";
import { mediaAdminRoutes } from "../admin/media-admin.js";
import { mediaRoutes } from "../client/routes/media.js";
import type { Config } from "../config/schema.js";
import type { Authenticator } from "../http/auth.js";
import { Ratelimiter } from "../http/rate-limit.js";
import type { Logger } from "../logging.js";
import { MediaRepo } from "../storage/media-repo.js";
import type { Sql } from "../storage/sql.js";
import { LocalBlobStore, type BlobStore } from "./blob-store.js";
import { loadSharp } from "./sharp-loader.js";
import { IpPolicy } from "./ip-ranges.js";
import { MediaService, randomMediaId } from "./media-service.js";
import { RemoteMedia, type RemoteMediaDeps } from "./remote-media.js";
import { SafeFetcher, type Resolver } from "./safe-fetch.js";
import { Thumbnailer } from "./thumbnailer.js";
import { UrlPreviewer } from "./url-preview.js";

export interface MediaAreaOptions {
  config: Config;
  sql: Sql;
  log: Logger;
  auth: Authenticator;
  isServerAdmin(userId: string): Promise<boolean>;
  clock?: () => number;
  /** Another backend (S3-compatible, later) instead of files under storage_path. */
  store?: BlobStore;
  /**
   * Requests to other homeservers (the federation client): with it, media of
   * other servers is fetched from them and cached; without it remote mxc://
   * URIs are 404.
   */
  origins?: RemoteMediaDeps["get"];
  /** Certificate checks for redirect targets of remote media (federation.verify_tls / ca_file). */
  redirectTls?: { rejectUnauthorized: boolean; ca?: string[] };
  resolver?: Resolver;
  /** Scale-out: whether this process runs the cluster's background jobs (default: it does). */
  jobs?: { leads(): boolean };
}

const SWEEP_INTERVAL_MS = 10 * 60 * 1000;

/** Builds the media repository: storage, services, routers and the housekeeping timer. */
export function createMediaArea(opts: MediaAreaOptions) {
  const { config, log } = opts;
  const mc = config.media;
  const clock = opts.clock ?? Date.now;
  const repo = new MediaRepo(opts.sql);
  const store = opts.store ?? new LocalBlobStore(mc.storage_path ?? path.join(config.data_dir, "media"));
  const thumbnailer = new Thumbnailer({ maxPixels: mc.max_image_pixels });
  let redirectFetcher: SafeFetcher | undefined;
  let remote: RemoteMedia | undefined;
  if (opts.origins) {
    redirectFetcher = new SafeFetcher({
      policy: new IpPolicy({ allow: mc.remote.redirect_allow_ip_ranges, deny: mc.remote.redirect_deny_ip_ranges }),
      resolver: opts.resolver,
      timeoutMs: mc.remote.timeout_ms,
      maxBytes: mc.max_upload_bytes,
      maxRedirects: 5,
      userAgent: "matrix-homeserver-ts remote media",
      tls: opts.redirectTls,
    });
    remote = new RemoteMedia({
      get: opts.origins,
      redirects: redirectFetcher,
      repo,
      store,
      clock,
      maxBytes: mc.max_upload_bytes,
      timeoutMs: mc.remote.timeout_ms,
      authenticatedOnly: mc.freeze_legacy_unauthenticated_media,
    });
  }
  const service = new MediaService({
    repo,
    store,
    thumbnailer,
    serverName: config.server_name,
    config: mc,
    clock,
    newMediaId: randomMediaId,
    remote,
  });

  let fetcher: SafeFetcher | undefined;
  let previewer: UrlPreviewer | undefined;
  const up = mc.url_preview;
  if (up.enabled) {
    fetcher = new SafeFetcher({
      policy: new IpPolicy({ allow: up.allow_ip_ranges, deny: up.deny_ip_ranges }),
      resolver: opts.resolver,
      timeoutMs: up.timeout_ms,
      maxBytes: up.max_page_bytes,
      maxRedirects: up.max_redirects,
    });
    previewer = new UrlPreviewer({
      fetcher,
      repo,
      sink: service,
      probe: async (data) => {
        try {
          const sharp = await loadSharp();
          const m = await sharp(data, { limitInputPixels: mc.max_image_pixels }).metadata();
          const raster = m.format === "jpeg" || m.format === "png" || m.format === "gif" || m.format === "webp";
          return raster && m.width && m.height ? { width: m.width, height: m.height } : undefined;
        } catch {
          return undefined;
        }
      },
      clock,
      cacheMs: up.cache_ms,
      maxPageBytes: up.max_page_bytes,
      maxImageBytes: up.max_image_bytes,
      log,
    });
  }

  const timer = setInterval(() => {
    if (opts.jobs && !opts.jobs.leads()) return;
    service.sweep().catch((err: unknown) => log.error({ err }, "media housekeeping failed"));
  }, SWEEP_INTERVAL_MS);
  timer.unref();

  const uploadLimiter = new Ratelimiter({
    enabled: config.rate_limits.enabled,
    rule: { perSecond: mc.upload_rate_limit.per_second, burst: mc.upload_rate_limit.burst },
  });
  const clientRouters: Router[] = [
    mediaRoutes({ media: service, auth: opts.auth, previewer, uploadLimiter }),
    mediaAdminRoutes({ media: service, auth: opts.auth, isServerAdmin: opts.isServerAdmin }),
  ];

  return {
    service,
    clientRouters,
    async close() {
      clearInterval(timer);
      await fetcher?.close();
      await redirectFetcher?.close();
    },
  };
}

export type MediaArea = ReturnType<typeof createMediaArea>;
