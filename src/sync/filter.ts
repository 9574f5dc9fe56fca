import { MatrixError } from "../http/errors.js";
import { filterSchema, type EventFilter, type Filter, type RoomEventFilter } from "../users/filters.js";

/** Stored filters, looked up by id for the requesting user. */
export interface FilterStore {
  getFilter(userId: string, filterId: number): Promise<Record<string, unknown> | undefined>;
}

// Client-server "Filtering": a timeline without a limit gets this many events.
export const DEFAULT_TIMELINE_LIMIT = 10;
// Bounds the work one /sync may ask for.
export const MAX_TIMELINE_LIMIT = 500;

/**
 * The `filter` parameter of /sync: a filter id made with POST /user/{userId}/filter,
 * or the filter JSON inline (detected by a leading "{", as the spec says).
 */
export async function resolveSyncFilter(store: FilterStore, userId: string, param: string | undefined): Promise<Filter> {
  if (param === undefined || param === "") return {};
  if (param.startsWith("{")) {
    let json: unknown;
    try {
      json = JSON.parse(param);
    } catch {
      throw new MatrixError(400, "M_INVALID_PARAM", "filter is not valid JSON");
    }
    const r = filterSchema.safeParse(json);
    if (!r.success) throw new MatrixError(400, "M_INVALID_PARAM", `Invalid filter: ${r.error.issues[0]?.path.join(".") ?? ""}`);
    return r.data;
  }
  const stored = /^\d{1,15}$/.test(param) ? await store.getFilter(userId, Number(param)) : undefined;
  if (!stored) throw new MatrixError(404, "M_NOT_FOUND", "No such filter");
  const r = filterSchema.safeParse(stored);
  return r.success ? r.data : {};
}

/** Filter type and sender patterns: types may end in `*` as a wildcard. */
function typeMatches(value: string, pattern: string): boolean {
  return pattern.endsWith("*") ? value.startsWith(pattern.slice(0, -1)) : value === pattern;
}

/** EventFilter: types / not_types / senders / not_senders (not_* win). */
export function eventPasses(f: EventFilter | undefined, type: string, sender: string | undefined): boolean {
  if (!f) return true;
  if (f.not_types?.some((p) => typeMatches(type, p))) return false;
  if (f.types && !f.types.some((p) => typeMatches(type, p))) return false;
  if (sender !== undefined) {
    if (f.not_senders?.includes(sender)) return false;
    if (f.senders && !f.senders.includes(sender)) return false;
  }
  return true;
}

/** RoomFilter / RoomEventFilter rooms and not_rooms (not_rooms wins). */
export function roomPasses(f: { rooms?: string[]; not_rooms?: string[] } | undefined, roomId: string): boolean {
  if (!f) return true;
  if (f.not_rooms?.includes(roomId)) return false;
  if (f.rooms && !f.rooms.includes(roomId)) return false;
  return true;
}

/** Whether anything of a room belongs in the response at all (room.rooms / room.not_rooms). */
export function roomIncluded(filter: Filter, roomId: string): boolean {
  return roomPasses(filter.room, roomId);
}

export function timelineLimit(f: RoomEventFilter | undefined): number {
  const limit = f?.limit ?? DEFAULT_TIMELINE_LIMIT;
  return Math.max(0, Math.min(limit, MAX_TIMELINE_LIMIT));
}

/** Applies an EventFilter's `limit` to a list (the newest items are kept). */
export function applyLimit<T>(list: T[], f: EventFilter | undefined): T[] {
  const limit = f?.limit;
  return limit !== undefined && list.length > limit ? list.slice(list.length - limit) : list;
}

export type { Filter, EventFilter, RoomEventFilter };
