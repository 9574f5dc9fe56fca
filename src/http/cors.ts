import type { Middleware } from "koa";

// Client-server API, "Web Browser Clients": the recommended headers on all
// requests, and OPTIONS answered on every path without running endpoint logic.
export const CORS_HEADERS: Readonly<Record<string, string>> = {
  "Access-Control-Allow-Origin": "*",
  "Access-Control-Allow-Methods": "GET, POST, PUT, DELETE, OPTIONS",
  "Access-Control-Allow-Headers": "X-Requested-With, Content-Type, Authorization",
};

export function cors(): Middleware {
  return async (ctx, next) => {
    ctx.set(CORS_HEADERS);
    if (ctx.method === "OPTIONS") {
      ctx.status = 200;
      ctx.body = {};
      return;
    }
    await next();
  };
}
