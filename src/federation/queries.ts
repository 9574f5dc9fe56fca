/**
 * Server-server "Querying for information" (/query/directory,
 * /query/profile), "Published Room Directory" (/publicRooms) and "Spaces"
 * (/hierarchy): the answers other servers get, built on the client-server
 * services that answer the same questions for local users.
 */
import { isValidRoomAlias, parseUserId, serverNameOf, type JsonObject } from "../core/index.js";
import { invalidParam, notFound } from "../http/errors.js";
import type { PublicRoomsQuery, RoomDirectory } from "../rooms/directory.js";
import type { EventStore } from "../rooms/event-store.js";
import type { RoomSummaries } from "../rooms/room-summary.js";
import type { SpaceHierarchy } from "../rooms/space-hierarchy.js";
import type { FederationReadsRepo } from "../storage/federation-reads-repo.js";
import type { ServerAcls } from "./server-acls.js";

export interface FederationQueriesDeps {
  serverName: string;
  directory: Pick<RoomDirectory, "resolveAlias" | "publicRooms">;
  summaries: Pick<RoomSummaries, "summarizeForViewer">;
  hierarchy: Pick<SpaceHierarchy, "forServer">;
  store: Pick<EventStore, "roomVersion">;
  reads: Pick<FederationReadsRepo, "serverMembers">;
  acls: Pick<ServerAcls, "assertAllowed">;
  /** Servers with a joined member in the room now, this one excluded. */
  joinedServers: (roomId: string) => Promise<string[]>;
  /** A local user's public profile, undefined when there is none. */
  profile: (userId: string) => Promise<Record<string, unknown> | undefined>;
}

export interface FederationPublicRoomsQuery extends Omit<PublicRoomsQuery, "server"> {
  includeAllNetworks?: boolean;
  thirdPartyInstanceId?: string;
}

/** The order in which a server's memberships count for reaching a room: the best one decides. */
const MEMBERSHIP_RANK = ["join", "invite", "knock"];

export class FederationQueries {
  constructor(private readonly d: FederationQueriesDeps) {}

  /** GET /query/directory?room_alias= : the room and servers "likely to hold" it, this one first. */
  async directory(alias: string): Promise<JsonObject> {
    if (!isValidRoomAlias(alias)) throw invalidParam("Invalid room alias");
    // "Homeservers should only query room aliases that belong to the target server."
    if (serverNameOf(alias) !== this.d.serverName) throw notFound("Room alias not found");
    const { room_id } = await this.d.directory.resolveAlias(alias);
    return { room_id, servers: [this.d.serverName, ...(await this.d.joinedServers(room_id))] };
  }

  /**
   * GET /query/profile?user_id=&field= : a local user's profile, or only
   * `field` ("If a field is specified ... MUST only return the given
   * field"); 404 for other servers' users, unknown users and unset fields.
   */
  async profile(userId: string, field: string | undefined): Promise<JsonObject> {
    if (parseUserId(userId) === undefined) throw invalidParam("Invalid user_id");
    if (serverNameOf(userId) !== this.d.serverName) throw notFound("User is not on this server");
    const profile = await this.d.profile(userId);
    if (profile === undefined) throw notFound("User does not exist");
    if (field === undefined) return profile as JsonObject;
    if (!Object.hasOwn(profile, field) || profile[field] === null || profile[field] === undefined) throw notFound(`No '${field}' in this profile`);
    return { [field]: profile[field] } as JsonObject;
  }

  /**
   * GET and POST /publicRooms: this server's published rooms, with the
   * client endpoint's filters and pagination. No room is published under a
   * third-party network here, so a `third_party_instance_id` lists none
   * and `include_all_networks` changes nothing.
   */
  async publicRooms(q: FederationPublicRoomsQuery): Promise<JsonObject> {
    if (q.thirdPartyInstanceId !== undefined && !q.includeAllNetworks) return { chunk: [], total_room_count_estimate: 0 };
    return this.d.directory.publicRooms({ limit: q.limit, since: q.since, searchTerm: q.searchTerm, roomTypes: q.roomTypes });
  }

  /** The best membership of `server`'s users in a room, as the room summary reads it. */
  private async serverMembership(roomId: string, server: string): Promise<string | undefined> {
    const ms = new Set((await this.d.reads.serverMembers(roomId, server)).map((m) => m.membership));
    return MEMBERSHIP_RANK.find((m) => ms.has(m));
  }

  /** GET /hierarchy/{roomId}?suggested_only= */
  async hierarchy(origin: string, roomId: string, suggestedOnly: boolean): Promise<JsonObject> {
    if ((await this.d.store.roomVersion(roomId)) === undefined) throw notFound("Room does not exist");
    await this.d.acls.assertAllowed(roomId, origin);
    const out = await this.d.hierarchy.forServer(
      roomId,
      suggestedOnly,
      (id) => this.d.summaries.summarizeForViewer(id, (r) => this.serverMembership(r, origin)),
      async (id) => (await this.d.store.roomVersion(id)) !== undefined,
    );
    // "The room is not known to the server or the requesting server is unable to peek/join it."
    if (!out) throw notFound("Room does not exist");
    return out;
  }
}
