/**
 * Reads the body of the server-server media endpoints (Server-Server API,
 * "Content Repository": `multipart/mixed` with "exactly two parts", JSON
 * metadata, then the media bytes or a `Location` header). The body is already
 * in memory (the transport caps its size); this only finds the parts, with
 * bounds on the boundary and the part headers, and never trusts the input.
 */

export class MultipartError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MultipartError";
  }
}

export interface MultipartPart {
  /** Header names in lower case; a repeated header keeps its first value. */
  headers: Record<string, string>;
  body: Buffer;
}

export interface MediaMultipart {
  metadata: Record<string, unknown>;
  /** The second part: its bytes, or a `Location` header to fetch them from. */
  media: MultipartPart;
}

/** RFC 2046 5.1.1: 1 to 70 characters from this set, not ending in a space. */
const BOUNDARY_RE = /^[0-9A-Za-z'()+_,./:=? -]{0,69}[0-9A-Za-z'()+_,./:=?-]$/;
const MAX_HEADER_BYTES = 8 * 1024;
const MAX_METADATA_BYTES = 64 * 1024;

/** The `boundary` parameter of a `multipart/mixed` Content-Type, or undefined. */
export function multipartBoundary(contentType: string | undefined): string | undefined {
  if (!contentType) return undefined;
  const [type, ...params] = contentType.split(";");
  if (type!.trim().toLowerCase() !== "multipart/mixed") return undefined;
  for (const p of params) {
    const eq = p.indexOf("=");
    if (eq < 0) continue;
    if (p.slice(0, eq).trim().toLowerCase() !== "boundary") continue;
    let v = p.slice(eq + 1).trim();
    if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1);
    return BOUNDARY_RE.test(v) ? v : undefined;
  }
  return undefined;
}

function parseHeaders(block: Buffer): Record<string, string> {
  const headers: Record<string, string> = {};
  const text = block.toString("latin1");
  if (text === "") return headers;
  for (const line of text.split("\r\n")) {
    const colon = line.indexOf(":");
    if (colon <= 0) throw new MultipartError("malformed part header");
    const name = line.slice(0, colon).trim().toLowerCase();
    if (!/^[!#$%&'*+.^_`|~0-9a-z-]+$/.test(name)) throw new MultipartError("malformed part header name");
    headers[name] ??= line.slice(colon + 1).trim();
  }
  return headers;
}

/**
 * Splits a multipart body into its parts. The preamble before the first
 * delimiter and the epilogue after the closing one are ignored (RFC 2046);
 * a body without the closing delimiter is refused, so a truncated response is
 * never taken for the whole media.
 */
export function parseMultipart(body: Buffer, boundary: string, maxParts = 8): MultipartPart[] {
  if (!BOUNDARY_RE.test(boundary)) throw new MultipartError("invalid boundary");
  const dash = Buffer.from(`--${boundary}`, "latin1");
  const delimiter = Buffer.from(`\r\n--${boundary}`, "latin1");
  // The first delimiter may open the body or follow a preamble line.
  let pos: number;
  if (body.subarray(0, dash.length).equals(dash)) pos = dash.length;
  else {
    const at = body.indexOf(delimiter);
    if (at < 0) throw new MultipartError("no multipart delimiter");
    pos = at + delimiter.length;
  }
  const parts: MultipartPart[] = [];
  for (;;) {
    // After a delimiter: "--" closes the body; otherwise optional padding, then CRLF.
    if (body[pos] === 0x2d && body[pos + 1] === 0x2d) return parts;
    while (body[pos] === 0x20 || body[pos] === 0x09) pos++;
    if (body[pos] !== 0x0d || body[pos + 1] !== 0x0a) throw new MultipartError("malformed multipart delimiter line");
    pos += 2;
    if (parts.length >= maxParts) throw new MultipartError("too many parts");
    // Headers end at the first empty line; a part may have none ("\r\n" right away).
    let headerEnd: number;
    let bodyStart: number;
    if (body[pos] === 0x0d && body[pos + 1] === 0x0a) {
      headerEnd = pos;
      bodyStart = pos + 2;
    } else {
      const blank = body.indexOf("\r\n\r\n", pos, "latin1");
      if (blank < 0 || blank - pos > MAX_HEADER_BYTES) throw new MultipartError("part headers missing or too long");
      headerEnd = blank;
      bodyStart = blank + 4;
    }
    const headers = parseHeaders(body.subarray(pos, headerEnd));
    const next = body.indexOf(delimiter, bodyStart);
    if (next < 0) throw new MultipartError("multipart body is truncated");
    parts.push({ headers, body: body.subarray(bodyStart, next) });
    pos = next + delimiter.length;
  }
}

/** The two parts of a federation media response, checked as the spec describes them. */
export function parseMediaMultipart(contentType: string | undefined, body: Buffer): MediaMultipart {
  const boundary = multipartBoundary(contentType);
  if (boundary === undefined) throw new MultipartError("response is not multipart/mixed with a valid boundary");
  const parts = parseMultipart(body, boundary);
  if (parts.length !== 2) throw new MultipartError(`expected exactly two parts, got ${parts.length}`);
  const [meta, media] = parts as [MultipartPart, MultipartPart];
  const metaType = (meta.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
  if (metaType !== "application/json") throw new MultipartError("the first part is not application/json");
  if (meta.body.length > MAX_METADATA_BYTES) throw new MultipartError("metadata part too large");
  let metadata: unknown;
  try {
    metadata = JSON.parse(meta.body.toString("utf8"));
  } catch {
    throw new MultipartError("metadata part is not JSON");
  }
  if (typeof metadata !== "object" || metadata === null || Array.isArray(metadata)) throw new MultipartError("metadata part is not a JSON object");
  return { metadata: metadata as Record<string, unknown>, media };
}
