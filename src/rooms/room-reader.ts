import { getOwn, stateMapKey, type JsonObject, type StateMapKey } from "../core/index.js";
import { forbidden, MatrixError, notFound } from "../http/errors.js";
import type { EventsRepo, TopoKey } from "../storage/events-repo.js";
import { isServedToClients } from "../storage/events-repo.js";
import type { RoomStateRepo } from "../storage/room-state-repo.js";
import type { EventFormatter, Viewer } from "./client-format.js";
import { noIgnoredUsers, type IgnoredUsers } from "./ignored-users.js";
import { matchesFilter, type RoomEventFilter } from "./event-filter.js";
import type { EventStore, LoadedEvent, StateIds } from "./event-store.js";
import type { PositionTracker } from "./stream-positions.js";
import { compareTopo, formatTopoToken, gapBefore, parseHistoryToken, type HistoryToken } from "./tokens.js";
import type { HistoryVisibility } from "./visibility.js";

export interface RoomReaderDeps {
  store: EventStore;
  events: EventsRepo;
  state: RoomStateRepo;
  visibility: HistoryVisibility;
  formatter: EventFormatter;
  positions: PositionTracker;
  /** Client-server "Ignoring Users": their (non-state) events are left out of timelines. */
  ignored?: IgnoredUsers;
}

export interface MessagesQuery {
  from?: string;
  to?: string;
  dir: "b" | "f";
  limit: number;
  filter: RoomEventFilter;
}

/** What part of a room's state a user may read. */
/** Users who left see the state when they left: their leave event's position and state. */
type StateAccess = { kind: "current" } | { kind: "group"; group: number | null; stream: number };

const MAX_SCAN = 2000;
/** How long /messages waits for a backfill from other servers; it goes on in the background. */
const BACKFILL_WAIT_MS = 10_000;
const MEMBER_KEY_PREFIX = stateMapKey("m.room.member", "");

