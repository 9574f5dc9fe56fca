import { Router } from "@koa/router";
import { isValidRoomAlias, serverNameOf } from "../../core/index.js";
import { MatrixError, notFound } from "../../http/errors.js";
import type { FederationAuthenticator } from "../request-auth.js";

export interface DirectoryQueryDeps {
  auth: FederationAuthenticator;
  serverName: string;
  bodyLimit: number;
  /** A local alias's room and the servers with joined members in it (this one first). */
  lookup(alias: string): Promise<{ roomId: string; servers: string[] } | undefined>;
}

// Server-server "Querying for information": GET /query/directory, a room alias of this server.
export function queryDirectoryRoutes(deps: DirectoryQueryDeps): Router {
  const router = new Router();
  router.get("/_matrix/federation/v1/query/directory", async (ctx) => {
    await deps.auth.authenticate(ctx, { bodyLimit: deps.bodyLimit });
    const alias = ctx.query.room_alias;
    if (typeof alias !== "string" || !isValidRoomAlias(alias)) throw new MatrixError(400, "M_INVALID_PARAM", "room_alias must be a room alias");
    if (serverNameOf(alias) !== deps.serverName) throw notFound("The alias is not on this server");
    const found = await deps.lookup(alias);
    if (!found) throw notFound("Room alias not found");
    ctx.body = { room_id: found.roomId, servers: found.servers };
  });
  return router;
}
