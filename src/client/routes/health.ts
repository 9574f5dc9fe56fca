import { Router } from "@koa/router";

/** Liveness probe for load balancers and process supervisors. */
export function healthRoutes(): Router {
  const router = new Router();
  router.get("/health", (ctx) => {
    ctx.type = "text/plain";
    ctx.body = "OK";
  });
  return router;
}
