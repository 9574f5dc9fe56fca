/**
 * Server-server "Server Access Control Lists (ACLs)": the room's current
 * `m.room.server_acl` decides whether a server may make room-scoped requests
 * and have its PDUs and room EDUs accepted.
 */
import { parseServerAcl, serverAclAllows, type ServerAcl } from "../core/index.js";
import { forbidden } from "../http/errors.js";
import type { EventStore } from "../rooms/event-store.js";
import { Lru } from "../rooms/lru.js";
import type { RoomStateRepo } from "../storage/room-state-repo.js";

export interface ServerAclsDeps {
  state: Pick<RoomStateRepo, "currentStateEventIds">;
  store: Pick<EventStore, "getEvent">;
}

export class ServerAcls {
  /** Parsed ACLs by event id and redaction (events never change otherwise). */
  private readonly parsed = new Lru<string, ServerAcl | undefined>(256);

  constructor(private readonly d: ServerAclsDeps) {}

  /** Whether the room's current ACL lets `serverName` take part (true when the room has none). */
  async serverAllowedInRoom(roomId: string, serverName: string): Promise<boolean> {
    const [row] = await this.d.state.currentStateEventIds([roomId], ["m.room.server_acl"]);
    if (row === undefined || row.stateKey !== "") return true;
    const e = await this.d.store.getEvent(row.eventId);
    if (e === undefined) return true;
    const key = `${row.eventId}\u0000${e.row.redactedBy ?? ""}`;
    let acl = this.parsed.get(key);
    if (acl === undefined) {
      // A redacted ACL has empty content: no allow rule, so it denies every server, as written.
      acl = parseServerAcl(e.event.content);
      this.parsed.set(key, acl);
    }
    return serverAclAllows(acl, serverName);
  }

  /** 403 M_FORBIDDEN for a server the room's ACL denies. */
  async assertAllowed(roomId: string, serverName: string): Promise<void> {
    if (!(await this.serverAllowedInRoom(roomId, serverName))) throw forbidden("Server is denied by the room's server ACL");
  }
}
