import type { EventStore } from "../../rooms/event-store.js";
import type { RoomStateRepo } from "../../storage/room-state-repo.js";

/**
 * What list filters read from rooms' current state (MSC4186
 * "SlidingRoomFilter"): encryption, the create event's room type, a space's
 * children. Read only when a list asks.
 */
export class RoomFacts {
  constructor(
    private readonly state: Pick<RoomStateRepo, "currentStateEventIds">,
    private readonly store: EventStore,
  ) {}

  async encrypted(roomIds: readonly string[]): Promise<Set<string>> {
    const rows = await this.state.currentStateEventIds(roomIds, ["m.room.encryption"]);
    return new Set(rows.map((r) => r.roomId));
  }

  /** Per room, the `type` of its m.room.create content (null: none). */
  async roomTypes(roomIds: readonly string[]): Promise<Map<string, string | null>> {
    const rows = await this.state.currentStateEventIds(roomIds, ["m.room.create"]);
    const events = await this.store.getEvents(rows.map((r) => r.eventId));
    const out = new Map<string, string | null>();
    for (const r of rows) {
      const t = events.get(r.eventId)?.event.content.type;
      out.set(r.roomId, typeof t === "string" ? t : null);
    }
    return out;
  }

  /** Rooms a space names as m.space.child with a non-empty `via` ("Spaces": an empty via removes the child). */
  async spaceChildren(spaceId: string): Promise<Set<string>> {
    const rows = await this.state.currentStateEventIds([spaceId], ["m.space.child"]);
    const events = await this.store.getEvents(rows.map((r) => r.eventId));
    const out = new Set<string>();
    for (const r of rows) {
      const via = events.get(r.eventId)?.event.content.via;
      if (Array.isArray(via) && via.length > 0) out.add(r.stateKey);
    }
    return out;
  }
}

/** Room ids named in `m.direct` account data ("Direct Messaging"). */
export function directRoomIds(content: Record<string, unknown> | undefined): Set<string> {
  const out = new Set<string>();
  if (!content) return out;
  for (const v of Object.values(content)) if (Array.isArray(v)) for (const r of v) if (typeof r === "string") out.add(r);
  return out;
}
