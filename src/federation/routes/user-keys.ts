import { Router } from "@koa/router";
import { z } from "zod";
import type { ClaimResult, QueryResult } from "../../e2ee/device-keys.js";
import { badJson } from "../../http/errors.js";
import { validateBody } from "../../http/validate.js";
import type { FederationAuthenticator } from "../request-auth.js";

export interface UserKeysRoutesDeps {
  auth: FederationAuthenticator;
  /** Keys of local users, as another server sees them (no user-signing keys). */
  queryLocal(wanted: Record<string, string[]>): Promise<QueryResult>;
  claimLocal(wanted: Record<string, Record<string, string>>): Promise<ClaimResult>;
  bodyLimit: number;
}

/** Users one request may name: more is not a request a real server makes. */
const MAX_USERS = 1000;

const queryBody = z.looseObject({ device_keys: z.record(z.string(), z.array(z.string())) });
const claimBody = z.looseObject({ one_time_keys: z.record(z.string(), z.record(z.string(), z.string())) });

/**
 * Server-server "End-to-End Encryption": `POST /user/keys/query` and
 * `POST /user/keys/claim`, answered for this server's users only (others
 * are left out of the answer).
 */
export function userKeysRoutes(deps: UserKeysRoutesDeps): Router {
  const router = new Router();
  router.post("/_matrix/federation/v1/user/keys/query", async (ctx) => {
    const { body } = await deps.auth.authenticate(ctx, { bodyLimit: deps.bodyLimit });
    const q = validateBody(queryBody, body);
    if (Object.keys(q.device_keys).length > MAX_USERS) throw badJson(`At most ${MAX_USERS} users per request`);
    const r = await deps.queryLocal(q.device_keys);
    ctx.body = { device_keys: r.device_keys, master_keys: r.master_keys, self_signing_keys: r.self_signing_keys };
  });
  router.post("/_matrix/federation/v1/user/keys/claim", async (ctx) => {
    const { body } = await deps.auth.authenticate(ctx, { bodyLimit: deps.bodyLimit });
    const q = validateBody(claimBody, body);
    if (Object.keys(q.one_time_keys).length > MAX_USERS) throw badJson(`At most ${MAX_USERS} users per request`);
    const r = await deps.claimLocal(q.one_time_keys);
    ctx.body = { one_time_keys: r.one_time_keys };
  });
  return router;
}
