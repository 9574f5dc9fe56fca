import type { JsonObject, SigningKey } from "../../core/index.js";
import type { Logger } from "../../logging.js";
import type { EventStore } from "../../rooms/event-store.js";
import type { EventTemplates } from "../../rooms/event-template.js";
import type { RoomWriter } from "../../rooms/event-writer.js";
import type { EventsRepo } from "../../storage/events-repo.js";
import type { RoomStateRepo } from "../../storage/room-state-repo.js";
import type { FederationClient } from "../client.js";
import type { RemoteKeyStore } from "../key-store.js";

/** What the membership handshakes need from the rest of the server. */
export interface MembershipFlowDeps {
  serverName: string;
  signingKey: SigningKey;
  writer: Pick<RoomWriter, "persist" | "persistOutliers" | "persistOutOfBand">;
  templates: Pick<EventTemplates, "build">;
  store: EventStore;
  state: RoomStateRepo;
  events: Pick<EventsRepo, "authChain">;
  keys: Pick<RemoteKeyStore, "prefetch" | "lookup">;
  client: Pick<FederationClient, "get" | "put">;
  log: Logger;
  now: () => number;
  randomString: (length: number) => string;
  /** Room versions this server can join (make_join `ver`). */
  supportedVersions: readonly string[];
  /** Whether a local user exists (inbound invites); assumed when absent. */
  userExists?: (userId: string) => Promise<boolean>;
  /** The stripped state stored with an out-of-band membership event (servers to ask for a leave). */
  strippedStateOf?: (eventId: string) => Promise<JsonObject[] | undefined>;
  /** "Server Access Control Lists (ACLs)": whether the room's ACL lets the server take part. */
  serverAllowedInRoom?: (roomId: string, serverName: string) => Promise<boolean>;
  /** Rooms a server admin blocked. */
  isRoomBlocked?: (roomId: string) => Promise<boolean>;
}
