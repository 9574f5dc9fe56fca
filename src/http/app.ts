import { randomBytes } from "node:crypto";
import Koa, { type Context, type Middleware } from "koa";
import type { Router } from "@koa/router";
import type { Logger } from "../logging.js";
import { cors, CORS_HEADERS } from "./cors.js";
import { MatrixError, unrecognized } from "./errors.js";

export interface HttpAppOptions {
  /** "client" or "federation": tags log lines. */
  name: string;
  log: Logger;
  routers: Router[];
}

export interface AppState {
  requestId: string;
  log: Logger;
}

function newRequestId(): string {
  return randomBytes(6).toString("base64url");
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

export function createHttpApp(opts: HttpAppOptions): Koa<AppState> {
  const app = new Koa<AppState>({ proxy: false });
  // Koa's default handler prints stack traces; ours logs through pino instead.
  app.silent = true;
  app.on("error", (err: unknown) => opts.log.debug({ err }, "koa error"));

  app.use(async (ctx, next) => {
    const started = process.hrtime.bigint();
    const requestId = newRequestId();
    const log = opts.log.child({ listener: opts.name, req: requestId });
    ctx.state.requestId = requestId;
    ctx.state.log = log;
    ctx.set("X-Request-Id", requestId);
    try {
      await next();
    } catch (err) {
      sendError(ctx, err, log);
    }
    // Koa labels JSON bodies "application/json; charset=utf-8"; deployed servers send the
    // bare media type (JSON is UTF-8 by definition, RFC 8259) and clients compare it exactly.
    if (isSerialisedJson(ctx.body) && ctx.response.get("Content-Type") === "application/json; charset=utf-8") ctx.set("Content-Type", "application/json");
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    // The path only: the query string may carry a deprecated access_token.
    log.info({ method: ctx.method, path: ctx.path, status: ctx.status, ms: Math.round(ms * 10) / 10 }, "request");
  });
  app.use(cors());
  for (const router of opts.routers) app.use(router.routes());
  app.use(fallback(opts.routers));
  return app;
}
