import { MatrixError } from "../http/errors.js";

/**
 * A /sync token: one position per stream (docs/ARCHITECTURE.md "Streams and tokens"). Room
 * events (including invites and other membership changes) share the global
 * event stream; every other stream has its own counter.
 */
export const STREAMS = ["events", "typing", "receipts", "presence", "account_data", "to_device", "device_lists"] as const;
export type StreamName = (typeof STREAMS)[number];
export type StreamToken = Readonly<Record<StreamName, number>>;

// "s1" names the token format's version, so tokens of a later format (or of an
// older server) are recognised as such rather than misread.
const PREFIX = "s1_";

export const ZERO_TOKEN: StreamToken = Object.freeze(Object.fromEntries(STREAMS.map((s) => [s, 0])) as Record<StreamName, number>);

export function formatStreamToken(token: StreamToken): string {
  return PREFIX + STREAMS.map((s) => token[s].toString(10)).join("_");
}

export function invalidToken(param: string, value: string): MatrixError {
  return new MatrixError(400, "M_INVALID_PARAM", `'${param}' is not a token this server issued: ${JSON.stringify(value.slice(0, 64))}`);
}

/** Parses a token from a client; anything else (old formats, garbage) is a 400, never a 500. */
export function parseStreamToken(value: string, param = "since"): StreamToken {
  if (!value.startsWith(PREFIX)) throw invalidToken(param, value);
  const parts = value.slice(PREFIX.length).split("_");
  if (parts.length !== STREAMS.length) throw invalidToken(param, value);
  const token: Record<string, number> = {};
  for (let i = 0; i < STREAMS.length; i++) {
    const part = parts[i]!;
    if (!/^\d{1,15}$/.test(part)) throw invalidToken(param, value);
    token[STREAMS[i]!] = Number(part);
  }
  return token as StreamToken;
}

/** True when any stream of `a` is ahead of `b`. */
export function isAheadOf(a: StreamToken, b: StreamToken): boolean {
  return STREAMS.some((s) => a[s] > b[s]);
}

/** Stream-wise maximum. */
export function maxToken(a: StreamToken, b: StreamToken): StreamToken {
  return Object.fromEntries(STREAMS.map((s) => [s, Math.max(a[s], b[s])])) as StreamToken;
}

export function withPosition(token: StreamToken, stream: StreamName, position: number): StreamToken {
  return { ...token, [stream]: position };
}
