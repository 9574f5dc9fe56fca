import { Router } from "@koa/router";
import { z } from "zod";
import { getOwn, isJsonObject, isValidServerName, signJson, type JsonObject, type SigningKey } from "../../core/index.js";
import { readJsonBody } from "../../http/body.js";
import { validateBody, validateQuery } from "../../http/validate.js";
import type { RemoteKeyStore } from "../key-store.js";

export interface KeyRoutesDeps {
  serverName: string;
  signingKey: SigningKey;
  /** Our own self-signed key response, fresh. */
  ownKeys: () => JsonObject;
  keys: Pick<RemoteKeyStore, "responseFor">;
  now: () => number;
}

/** Servers one batch query may name; more are ignored. */
const MAX_SERVERS_PER_QUERY = 100;

const queryParams = z.object({ minimum_valid_until_ts: z.coerce.number().int().nonnegative().optional() });

const batchBody = z.object({
  server_keys: z.record(z.string(), z.record(z.string(), z.looseObject({ minimum_valid_until_ts: z.number().int().nonnegative().optional() }))),
});

// Server-server "Retrieving server keys".
export function keyRoutes(deps: KeyRoutesDeps): Router {
  const router = new Router();

  /** A server's keys, with our signature added ("The notary server must sign the keys returned"). */
  const notarised = async (server: string, minValidUntilTs: number): Promise<JsonObject | undefined> => {
    if (server === deps.serverName) return deps.ownKeys();
    if (!isValidServerName(server)) return undefined;
    const json = await deps.keys.responseFor(server, minValidUntilTs);
    return json ? signJson(json, deps.serverName, deps.signingKey) : undefined;
  };

  // "Publishing Keys": GET /_matrix/key/v2/server.
  router.get("/_matrix/key/v2/server", (ctx) => {
    ctx.body = deps.ownKeys();
  });
  // Before spec v1.6 a key id could follow; older servers still ask that way and get every key.
  router.get("/_matrix/key/v2/server/:keyId", (ctx) => {
    ctx.body = deps.ownKeys();
  });

  // "Querying Keys Through Another Server": GET /_matrix/key/v2/query/{serverName}.
  router.get("/_matrix/key/v2/query/:serverName", async (ctx) => {
    const q = validateQuery(queryParams, ctx.query);
    // "If not supplied, the notary server MUST use the current time."
    const json = await notarised(ctx.params.serverName!, q.minimum_valid_until_ts ?? deps.now());
    ctx.body = { server_keys: json ? [json] : [] };
  });

  // POST /_matrix/key/v2/query: several servers at once.
  router.post("/_matrix/key/v2/query", async (ctx) => {
    const body = validateBody(batchBody, await readJsonBody(ctx, 256 * 1024));
    const servers = Object.entries(body.server_keys).slice(0, MAX_SERVERS_PER_QUERY);
    const out = await Promise.all(
      servers.map(async ([server, criteria]) => {
        let min = 0;
        let given = false;
        for (const c of Object.values(criteria)) {
          const t = isJsonObject(c) ? getOwn(c, "minimum_valid_until_ts") : undefined;
          if (typeof t === "number") {
            min = Math.max(min, t);
            given = true;
          }
        }
        return notarised(server, given ? min : deps.now());
      }),
    );
    ctx.body = { server_keys: out.filter((x): x is JsonObject => x !== undefined) };
  });

  return router;
}
