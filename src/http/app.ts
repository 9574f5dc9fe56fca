import { randomBytes } from "node:crypto";
import Koa, { type Context, type Middleware } from "koa";
import type { Router } from "@koa/router";
import { accessLog, type Logger } from "../logging.js";
import { cors, CORS_HEADERS } from "./cors.js";
import { MatrixError, unrecognized } from "./errors.js";

export interface HttpAppOptions {
  /** "client" or "federation": tags log lines. */
  name: string;
  log: Logger;
  routers: Router[];
  /** Runs around every request, inside error handling (metrics, audit log). */
  middleware?: Middleware[];
  /**
   * Reverse proxies (exact addresses) whose `X-Forwarded-For` is believed: the
   * client address is the last one in that header not itself a trusted proxy.
   */
  trustedProxies?: readonly string[];
}

export interface AppState {
  requestId: string;
  log: Logger;
}

// Request ids are cut from one block of randomness: a call into the CSPRNG per
// request showed in the profiles of many small requests (woken /sync long-polls).
const ID_BYTES = 6;
const ID_BLOCK = 1024;
let idPool = Buffer.alloc(0);
let idAt = 0;

function newRequestId(): string {
  if (idAt + ID_BYTES > idPool.length) {
    idPool = randomBytes(ID_BYTES * ID_BLOCK);
    idAt = 0;
  }
  idAt += ID_BYTES;
  return idPool.toString("base64url", idAt - ID_BYTES, idAt);
}

/** Writes the standard error response; never leaks an internal error's text. */
function sendError(ctx: Context, err: unknown, log: Logger): void {
  let status: number;
  let body: Record<string, unknown>;
  let headers: Record<string, string> = {};
  if (err instanceof MatrixError) {
    status = err.status;
    body = err.toJSON();
    headers = err.headers;
  } else {
    status = 500;
    body = { errcode: "M_UNKNOWN", error: "Internal server error" };
    log.error({ err }, "request failed");
  }
  ctx.status = status;
  ctx.set({ ...CORS_HEADERS, ...headers });
  ctx.type = "application/json";
  ctx.body = body;
}

/** A body Koa serialises as JSON itself (not a buffer, stream or string passed through). */
function isSerialisedJson(body: unknown): boolean {
  return typeof body === "object" && body !== null && !Buffer.isBuffer(body) && !(body instanceof Uint8Array) && typeof (body as { pipe?: unknown }).pipe !== "function";
}

/** Distinguishes "no such endpoint" (404) from "endpoint exists, wrong method" (405). */
function fallback(routers: Router[]): Middleware {
  return async (ctx) => {
    const allowed = new Set<string>();
    for (const router of routers) {
      const match = router.match(ctx.path, ctx.method);
      for (const layer of match.path) for (const m of layer.methods) allowed.add(m);
    }
    if (allowed.size > 0) {
      ctx.set("Allow", [...allowed].join(", "));
      throw unrecognized(405, `Method ${ctx.method} is not allowed on ${ctx.path}`);
    }
    throw unrecognized(404, `Unrecognized request: ${ctx.method} ${ctx.path}`);
  };
}

// Method and path pairs whose routers are remembered; paths longer than this are
// looked up every time (ids make most paths distinct, the hot ones repeat).
const ROUTE_CACHE = 4096;
const CACHED_PATH_LENGTH = 256;

/**
 * Runs, in order, the routers that have a route for the request's method and
 * path. Equivalent to mounting every router (a router without a matching
 * route only passes the request on), without each of the dozens of routers
 * matching every request against its own routes again.
 */
function routing(routers: Router[]): Middleware {
  const dispatchers = routers.map((r) => r.routes() as Middleware);
  const picked = new Map<string, Middleware[]>();
  const pick = (method: string, path: string): Middleware[] => {
    const cacheable = path.length <= CACHED_PATH_LENGTH;
    const key = `${method} ${path}`;
    const hit = cacheable ? picked.get(key) : undefined;
    if (hit) return hit;
    const found = routers.flatMap((r, i) => (r.match(path, method).route ? [dispatchers[i]!] : []));
    if (cacheable) {
      // Wholesale forgetting is enough: the paths that matter come straight back.
      if (picked.size >= ROUTE_CACHE) picked.clear();
      picked.set(key, found);
    }
    return found;
  };
  return (ctx, next) => {
    const chain = pick(ctx.method, ctx.path);
    const run = (i: number): Promise<void> => (i < chain.length ? Promise.resolve(chain[i]!(ctx, () => run(i + 1))) : next());
    return run(0);
  };
}

function normaliseIp(ip: string): string {
  return ip.startsWith("::ffff:") && ip.includes(".") ? ip.slice(7) : ip;
}

/** Takes the client address from X-Forwarded-For when the peer is a trusted proxy (for rate limits and device last-seen). */
function forwardedFor(trusted: ReadonlySet<string>): Middleware {
  return async (ctx, next) => {
    const peer = normaliseIp(ctx.req.socket.remoteAddress ?? "");
    const header = ctx.get("X-Forwarded-For");
    if (trusted.has(peer) && header) {
      const hops = header.split(",").map((h) => normaliseIp(h.trim())).filter((h) => h.length > 0 && h.length <= 64);
      let client = peer;
      for (let i = hops.length - 1; i >= 0; i--) {
        client = hops[i]!;
        if (!trusted.has(client)) break;
      }
      ctx.request.ip = client;
    }
    await next();
  };
}

export function createHttpApp(opts: HttpAppOptions): Koa<AppState> {
  const app = new Koa<AppState>({ proxy: false });
  // Koa's default handler prints stack traces; ours logs through pino instead.
  app.silent = true;
  app.on("error", (err: unknown) => opts.log.debug({ err }, "koa error"));
  // The access line holds no request object, header or query string: nothing to redact.
  const access = accessLog(opts.log);

  app.use(async (ctx, next) => {
    const started = process.hrtime.bigint();
    const requestId = newRequestId();
    ctx.state.requestId = requestId;
    // The request's child logger is made only when something logs through it:
    // most requests write nothing but the access line below.
    let log: Logger | undefined;
    const requestLog = (): Logger => (log ??= opts.log.child({ listener: opts.name, req: requestId }));
    Object.defineProperty(ctx.state, "log", { get: requestLog, enumerable: true, configurable: true });
    ctx.set("X-Request-Id", requestId);
    try {
      await next();
    } catch (err) {
      sendError(ctx, err, requestLog());
    }
    // Koa labels JSON bodies "application/json; charset=utf-8"; deployed servers send the
    // bare media type (JSON is UTF-8 by definition, RFC 8259) and clients compare it exactly.
    if (isSerialisedJson(ctx.body) && ctx.response.get("Content-Type") === "application/json; charset=utf-8") ctx.set("Content-Type", "application/json");
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    // The path only: the query string may carry a deprecated access_token.
    access.info({ listener: opts.name, req: requestId, method: ctx.method, path: ctx.path, status: ctx.status, ms: Math.round(ms * 10) / 10 }, "request");
  });
  const trusted = new Set((opts.trustedProxies ?? []).map(normaliseIp));
  if (trusted.size > 0) app.use(forwardedFor(trusted));
  app.use(cors());
  for (const mw of opts.middleware ?? []) app.use(mw);
  app.use(routing(opts.routers));
  app.use(fallback(opts.routers));
  return app;
}
