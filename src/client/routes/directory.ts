import { Router } from "@koa/router";
import { z } from "zod";
import type { JsonObject } from "../../core/index.js";
import type { Authenticator } from "../../http/auth.js";
import { readJsonBody } from "../../http/body.js";
import { validateBody, validateQuery } from "../../http/validate.js";
import type { RoomDirectory } from "../../rooms/directory.js";
import { clientPaths } from "./client-paths.js";

export interface DirectoryRoutesDeps {
  auth: Authenticator;
  directory: RoomDirectory;
  bodyLimit: number;
}

const publicRoomsQuery = z.looseObject({
  limit: z.string().regex(/^\d{1,9}$/).transform(Number).optional(),
  since: z.string().optional(),
  server: z.string().optional(),
});
// Clients send null for "not given" (e.g. `since: null` on the first page); deployed servers accept it.
const publicRoomsBody = z.looseObject({
  limit: z.number().int().min(0).nullish(),
  since: z.string().nullish(),
  filter: z.looseObject({ generic_search_term: z.string().nullish(), room_types: z.array(z.string().nullable()).nullish() }).nullish(),
  include_all_networks: z.boolean().nullish(),
  third_party_instance_id: z.string().nullish(),
});

// Client-server "Room aliases" and "Published room directory".
export function directoryRoutes(deps: DirectoryRoutesDeps): Router {
  const router = new Router();

  router.put(clientPaths("/directory/room/:roomAlias"), async (ctx) => {
    const me = await deps.auth.authenticate(ctx);
    const b = validateBody(z.looseObject({ room_id: z.string() }), await readJsonBody(ctx, deps.bodyLimit));
    await deps.directory.createAlias(me.userId, ctx.params.roomAlias!, b.room_id);
    ctx.body = {};
  });
  router.get(clientPaths("/directory/room/:roomAlias"), async (ctx) => {
    ctx.body = await deps.directory.resolveAlias(ctx.params.roomAlias!);
  });
  router.delete(clientPaths("/directory/room/:roomAlias"), async (ctx) => {
    const me = await deps.auth.authenticate(ctx);
    await deps.directory.deleteAlias(me.userId, ctx.params.roomAlias!);
    ctx.body = {};
  });
  router.get(clientPaths("/rooms/:roomId/aliases"), async (ctx) => {
    const me = await deps.auth.authenticate(ctx, { allowGuests: true });
    ctx.body = { aliases: await deps.directory.roomAliases(me.userId, ctx.params.roomId!) };
  });

  router.get(clientPaths("/directory/list/room/:roomId"), async (ctx) => {
    ctx.body = { visibility: await deps.directory.visibility(ctx.params.roomId!) };
  });
  router.put(clientPaths("/directory/list/room/:roomId"), async (ctx) => {
    const me = await deps.auth.authenticate(ctx);
    const b = validateBody(
      z.looseObject({ visibility: z.enum(["public", "private"]).optional() }),
      await readJsonBody(ctx, deps.bodyLimit, { emptyAsObject: true }),
    );
    await deps.directory.setVisibility(me.userId, ctx.params.roomId!, b.visibility ?? "public");
    ctx.body = {};
  });

  router.get(clientPaths("/publicRooms"), async (ctx) => {
    const q = validateQuery(publicRoomsQuery, ctx.query);
    // Another server's directory costs a federation request: only for signed-in users, as deployed servers do.
    if (deps.directory.isRemote(q.server)) await deps.auth.authenticate(ctx, { allowGuests: true });
    ctx.body = await deps.directory.publicRooms({ limit: q.limit, since: q.since, server: q.server });
  });
  router.post(clientPaths("/publicRooms"), async (ctx) => {
    await deps.auth.authenticate(ctx, { allowGuests: true });
    const q = validateQuery(z.looseObject({ server: z.string().optional() }), ctx.query);
    const b = validateBody(publicRoomsBody, await readJsonBody(ctx, deps.bodyLimit, { emptyAsObject: true }));
    ctx.body = await deps.directory.publicRooms({
      limit: b.limit ?? undefined,
      since: b.since ?? undefined,
      searchTerm: b.filter?.generic_search_term ?? undefined,
      server: q.server,
      filter: b.filter ? (b.filter as JsonObject) : undefined,
      includeAllNetworks: b.include_all_networks ?? undefined,
      thirdPartyInstanceId: b.third_party_instance_id ?? undefined,
    });
  });

  return router;
}
