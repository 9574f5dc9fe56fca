import { isJsonObject } from "../core/json.js";
import type { JsonObject } from "../core/index.js";
import type { FederationClient } from "./client.js";
import { remoteFailure } from "./remote-errors.js";

export interface RemotePublicRoomsQuery {
  limit?: number;
  since?: string;
  /** The client's `filter` (generic_search_term, room_types), passed on as given. */
  filter?: JsonObject;
  includeAllNetworks?: boolean;
  thirdPartyInstanceId?: string;
}

const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;

/**
 * Another server's published room directory for `GET/POST /publicRooms?server=`
 * (Server-Server API "Public Room Directory"): the GET form when the client
 * gave no filter, the POST form with it, the pagination token passed through.
 * The answer is checked before a client sees it: entries without a room id
 * are dropped.
 */
export class RemotePublicRooms {
  constructor(private readonly d: { client: Pick<FederationClient, "get" | "post">; timeoutMs?: number }) {}

  async list(server: string, q: RemotePublicRoomsQuery): Promise<JsonObject> {
    const opts = { maxBytes: MAX_RESPONSE_BYTES, timeoutMs: this.d.timeoutMs ?? 20_000 };
    const path = "/_matrix/federation/v1/publicRooms";
    let body: JsonObject;
    try {
      if (q.filter !== undefined) {
        const req: JsonObject = { filter: q.filter };
        if (q.limit !== undefined) req.limit = q.limit;
        if (q.since !== undefined) req.since = q.since;
        if (q.includeAllNetworks !== undefined) req.include_all_networks = q.includeAllNetworks;
        if (q.thirdPartyInstanceId !== undefined) req.third_party_instance_id = q.thirdPartyInstanceId;
        body = await this.d.client.post(server, path, req, opts);
      } else {
        body = await this.d.client.get(server, path, {
          ...opts,
          query: { limit: q.limit, since: q.since, include_all_networks: q.includeAllNetworks, third_party_instance_id: q.thirdPartyInstanceId },
        });
      }
    } catch (err) {
      throw remoteFailure(err, "the room directory");
    }
    const chunk = Array.isArray(body.chunk) ? body.chunk.filter((r) => isJsonObject(r) && typeof r.room_id === "string") : [];
    const out: JsonObject = { chunk };
    if (typeof body.next_batch === "string") out.next_batch = body.next_batch;
    if (typeof body.prev_batch === "string") out.prev_batch = body.prev_batch;
    if (typeof body.total_room_count_estimate === "number" && Number.isSafeInteger(body.total_room_count_estimate)) {
      out.total_room_count_estimate = body.total_room_count_estimate;
    }
    return out;
  }
}
