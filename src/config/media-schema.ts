import { z } from "zod";
import { DEFAULT_DENIED_RANGES, isValidRange } from "../media/ip-ranges.js";

// The `media:` section, documented key by key in config.example.yaml.

const ipRange = z.string().refine(isValidRange, "must be an IP address or CIDR range such as 10.0.0.0/8 or fc00::/7");

const thumbnailSize = z
  .object({
    width: z.number().int().min(1).max(4096),
    height: z.number().int().min(1).max(4096),
    method: z.enum(["crop", "scale"]),
  })
  .strict();

/** The spec's recommended sizes (Content repository, "Thumbnails"). */
export const DEFAULT_THUMBNAIL_SIZES = [
  { width: 32, height: 32, method: "crop" as const },
  { width: 96, height: 96, method: "crop" as const },
  { width: 320, height: 240, method: "scale" as const },
  { width: 640, height: 480, method: "scale" as const },
  { width: 800, height: 600, method: "scale" as const },
];

const urlPreviewSchema = z
  .object({
    enabled: z.boolean().default(false),
    allow_ip_ranges: z.array(ipRange).default([]),
    deny_ip_ranges: z.array(ipRange).default([...DEFAULT_DENIED_RANGES]),
    max_page_bytes: z.number().int().min(1024).default(10 * 1024 * 1024),
    max_image_bytes: z.number().int().min(1024).default(10 * 1024 * 1024),
    timeout_ms: z.number().int().min(100).max(120_000).default(10_000),
    max_redirects: z.number().int().min(0).max(20).default(5),
    cache_ms: z.number().int().min(0).default(60 * 60 * 1000),
  })
  .strict();

// Media of other servers, fetched over federation (Server-Server API, "Content Repository").
const remoteMediaSchema = z
  .object({
    // Whole fetch, redirect included.
    timeout_ms: z.number().int().min(1000).max(600_000).default(60_000),
    // Where a "Location" part may send the fetch: checked on every address dialled, redirects included.
    redirect_allow_ip_ranges: z.array(ipRange).default([]),
    redirect_deny_ip_ranges: z.array(ipRange).default([...DEFAULT_DENIED_RANGES]),
  })
  .strict();

export const mediaSchema = z
  .object({
    storage_path: z.string().min(1).optional(),
    max_upload_bytes: z.number().int().min(1).default(50 * 1024 * 1024),
    max_bytes_per_user: z.number().int().min(0).default(0),
    max_pending_uploads_per_user: z.number().int().min(1).default(10),
    unused_upload_expiry_ms: z.number().int().min(1000).default(24 * 60 * 60 * 1000),
    max_download_wait_ms: z.number().int().min(0).default(60_000),
    freeze_legacy_unauthenticated_media: z.boolean().default(true),
    max_image_pixels: z.number().int().min(1).default(32_000_000),
    thumbnail_sizes: z.array(thumbnailSize).min(1).default(DEFAULT_THUMBNAIL_SIZES),
    // Uploads and POST /create per user (spec: "the server should limit the rate"),
    // applied when rate_limits.enabled is on.
    upload_rate_limit: z
      .object({ per_second: z.number().positive().default(1), burst: z.number().int().min(1).default(30) })
      .strict()
      .prefault({}),
    url_preview: urlPreviewSchema.prefault({}),
    remote: remoteMediaSchema.prefault({}),
  })
  .strict();

export type MediaConfig = z.infer<typeof mediaSchema>;
