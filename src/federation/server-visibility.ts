/**
 * Which events another server may see. The client-server "History
 * visibility" rules decide for users; a server sees what its users could:
 * the room's `m.room.history_visibility` at the event (the state before it)
 * and the memberships of the server's users at that event.
 *
 * 1. `world_readable`: visible.
 * 2. one of its users was joined at the event: visible.
 * 3. `shared`: visible to a server in the room now (its users, joined now,
 *    "joined the room at any point after the event was sent").
 * 4. `invited` and one of its users was invited at the event: visible.
 * 5. otherwise not visible.
 *
 * As for users, `m.room.history_visibility` events count the visibility
 * before or after them, and a server always sees its own users' membership
 * events. As for users too, the events of an erased user ("Account
 * deactivation" with `erase`) are hidden from servers none of whose users
 * was joined when they were sent. Events a server may not see are served in
 * their redacted form, so the graph stays walkable and signatures still verify.
 */
import { getOwn, redact, stateMapKey, type JsonObject, type StateMapKey } from "../core/index.js";
import type { EventStore, LoadedEvent } from "../rooms/event-store.js";

interface ServerAt {
  visibility: string;
  joined: boolean;
  invited: boolean;
}

const VISIBILITIES = new Set(["world_readable", "shared", "invited", "joined"]);
const MEMBER_PREFIX = stateMapKey("m.room.member", "");
const HV_KEY = stateMapKey("m.room.history_visibility", "");

/** The server name of a user id: what follows the first colon (localparts have none). */
function serverOfUser(userId: string): string {
  return userId.slice(userId.indexOf(":") + 1);
}

export class ServerVisibility {
  constructor(private readonly store: Pick<EventStore, "stateGroup" | "stateEvents">) {}

  /**
   * For each event (all of one room): whether `server` may see it.
   * `inRoomNow`: the server has a joined user in the room's current state;
   * `erased`: senders among the events whose accounts were erased.
   */
  async visible(server: string, events: readonly LoadedEvent[], inRoomNow: boolean, erased: ReadonlySet<string> = new Set()): Promise<boolean[]> {
    const memo = new Map<number | null, ServerAt>();
    const at = async (group: number | null): Promise<ServerAt> => {
      let v = memo.get(group);
      if (!v) memo.set(group, (v = await this.atGroup(group, server)));
      return v;
    };
    const out: boolean[] = [];
    for (const e of events) {
      if (e.row.type === "m.room.member" && e.row.stateKey !== null && serverOfUser(e.row.stateKey) === server) {
        out.push(true);
        continue;
      }
      const before = await at(e.row.stateBefore);
      if (erased.has(e.row.sender) && !before.joined) {
        out.push(false);
        continue;
      }
      let ok = this.allows(before, inRoomNow);
      if (!ok && e.row.type === "m.room.history_visibility" && e.row.stateKey === "" && e.row.stateAfter !== e.row.stateBefore) {
        ok = this.allows(await at(e.row.stateAfter), inRoomNow);
      }
      out.push(ok);
    }
    return out;
  }

  private allows(at: ServerAt, inRoomNow: boolean): boolean {
    if (at.visibility === "world_readable") return true;
    if (at.joined) return true;
    if (at.visibility === "shared") return inRoomNow;
    if (at.visibility === "invited") return at.invited;
    return false;
  }

  private async atGroup(group: number | null, server: string): Promise<ServerAt> {
    const state = await this.store.stateGroup(group);
    const suffix = `:${server}`;
    const keys: StateMapKey[] = [HV_KEY];
    for (const k of state.keys()) {
      if (k.startsWith(MEMBER_PREFIX) && k.endsWith(suffix) && serverOfUser(k.slice(MEMBER_PREFIX.length)) === server) keys.push(k);
    }
    const loaded = await this.store.stateEvents(state, keys);
    const hv = loaded.get(HV_KEY) ? getOwn(loaded.get(HV_KEY)!.event.content, "history_visibility") : undefined;
    let joined = false;
    let invited = false;
    for (const k of keys.slice(1)) {
      const m = loaded.get(k) ? getOwn(loaded.get(k)!.event.content, "membership") : undefined;
      if (m === "join") joined = true;
      else if (m === "invite") invited = true;
    }
    // "By default if no history_visibility is set, or if the value is not understood, the visibility is assumed to be shared."
    return { visibility: typeof hv === "string" && VISIBILITIES.has(hv) ? hv : "shared", joined, invited };
  }
}

/**
 * An event as other servers get it: the PDU as stored, without `unsigned`
 * (local bookkeeping, not part of what was signed), redacted when a
 * redaction was applied or the asking server may not see it.
 */
export function federationPdu(e: LoadedEvent, visible = true): JsonObject {
  if (!visible || e.row.redactedBy !== null) return redact(e.pdu, e.rv);
  const { unsigned: _unsigned, ...pdu } = e.pdu;
  return pdu;
}
