/**
 * Response headers for served media (spec: Content repository, "Serving
 * inline content" and the CSP recommendation at the top of that section).
 */

/** The spec's list of types that may be served with `Content-Disposition: inline`. */
export const INLINE_SAFE_TYPES: ReadonlySet<string> = new Set([
  "text/css",
  "text/plain",
  "text/csv",
  "application/json",
  "application/ld+json",
  "image/jpeg",
  "image/gif",
  "image/png",
  "image/apng",
  "image/webp",
  "image/avif",
  "video/mp4",
  "video/webm",
  "video/ogg",
  "video/quicktime",
  "audio/mp4",
  "audio/webm",
  "audio/aac",
  "audio/mpeg",
  "audio/ogg",
  "audio/wave",
  "audio/wav",
  "audio/x-wav",
  "audio/x-pn-wav",
  "audio/flac",
  "audio/x-flac",
]);

export const MEDIA_CSP =
  "sandbox; default-src 'none'; script-src 'none'; plugin-types application/pdf; style-src 'unsafe-inline'; object-src 'self';";

const TOKEN = "[!#$%&'*+.^_`|~0-9A-Za-z-]+";
const CONTENT_TYPE_RE = new RegExp(`^${TOKEN}/${TOKEN}(\\s*;\\s*${TOKEN}=(${TOKEN}|"[^"\\\\\\r\\n]*"))*$`);

/**
 * The stored form of a client-supplied Content-Type: kept as given when it is a
 * well-formed media type (so downloads return "exactly the same" type), else
 * application/octet-stream, as the spec allows for unknown types.
 */
export function normaliseContentType(header: string | undefined): string {
  const t = (header ?? "").trim();
  if (!t || t.length > 255 || !CONTENT_TYPE_RE.test(t)) return "application/octet-stream";
  return t;
}

export function baseType(contentType: string): string {
  return contentType.split(";")[0]!.trim().toLowerCase();
}

function asciiFallback(name: string): string {
  return name.replace(/[^\x20-\x7e]/g, "_").replace(/["\\]/g, "_");
}

/**
 * `inline` only for the spec's safe types, `attachment` for everything else;
 * the file name as a quoted ASCII fallback plus RFC 5987 `filename*` when it
 * is not plain ASCII.
 */
export function contentDisposition(contentType: string, fileName: string | null | undefined, forceInline = false): string {
  const kind = forceInline || INLINE_SAFE_TYPES.has(baseType(contentType)) ? "inline" : "attachment";
  if (!fileName) return kind;
  const clean = fileName.replace(/[\r\n\0]/g, "");
  const ascii = asciiFallback(clean);
  let header = `${kind}; filename="${ascii}"`;
  if (ascii !== clean) header += `; filename*=utf-8''${encodeURIComponent(clean).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)}`;
  return header;
}

/** Headers every media response carries, whatever its type. */
export function mediaSecurityHeaders(): Record<string, string> {
  return {
    "Content-Security-Policy": MEDIA_CSP,
    "Cross-Origin-Resource-Policy": "cross-origin",
    "X-Content-Type-Options": "nosniff",
  };
}

/** Parses a single `bytes=` range against a size; "unsatisfiable" for 416; undefined to send everything. */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | "unsatisfiable" | undefined {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  // Several ranges (or other units) may be ignored and the whole body sent (RFC 9110 14.2).
  if (!m) return undefined;
  const [, a, b] = m;
  if (!a && !b) return undefined;
  let start: number;
  let end: number;
  if (!a) {
    const suffix = Number(b);
    if (suffix === 0) return "unsatisfiable";
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(a);
    end = b ? Math.min(Number(b), size - 1) : size - 1;
    if (b && Number(b) < start) return undefined;
  }
  if (start >= size || size === 0) return "unsatisfiable";
  return { start, end };
}
