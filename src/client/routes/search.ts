import { Router } from "@koa/router";
import { z } from "zod";
import type { JsonObject } from "../../core/index.js";
import type { Authenticator } from "../../http/auth.js";
import { readJsonBody } from "../../http/body.js";
import { validateBody, validateQuery } from "../../http/validate.js";
import type { RoomSearch } from "../../rooms/search.js";
import { clientPaths } from "./client-paths.js";

export interface SearchRoutesDeps {
  auth: Authenticator;
  search: RoomSearch;
  bodyLimit: number;
}

const count = z.number().int().min(0);
const searchBody = z.looseObject({
  search_categories: z.looseObject({
    room_events: z
      .looseObject({
        search_term: z.string(),
        keys: z.array(z.string()).optional(),
        filter: z.record(z.string(), z.unknown()).transform((v) => v as JsonObject).optional(),
        order_by: z.enum(["rank", "recent"]).optional(),
        event_context: z
          .looseObject({ before_limit: count.optional(), after_limit: count.optional(), include_profile: z.boolean().optional() })
          .optional(),
        include_state: z.boolean().optional(),
        groupings: z.looseObject({ group_by: z.array(z.looseObject({ key: z.string().optional() })).optional() }).optional(),
      })
      .optional(),
  }),
});

// Client-server "Server Side Search": POST /search.
export function searchRoutes(deps: SearchRoutesDeps): Router {
  const router = new Router();
  router.post(clientPaths("/search"), async (ctx) => {
    const me = await deps.auth.authenticate(ctx);
    const q = validateQuery(z.looseObject({ next_batch: z.string().optional() }), ctx.query);
    const body = validateBody(searchBody, await readJsonBody(ctx, deps.bodyLimit));
    const roomEvents = body.search_categories.room_events;
    ctx.body = roomEvents ? await deps.search.search(me, roomEvents, q.next_batch) : { search_categories: {} };
  });
  return router;
}
