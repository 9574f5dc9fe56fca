import { getOwn, isJsonObject, serverNameOf } from "../core/index.js";
import type { RoomStateRepo } from "../storage/room-state-repo.js";
import type { EventStore } from "./event-store.js";

/** The account data the carry-over reads and writes (accounts area). */
export interface AccountDataAccess {
  get(userId: string, roomId: string | null, type: string): Promise<Record<string, unknown> | undefined>;
  put(userId: string, roomId: string | null, type: string, content: Record<string, unknown>): Promise<void>;
}

/**
 * Client-server "Room Upgrades": "When a user joins the new room, the server
 * should automatically transfer/replicate some of the user's personalized
 * settings such as notifications, tags, etc." Room tags are copied from the
 * predecessor, and `m.direct` lists the new room wherever it listed the old one.
 */
export class UpgradeCarryOver {
  constructor(
    private readonly d: { store: EventStore; state: RoomStateRepo; accountData: AccountDataAccess; serverName: string },
  ) {}

  async onJoin(userId: string, roomId: string): Promise<void> {
    if (serverNameOf(userId) !== this.d.serverName) return;
    const [row] = await this.d.state.currentStateEventIds([roomId], ["m.room.create"]);
    const create = row ? await this.d.store.getEvent(row.eventId) : undefined;
    const pred = create ? getOwn(create.event.content, "predecessor") : undefined;
    const oldRoom = isJsonObject(pred) ? getOwn(pred, "room_id") : undefined;
    if (typeof oldRoom !== "string" || oldRoom === roomId) return;
    if (!(await this.d.state.membership(oldRoom, userId))) return;

    const tags = await this.d.accountData.get(userId, oldRoom, "m.tag");
    if (tags && !(await this.d.accountData.get(userId, roomId, "m.tag"))) await this.d.accountData.put(userId, roomId, "m.tag", tags);

    const direct = await this.d.accountData.get(userId, null, "m.direct");
    if (direct) {
      let changed = false;
      const next: Record<string, unknown> = {};
      for (const [other, rooms] of Object.entries(direct)) {
        if (Array.isArray(rooms) && rooms.includes(oldRoom) && !rooms.includes(roomId)) {
          next[other] = [...rooms, roomId];
          changed = true;
        } else {
          next[other] = rooms;
        }
      }
      if (changed) await this.d.accountData.put(userId, null, "m.direct", next);
    }
  }
}
