import type { EventStore } from "../../rooms/event-store.js";
import { isIgnoredInvite } from "../../rooms/ignored-users.js";
import type { MembershipRow, RoomStateRepo } from "../../storage/room-state-repo.js";
import type { SlidingSyncRepo } from "../../storage/sliding-sync-repo.js";
import type { SyncRepo } from "../../storage/sync-repo.js";
import type { ListConfig, ListFilters } from "./request.js";

/** One room of the user's server-side room list ("Lists" in MSC4186). */
export interface RoomEntry {
  roomId: string;
  membership: string;
  /** The user's membership event and its stream position. */
  membershipEventId: string;
  membershipPos: number;
  /** Ordering key: the room's last event the user can see (joined: the room's last event; else their membership). */
  activity: number;
  /** MSC4186 `bump_stamp`: the last "proper" activity, or the membership for rooms not joined. */
  bumpStamp: number;
  /** State group of the room at `activity` (joined rooms), for the room's state at the response. */
  stateAfter: number | null;
  depth: number;
}

// MSC4186 `bump_stamp`: the event types that count as "proper" activity.
export const BUMP_TYPES = ["m.room.create", "m.room.message", "m.room.encrypted", "m.sticker", "m.call.invite", "m.poll.start", "m.beacon_info"];
const MEMBERSHIPS = ["join", "invite", "knock", "leave", "ban"];

export interface RoomListDeps {
  state: Pick<RoomStateRepo, "roomsOfUser" | "currentStateEventIds">;
  syncRepo: Pick<SyncRepo, "membershipsAt">;
  repo: SlidingSyncRepo;
  store: EventStore;
}

/**
 * The user's rooms at event position `upto`, newest activity first: rooms
 * joined, invited, knocked, and left or banned, except (MSC4186 "Lists")
 * rooms the user left by themselves that the connection never saw, rooms
 * forgotten, and invites from ignored users ("Ignoring Users").
 */
export async function userRooms(
  d: RoomListDeps,
  userId: string,
  upto: number,
  sentBefore: (roomId: string) => boolean,
  ignored: ReadonlySet<string>,
): Promise<RoomEntry[]> {
  const rows = (await d.state.roomsOfUser(userId, MEMBERSHIPS)).filter((r) => !r.forgotten);
  const at = new Map<string, Pick<MembershipRow, "roomId" | "membership" | "eventId" | "streamOrdering">>();
  const ahead: string[] = [];
  for (const r of rows) {
    if (r.streamOrdering <= upto) at.set(r.roomId, r);
    else ahead.push(r.roomId);
  }
  for (const [roomId, m] of await d.syncRepo.membershipsAt(userId, ahead, upto)) at.set(roomId, m);

  const others = [...at.values()].filter((m) => m.membership !== "join");
  const memberEvents = await d.store.getEvents(others.map((m) => m.eventId));
  const kept = [...at.values()].filter((m) => {
    if (m.membership === "join") return true;
    const sender = memberEvents.get(m.eventId)?.row.sender;
    if (m.membership === "invite") return sender === undefined || !isIgnoredInvite(sender, ignored);
    if (m.membership === "leave" && sender === userId) return sentBefore(m.roomId);
    return true;
  });
  const joined = kept.filter((m) => m.membership === "join").map((m) => m.roomId);
  const activity = await d.repo.lastActivity(joined, upto);
  const bumps = await d.repo.lastOfTypes(joined, BUMP_TYPES, upto);
  const out: RoomEntry[] = kept.map((m) => {
    const a = m.membership === "join" ? activity.get(m.roomId) : undefined;
    const act = a?.streamOrdering ?? m.streamOrdering;
    return {
      roomId: m.roomId,
      membership: m.membership,
      membershipEventId: m.eventId,
      membershipPos: m.streamOrdering,
      activity: act,
      bumpStamp: m.membership === "join" ? (bumps.get(m.roomId) ?? act) : m.streamOrdering,
      stateAfter: a?.stateAfter ?? null,
      depth: a?.depth ?? 0,
    };
  });
  // "Activity ordering": the latest event first; ties by room id, so pages are stable.
  out.sort((x, y) => y.activity - x.activity || (x.roomId < y.roomId ? -1 : x.roomId > y.roomId ? 1 : 0));
  return out;
}

/** What list filters read, gathered once per response for every list. */
export interface FilterFacts {
  dmRooms: ReadonlySet<string>;
  tags: ReadonlyMap<string, readonly string[]>;
  encrypted: ReadonlySet<string>;
  /** Room type from the create event (null: none). */
  roomTypes: ReadonlyMap<string, string | null>;
  /** Children of the requested spaces the user is joined to. */
  spaceChildren: ReadonlyMap<string, ReadonlySet<string>>;
}

/** `SlidingRoomFilter`: every set field must hold. */
export function passesFilters(f: ListFilters, e: RoomEntry, facts: FilterFacts): boolean {
  if (f.isDm !== undefined && facts.dmRooms.has(e.roomId) !== f.isDm) return false;
  if (f.isInvite !== undefined && (e.membership === "invite") !== f.isInvite) return false;
  if (f.isEncrypted !== undefined && facts.encrypted.has(e.roomId) !== f.isEncrypted) return false;
  const type = facts.roomTypes.get(e.roomId) ?? null;
  if (f.notRoomTypes?.includes(type)) return false;
  if (f.roomTypes && !f.roomTypes.includes(type)) return false;
  const tags = facts.tags.get(e.roomId) ?? [];
  if (f.notTags?.some((t) => tags.includes(t))) return false;
  if (f.tags && !f.tags.some((t) => tags.includes(t))) return false;
  if (f.spaces && !f.spaces.some((s) => facts.spaceChildren.get(s)?.has(e.roomId) === true)) return false;
  return true;
}

/** Whether any list needs a fact (so it is read only when asked for). */
export function factsNeeded(lists: Iterable<ListConfig>): { encrypted: boolean; roomTypes: boolean; spaces: string[]; tags: boolean; dm: boolean } {
  const need = { encrypted: false, roomTypes: false, spaces: [] as string[], tags: false, dm: false };
  for (const l of lists) {
    const f = l.filters;
    if (f.isEncrypted !== undefined) need.encrypted = true;
    if (f.roomTypes || f.notRoomTypes) need.roomTypes = true;
    if (f.tags || f.notTags) need.tags = true;
    if (f.spaces) need.spaces.push(...f.spaces);
  }
  return need;
}

/** The rooms of a list: the filtered room list, cut to its ranges; and the filtered count. */
export function applyList(l: ListConfig, rooms: readonly RoomEntry[], facts: FilterFacts): { count: number; rooms: RoomEntry[] } {
  const filtered = rooms.filter((e) => passesFilters(l.filters, e, facts));
  if (l.ranges === undefined) return { count: filtered.length, rooms: filtered };
  const picked = new Set<number>();
  for (const [a, b] of l.ranges) for (let i = a; i <= Math.min(b, filtered.length - 1); i++) picked.add(i);
  return { count: filtered.length, rooms: [...picked].sort((x, y) => x - y).map((i) => filtered[i]!) };
}
