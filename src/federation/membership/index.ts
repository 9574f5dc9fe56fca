/**
 * The membership handshakes across servers, both directions: this server as
 * the resident (make_* / send_*, invites to our users) and our users joining,
 * knocking, leaving and inviting through other servers.
 */
import { getOwn, isJsonArray, isValidRoomId, parseServerName, serverNameOf, type JsonObject } from "../../core/index.js";
import { MatrixError, notFound } from "../../http/errors.js";
import type { FederatedMembership } from "../../rooms/membership.js";
import { FederationError } from "../client.js";
import type { MembershipFlowDeps } from "./deps.js";
import { FederatedInvites } from "./invites.js";
import { remoteFailure } from "./remote-errors.js";
import { RemoteMembership } from "./remote-membership.js";
import { ResidentMembership } from "./resident.js";

export interface MembershipFlows {
  resident: ResidentMembership;
  invites: FederatedInvites;
  remote: RemoteMembership;
  /** What the rooms area calls for rooms this server is not in. */
  federated: FederatedMembership;
}

export function createMembershipFlows(d: MembershipFlowDeps): MembershipFlows {
  const resident = new ResidentMembership(d);
  const invites = new FederatedInvites(d, resident);
  const remote = new RemoteMembership(d);
  const federated: FederatedMembership = {
    resolveAlias: (alias) => resolveRemoteAlias(d, alias),
    join: (userId, roomId, servers, content) => remote.join(userId, roomId, servers, content),
    knock: (userId, roomId, servers, content) => remote.knock(userId, roomId, servers, content),
    leave: (userId, roomId, servers, content) => remote.leave(userId, roomId, servers, content),
    invite: (sender, roomId, target, content) => invites.invite(sender, roomId, target, content),
    exchangeThirdPartyInvite: async (roomId, event) => {
      const sender = typeof event.sender === "string" ? serverNameOf(event.sender) : undefined;
      if (!sender) throw notFound("No inviting server");
      try {
        await d.client.put(sender, `/_matrix/federation/v1/exchange_third_party_invite/${encodeURIComponent(roomId)}`, event);
      } catch (err) {
        throw remoteFailure(err, "exchanging the third-party invite");
      }
    },
  };
  return { resident, invites, remote, federated };
}

/** Server-server "Querying for information": GET /query/directory on the alias's server. */
async function resolveRemoteAlias(d: MembershipFlowDeps, alias: string): Promise<{ roomId: string; servers: string[] }> {
  const server = alias.slice(alias.indexOf(":") + 1);
  let res: JsonObject;
  try {
    res = await d.client.get(server, "/_matrix/federation/v1/query/directory", { query: { room_alias: alias }, maxBytes: 64 * 1024 });
  } catch (err) {
    if (err instanceof FederationError && err.status === 404) throw notFound("Room alias not found");
    throw remoteFailure(err, "resolving the room alias");
  }
  const roomId = getOwn(res, "room_id");
  const servers = getOwn(res, "servers");
  if (typeof roomId !== "string" || !isValidRoomId(roomId)) throw new MatrixError(502, "M_UNKNOWN", `${server} answered the alias query without a room id`);
  const list = isJsonArray(servers) ? servers.filter((s): s is string => typeof s === "string" && parseServerName(s) !== undefined) : [];
  return { roomId, servers: [server, ...list.filter((s) => s !== server)].slice(0, 10) };
}
