import { getOwn, stateMapKey } from "../core/index.js";
import type { EventStore, LoadedEvent } from "../rooms/event-store.js";
import type { Viewer } from "../rooms/client-format.js";

export interface ErasureDeps {
  store: EventStore;
  /** Every user who asked to be erased (deactivated with erase). */
  erasedUsers: () => Promise<Set<string>>;
  now: () => number;
}

// Erasure is rare and every served event is checked, so the set is cached and re-read now and then.
const REFRESH_MS = 30_000;

/**
 * Erasure ("right to be forgotten"): events of an erased user are served in
 * their redacted form to anyone who was not joined to the room when the event
 * was sent (those who were have seen it already), as Synapse does.
 */
export class ErasedSenders {
  private cached: { users: Set<string>; at: number } | undefined;

  constructor(private readonly d: ErasureDeps) {}

  /** A user was just erased: effective at once, not only after the next refresh. */
  noteErased(userId: string): void {
    this.cached?.users.add(userId);
  }

  private async erased(): Promise<Set<string>> {
    const now = this.d.now();
    if (!this.cached || now - this.cached.at > REFRESH_MS) this.cached = { users: await this.d.erasedUsers(), at: now };
    return this.cached.users;
  }

  /** Ids of the events in `list` that `viewer` must only see redacted. */
  async redactFor(list: readonly LoadedEvent[], viewer: Viewer): Promise<Set<string>> {
    const out = new Set<string>();
    const erased = await this.erased();
    if (erased.size === 0) return out;
    const key = stateMapKey("m.room.member", viewer.userId);
    for (const e of list) {
      if (!erased.has(e.row.sender) || e.row.redactedBy || e.row.sender === viewer.userId) continue;
      const before = await this.d.store.stateGroup(e.row.stateBefore);
      const memberId = before.get(key);
      const member = memberId ? await this.d.store.getEvent(memberId) : undefined;
      if (getOwn(member?.event.content ?? {}, "membership") !== "join") out.add(e.row.eventId);
    }
    return out;
  }
}
