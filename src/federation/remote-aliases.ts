import { isValidServerName } from "../core/index.js";
import type { FederationClient } from "./client.js";
import { remoteFailure } from "./remote-errors.js";

/**
 * Room aliases of other servers (Server-Server API "Querying information",
 * `GET /_matrix/federation/v1/query/directory`): "Homeservers should only
 * query room aliases that belong to the target server", so the alias's own
 * server is asked. The answer is checked before a client sees it.
 */
export class RemoteAliases {
  constructor(private readonly d: { client: Pick<FederationClient, "get">; timeoutMs?: number }) {}

  async resolve(server: string, alias: string): Promise<{ room_id: string; servers: string[] }> {
    let body: Record<string, unknown>;
    try {
      body = await this.d.client.get(server, "/_matrix/federation/v1/query/directory", {
        query: { room_alias: alias },
        maxBytes: 256 * 1024,
        timeoutMs: this.d.timeoutMs ?? 10_000,
      });
    } catch (err) {
      throw remoteFailure(err, `Room alias ${alias}`);
    }
    if (typeof body.room_id !== "string" || !body.room_id.startsWith("!")) throw remoteFailure(new Error("malformed answer"), `Room alias ${alias}`);
    const servers = Array.isArray(body.servers) ? body.servers.filter((s): s is string => typeof s === "string" && isValidServerName(s)).slice(0, 100) : [];
    return { room_id: body.room_id, servers: servers.length ? servers : [server] };
  }
}
