import { Router } from "@koa/router";
import { z } from "zod";
import { validateBody, validateQuery } from "../../http/validate.js";
import type { FederationQueries } from "../queries.js";
import type { FederationAuthenticator } from "../request-auth.js";

export interface PublicRoomsRoutesDeps {
  auth: FederationAuthenticator;
  queries: FederationQueries;
  bodyLimit: number;
}

const flag = z.enum(["true", "false"]).transform((v) => v === "true");

const getQuery = z.looseObject({
  limit: z
    .string()
    .regex(/^\d{1,9}$/)
    .transform(Number)
    .optional(),
  since: z.string().optional(),
  include_all_networks: flag.optional(),
  third_party_instance_id: z.string().optional(),
});

// As the client endpoint, `null` stands for "not given".
const postBody = z.looseObject({
  limit: z.number().int().min(0).nullish(),
  since: z.string().nullish(),
  filter: z
    .looseObject({
      generic_search_term: z.string().nullish(),
      room_types: z.array(z.string().nullable()).max(100).nullish(),
    })
    .nullish(),
  include_all_networks: z.boolean().nullish(),
  third_party_instance_id: z.string().nullish(),
});

// Server-server "Published Room Directory": GET and POST /publicRooms.
export function publicRoomsRoutes(deps: PublicRoomsRoutesDeps): Router {
  const router = new Router();
  router.get("/_matrix/federation/v1/publicRooms", async (ctx) => {
    await deps.auth.authenticate(ctx, { bodyLimit: deps.bodyLimit });
    const q = validateQuery(getQuery, ctx.query);
    ctx.body = await deps.queries.publicRooms({
      limit: q.limit,
      since: q.since,
      includeAllNetworks: q.include_all_networks,
      thirdPartyInstanceId: q.third_party_instance_id,
    });
  });
  router.post("/_matrix/federation/v1/publicRooms", async (ctx) => {
    const { body } = await deps.auth.authenticate(ctx, { bodyLimit: deps.bodyLimit });
    const b = validateBody(postBody, body);
    ctx.body = await deps.queries.publicRooms({
      limit: b.limit ?? undefined,
      since: b.since ?? undefined,
      searchTerm: b.filter?.generic_search_term ?? undefined,
      roomTypes: b.filter?.room_types ?? undefined,
      includeAllNetworks: b.include_all_networks ?? undefined,
      thirdPartyInstanceId: b.third_party_instance_id ?? undefined,
    });
  });
  return router;
}
