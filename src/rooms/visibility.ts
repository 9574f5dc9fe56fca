import { getOwn, stateMapKey } from "../core/index.js";
import type { RoomStateRepo } from "../storage/room-state-repo.js";
import type { EventStore, LoadedEvent } from "./event-store.js";

interface AtEvent {
  visibility: string;
  membership: string;
}

/**
 * Client-server "History visibility": whether a user may see an event,
 * from the room's m.room.history_visibility and the user's membership at
 * the event (the state before it), plus the user's current membership for
 * `shared`.
 */
export class HistoryVisibility {
  constructor(
    private readonly store: EventStore,
    private readonly state: RoomStateRepo,
  ) {}

  /** Keeps the events `userId` may see (all of one room). */
  async filter(userId: string, roomId: string, events: readonly LoadedEvent[]): Promise<LoadedEvent[]> {
    if (events.length === 0) return [];
    const current = (await this.state.membership(roomId, userId))?.membership ?? "leave";
    const memo = new Map<number | null, AtEvent>();
    const out: LoadedEvent[] = [];
    for (const e of events) {
      const group = e.row.stateBefore;
      let at = memo.get(group);
      if (!at) {
        at = await this.atGroup(group, userId);
        memo.set(group, at);
      }
      if (this.visible(e, userId, at, current)) out.push(e);
    }
    return out;
  }

  async canSee(userId: string, e: LoadedEvent): Promise<boolean> {
    return (await this.filter(userId, e.row.roomId, [e])).length === 1;
  }

  private async atGroup(group: number | null, userId: string): Promise<AtEvent> {
    const hvKey = stateMapKey("m.room.history_visibility", "");
    const memberKey = stateMapKey("m.room.member", userId);
    const ids = await this.store.stateGroupKeys(group, [hvKey, memberKey]);
    const loaded = await this.store.stateEvents(ids, [hvKey, memberKey]);
    const hv = loaded.get(hvKey) ? getOwn(loaded.get(hvKey)!.event.content, "history_visibility") : undefined;
    const m = loaded.get(memberKey) ? getOwn(loaded.get(memberKey)!.event.content, "membership") : undefined;
    return {
      // "shared" is the default when the room has no (valid) history_visibility.
      visibility: typeof hv === "string" && ["world_readable", "shared", "invited", "joined"].includes(hv) ? hv : "shared",
      membership: typeof m === "string" ? m : "leave",
    };
  }

  private visible(e: LoadedEvent, userId: string, at: AtEvent, current: string): boolean {
    // A user always sees their own membership changes (their join, invite, kick...).
    if (e.row.type === "m.room.member" && e.row.stateKey === userId) return true;
    if (at.visibility === "world_readable") return true;
    if (at.membership === "join") return true;
    if (at.visibility === "shared") return current === "join";
    if (at.visibility === "invited") return at.membership === "invite";
    return false;
  }
}
