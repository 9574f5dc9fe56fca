import { Router } from "@koa/router";
import { SERVER_SOFTWARE_NAME, VERSION } from "../../version.js";

// Server-server API, "GET /_matrix/federation/v1/version".
export function federationVersionRoutes(): Router {
  const router = new Router();
  router.get("/_matrix/federation/v1/version", (ctx) => {
    ctx.body = { server: { name: SERVER_SOFTWARE_NAME, version: VERSION } };
  });
  return router;
}