/** The value of `p`, or 0 once `ms` have passed (or when it fails). */
async function withTimeout(p: Promise<number>, ms: number): Promise<number> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<number>((resolve) => {
    timer = setTimeout(() => resolve(0), ms);
  });
  try {
    return await Promise.race([p.catch(() => 0), late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Reading rooms for clients: /messages, /context, /event, /state, /members
 * and /joined_members, with history visibility applied on every path.
 */
export class RoomReader {
  constructor(private readonly d: RoomReaderDeps) {}

  /**
   * Set at wiring time: fetches history from other servers before `depth`
   * (events placed in the graph as backfill); the number of events placed.
   */
  backfiller: ((roomId: string, depth: number, limit: number) => Promise<number>) | undefined;

  private async requireRoom(roomId: string): Promise<void> {
    if (!(await this.d.store.roomVersion(roomId))) throw forbidden("You are not a member of this room");
  }

  private async isWorldReadable(roomId: string): Promise<boolean> {
    const [hv] = await this.currentStateEvents(roomId, [stateMapKey("m.room.history_visibility", "")]);
    return hv !== undefined && getOwn(hv.event.content, "history_visibility") === "world_readable";
  }

  /** Joined users (and anyone in world-readable rooms) read the current state; users who left, the state when they left. */
  private async stateAccess(userId: string, roomId: string): Promise<StateAccess> {
    await this.requireRoom(roomId);
    const m = await this.d.state.membership(roomId, userId);
    if (m?.membership === "join") return { kind: "current" };
    if (await this.isWorldReadable(roomId)) return { kind: "current" };
    if (m && (m.membership === "leave" || m.membership === "ban")) {
      const ev = await this.d.store.getEvent(m.eventId);
      if (ev) return { kind: "group", group: ev.row.stateAfter, stream: ev.row.streamOrdering };
    }
    throw forbidden("You are not a member of this room");
  }

  async currentStateIds(roomId: string): Promise<StateIds> {
    const rows = await this.d.state.currentState(roomId);
    return new Map(rows.map((r) => [stateMapKey(r.type, r.stateKey), r.eventId!]));
  }

  private async currentStateEvents(roomId: string, keys?: StateMapKey[]): Promise<LoadedEvent[]> {
    const ids = await this.currentStateIds(roomId);
    return [...(await this.d.store.stateEvents(ids, keys)).values()];
  }

  private async accessibleState(userId: string, roomId: string): Promise<StateIds> {
    const access = await this.stateAccess(userId, roomId);
    return access.kind === "current" ? this.currentStateIds(roomId) : this.d.store.stateGroup(access.group);
  }

  async roomState(viewer: Viewer, roomId: string): Promise<JsonObject[]> {
    const ids = await this.accessibleState(viewer.userId, roomId);
    const events = [...(await this.d.store.stateEvents(ids)).values()];
    return this.d.formatter.format(events, viewer);
  }

  async stateEvent(viewer: Viewer, roomId: string, type: string, stateKey: string): Promise<LoadedEvent> {
    const ids = await this.accessibleState(viewer.userId, roomId);
    const id = ids.get(stateMapKey(type, stateKey));
    const e = id ? await this.d.store.getEvent(id) : undefined;
    if (!e) throw notFound("Event not found");
    return e;
  }

  async event(viewer: Viewer, roomId: string, eventId: string): Promise<JsonObject> {
    const e = await this.d.store.getEvent(eventId);
    if (!e || e.row.roomId !== roomId || e.row.streamOrdering > this.d.positions.persistedUpTo || !isServedToClients(e.row)) {
      throw notFound("Event not found");
    }
    if (!(await this.d.visibility.canSee(viewer.userId, e))) throw notFound("Event not found");
    return this.d.formatter.formatOne(e, viewer);
  }

  async members(
    viewer: Viewer,
    roomId: string,
    q: { at?: string; membership?: string; not_membership?: string },
  ): Promise<JsonObject[]> {
    let ids = await this.accessibleState(viewer.userId, roomId);
    if (q.at !== undefined) {
      const stream = await this.streamOfToken(roomId, parseHistoryToken(q.at, "at"));
      // Never further than what the user may see anyway (positions, not group ids, order states).
      const access = await this.stateAccess(viewer.userId, roomId);
      const last = await this.d.events.lastInRoom(roomId, access.kind === "current" ? stream : Math.min(stream, access.stream));
      if (last) ids = await this.d.store.stateGroup(last.currentAfter ?? last.stateAfter);
    }
    // Only the member events are read (a big room's state is mostly members, but not only).
    const memberKeys = [...ids.keys()].filter((k) => k.startsWith(MEMBER_KEY_PREFIX));
    const members = [...(await this.d.store.stateEvents(ids, memberKeys)).values()].filter((e) => e.row.type === "m.room.member");
    const filtered = members.filter((e) => {
      const m = getOwn(e.event.content, "membership");
      if (q.membership !== undefined && m !== q.membership) return false;
      if (q.not_membership !== undefined && m === q.not_membership) return false;
      return true;
    });
    return this.d.formatter.format(filtered, viewer);
  }

  async joinedMembers(userId: string, roomId: string): Promise<Record<string, { display_name?: string; avatar_url?: string }>> {
    await this.requireRoom(roomId);
    const m = await this.d.state.membership(roomId, userId);
    if (m?.membership !== "join" && !(await this.isWorldReadable(roomId))) throw forbidden("You are not a member of this room");
    const joined = await this.d.state.membersOfRoom(roomId, ["join"]);
    const events = await this.d.store.getEvents(joined.map((j) => j.eventId));
    const out: Record<string, { display_name?: string; avatar_url?: string }> = {};
    for (const j of joined) {
      const c = events.get(j.eventId)?.event.content ?? {};
      const entry: { display_name?: string; avatar_url?: string } = {};
      if (typeof c.displayname === "string") entry.display_name = c.displayname;
      if (typeof c.avatar_url === "string") entry.avatar_url = c.avatar_url;
      out[j.userId] = entry;
    }
    return out;
  }

  private async streamOfToken(roomId: string, t: HistoryToken): Promise<number> {
    void roomId;
    return Math.min(t.kind === "stream" ? t.stream : t.key.stream, this.d.positions.persistedUpTo);
  }

  private async topoOf(roomId: string, t: HistoryToken): Promise<TopoKey> {
    if (t.kind === "topo") return t.key;
    return (await this.d.events.topoAtStream(roomId, t.stream)) ?? { depth: 0, stream: 0 };
  }

  /** Users may page through rooms they are or were in, and world-readable rooms. */
  async requireHistoryAccess(userId: string, roomId: string): Promise<void> {
    await this.requireRoom(roomId);
    const m = await this.d.state.membership(roomId, userId);
    if (m) return;
    if (await this.isWorldReadable(roomId)) return;
    throw forbidden("You are not a member of this room");
  }

  /**
   * Scans events from `from` in `dir`, keeping those the filter and history
   * visibility let through. Returns the kept events and the key of the last
   * event scanned (the next page continues after it), or undefined when the
   * room's history is exhausted.
   */
  private async scan(
    userId: string,
    roomId: string,
    dir: "b" | "f",
    from: TopoKey | undefined,
    to: TopoKey | undefined,
    limit: number,
    filter: RoomEventFilter,
  ): Promise<{ kept: LoadedEvent[]; lastScanned: TopoKey | undefined; exhausted: boolean }> {
    const maxStream = this.d.positions.persistedUpTo;
    const kept: LoadedEvent[] = [];
    let cursor = from;
    let lastScanned: TopoKey | undefined;
    let scanned = 0;
    const rv = await this.d.store.roomVersion(roomId);
    const ignored = await (this.d.ignored ?? noIgnoredUsers).ignoredBy(userId);
    const shown = (e: LoadedEvent) => matchesFilter(e, filter) && !(e.row.stateKey === null && ignored.has(e.row.sender));
    while (kept.length < limit && scanned < MAX_SCAN) {
      const batchSize = Math.min(Math.max(limit * 2, 20), 200);
      const rows = await this.d.events.page(roomId, dir, cursor, batchSize, maxStream);
      let hitTo = false;
      const batch: LoadedEvent[] = [];
      for (const row of rows) {
        const key = { depth: row.depth, stream: row.streamOrdering };
        if (to && (dir === "b" ? compareTopo(key, to) <= 0 : compareTopo(key, to) > 0)) {
          hitTo = true;
          break;
        }
        batch.push(this.d.store.load(row, rv!));
      }
      const visible = new Set(await this.d.visibility.filter(userId, roomId, batch.filter(shown)));
      let consumed = 0;
      for (const e of batch) {
        scanned++;
        consumed++;
        lastScanned = { depth: e.row.depth, stream: e.row.streamOrdering };
        if (visible.has(e)) kept.push(e);
        if (kept.length >= limit) break;
      }
      if ((hitTo || rows.length < batchSize) && consumed === batch.length) return { kept, lastScanned, exhausted: true };
      if (kept.length >= limit) break;
      cursor = dir === "b" ? gapBefore(lastScanned!) : lastScanned;
    }
    return { kept, lastScanned, exhausted: false };
  }

  async messages(viewer: Viewer, roomId: string, q: MessagesQuery): Promise<JsonObject> {
    await this.requireHistoryAccess(viewer.userId, roomId);
    const limit = Math.min(Math.max(q.filter.limit ?? q.limit, 0), 1000);
    let from: TopoKey | undefined;
    let start: string;
    if (q.from !== undefined) {
      from = await this.topoOf(roomId, parseHistoryToken(q.from, "from"));
      start = q.from;
    } else if (q.dir === "b") {
      const last = await this.d.events.lastInRoom(roomId, this.d.positions.persistedUpTo);
      from = last ? { depth: last.depth, stream: last.streamOrdering } : { depth: 0, stream: 0 };
      start = formatTopoToken(from);
    } else {
      from = { depth: 0, stream: 0 };
      start = formatTopoToken(from);
    }
    const to = q.to !== undefined ? await this.topoOf(roomId, parseHistoryToken(q.to, "to")) : undefined;
    let { kept, lastScanned, exhausted } =
      limit === 0 ? { kept: [], lastScanned: undefined, exhausted: false } : await this.scan(viewer.userId, roomId, q.dir, from, to, limit, q.filter);
    // Server-server "Backfilling": paging back past the start of what this server has asks other servers.
    if (q.dir === "b" && exhausted && kept.length < limit && this.backfiller && !to) {
      const depth = lastScanned?.depth ?? from?.depth ?? 0;
      if ((await withTimeout(this.backfiller(roomId, depth, limit - kept.length), BACKFILL_WAIT_MS)) > 0) {
        ({ kept, lastScanned, exhausted } = await this.scan(viewer.userId, roomId, q.dir, from, to, limit, q.filter));
      }
    }
    const body: JsonObject = { chunk: await this.d.formatter.format(kept, viewer), start };
    // "end" whenever more may follow: a page that returned events always has one (as deployed
    // servers do; forwards, new events may arrive, and the next page from there may be empty).
    if (lastScanned && (!exhausted || kept.length > 0)) body.end = formatTopoToken(q.dir === "b" ? gapBefore(lastScanned) : lastScanned);
    else if (!exhausted && limit === 0) body.end = start;
    if (q.filter.lazy_load_members) body.state = await this.memberStateFor(viewer, kept);
    return body;
  }

  /** lazy_load_members: the membership events of the senders of `events`, at the latest of them. */
  private async memberStateFor(viewer: Viewer, events: readonly LoadedEvent[]): Promise<JsonObject[]> {
    if (events.length === 0) return [];
    const latest = events.reduce((a, b) => (compareTopo({ depth: a.row.depth, stream: a.row.streamOrdering }, { depth: b.row.depth, stream: b.row.streamOrdering }) >= 0 ? a : b));
    const senders = [...new Set(events.map((e) => e.row.sender))];
    const keys = senders.map((s) => stateMapKey("m.room.member", s));
    const members = await this.d.store.stateEvents(await this.d.store.stateGroupKeys(latest.row.stateAfter, keys), keys);
    return this.d.formatter.format([...members.values()], viewer);
  }

  async context(viewer: Viewer, roomId: string, eventId: string, limit: number, filter: RoomEventFilter): Promise<JsonObject> {
    await this.requireHistoryAccess(viewer.userId, roomId);
    const e = await this.d.store.getEvent(eventId);
    if (!e || e.row.roomId !== roomId || e.row.streamOrdering > this.d.positions.persistedUpTo || !isServedToClients(e.row)) throw notFound("Event not found");
    if (!(await this.d.visibility.canSee(viewer.userId, e))) throw notFound("Event not found");
    const total = Math.min(Math.max(filter.limit ?? limit, 0), 1000);
    const beforeLimit = Math.floor(total / 2);
    const afterLimit = total - beforeLimit;
    const key = { depth: e.row.depth, stream: e.row.streamOrdering };
    const before = beforeLimit > 0 ? await this.scan(viewer.userId, roomId, "b", gapBefore(key), undefined, beforeLimit, filter) : undefined;
    const after = afterLimit > 0 ? await this.scan(viewer.userId, roomId, "f", key, undefined, afterLimit, filter) : undefined;
    const startKey = before?.lastScanned ? gapBefore(before.lastScanned) : gapBefore(key);
    const endKey = after?.lastScanned ?? key;
    const lastEvent = after?.kept.length ? after.kept[after.kept.length - 1]! : e;
    const stateIds = await this.d.store.stateGroup(lastEvent.row.stateAfter);
    let stateEvents: LoadedEvent[];
    if (filter.lazy_load_members) {
      const all = [e, ...(before?.kept ?? []), ...(after?.kept ?? [])];
      const senders = [...new Set(all.map((x) => x.row.sender))];
      const keys = [...stateIds.keys()].filter((k) => !k.startsWith(`${"m.room.member".length}:m.room.member`));
      keys.push(...senders.map((s) => stateMapKey("m.room.member", s)));
      stateEvents = [...(await this.d.store.stateEvents(stateIds, keys)).values()];
    } else {
      stateEvents = [...(await this.d.store.stateEvents(stateIds)).values()];
    }
    return {
      event: await this.d.formatter.formatOne(e, viewer),
      events_before: await this.d.formatter.format(before?.kept ?? [], viewer),
      events_after: await this.d.formatter.format(after?.kept ?? [], viewer),
      start: formatTopoToken(startKey),
      end: formatTopoToken(endKey),
      state: await this.d.formatter.format(stateEvents, viewer),
    };
  }

  /** Events around `e` the viewer may see (for /search `event_context`). */
  async around(viewer: Viewer, e: LoadedEvent, beforeLimit: number, afterLimit: number): Promise<JsonObject> {
    const key = { depth: e.row.depth, stream: e.row.streamOrdering };
    const roomId = e.row.roomId;
    const before = beforeLimit > 0 ? await this.scan(viewer.userId, roomId, "b", gapBefore(key), undefined, beforeLimit, {}) : undefined;
    const after = afterLimit > 0 ? await this.scan(viewer.userId, roomId, "f", key, undefined, afterLimit, {}) : undefined;
    return {
      start: formatTopoToken(before?.lastScanned ? gapBefore(before.lastScanned) : gapBefore(key)),
      end: formatTopoToken(after?.lastScanned ?? key),
      events_before: await this.d.formatter.format(before?.kept ?? [], viewer),
      events_after: await this.d.formatter.format(after?.kept ?? [], viewer),
    };
  }

  /**
   * GET /rooms/{roomId}/initialSync (deprecated, kept for "Room Previews" and
   * older clients): the state and the latest `limit` messages, oldest first. A
   * user who left sees the room as it was when they left.
   */
  async roomInitialSync(viewer: Viewer, roomId: string, limit = 20): Promise<JsonObject> {
    await this.requireHistoryAccess(viewer.userId, roomId);
    const m = await this.d.state.membership(roomId, viewer.userId);
    let from: string | undefined;
    if (m && (m.membership === "leave" || m.membership === "ban") && !(await this.isWorldReadable(roomId))) {
      const left = await this.d.store.getEvent(m.eventId);
      if (left) from = formatTopoToken({ depth: left.row.depth, stream: left.row.streamOrdering });
    }
    const page = await this.messages(viewer, roomId, { dir: "b", from, limit, filter: {} });
    const chunk = Array.isArray(page.chunk) ? [...page.chunk].reverse() : [];
    const out: JsonObject = {
      room_id: roomId,
      messages: { chunk, start: (page.end as string | undefined) ?? (page.start as string), end: page.start as string },
      state: await this.roomState(viewer, roomId),
      presence: [],
      receipts: [],
      account_data: [],
    };
    if (m) out.membership = m.membership;
    return out;
  }

  /** GET /rooms/{roomId}/timestamp_to_event: the closest event the viewer may see in that direction. */
  async timestampToEvent(viewer: Viewer, roomId: string, ts: number, dir: "b" | "f"): Promise<JsonObject> {
    await this.requireHistoryAccess(viewer.userId, roomId);
    const rv = await this.d.store.roomVersion(roomId);
    const rows = await this.d.events.nearTimestamp(roomId, ts, dir, 50, this.d.positions.persistedUpTo);
    const visible = await this.d.visibility.filter(viewer.userId, roomId, rows.map((r) => this.d.store.load(r, rv!)));
    const found = visible[0];
    if (!found) throw notFound(`No event found ${dir === "f" ? "after" : "before"} ${ts}`);
    return { event_id: found.row.eventId, origin_server_ts: found.row.originServerTs };
  }

  formatEvent(e: LoadedEvent, viewer: Viewer): Promise<JsonObject> {
    return this.d.formatter.formatOne(e, viewer);
  }

  /** Current state of a room for server-internal readers (directory, summaries). */
  async currentState(roomId: string, keys?: StateMapKey[]): Promise<LoadedEvent[]> {
    return this.currentStateEvents(roomId, keys);
  }
}

export function badToken(param: string): MatrixError {
  return new MatrixError(400, "M_INVALID_PARAM", `Invalid ${param}`);
}
