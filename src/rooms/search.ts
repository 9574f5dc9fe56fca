import { getOwn, isJsonObject, stateMapKey, type JsonObject } from "../core/index.js";
import { MatrixError } from "../http/errors.js";
import type { RoomStateRepo } from "../storage/room-state-repo.js";
import { toPrefixQuery, type SearchHit, type SearchRepo } from "../storage/search-repo.js";
import type { EventFormatter, Viewer } from "./client-format.js";
import { matchesFilter, parseRoomEventFilter } from "./event-filter.js";
import type { EventStore, LoadedEvent } from "./event-store.js";
import type { IgnoredUsers } from "./ignored-users.js";
import type { RoomReader } from "./room-reader.js";
import type { PositionTracker } from "./stream-positions.js";
import type { HistoryVisibility } from "./visibility.js";

export interface SearchDeps {
  repo: SearchRepo;
  state: RoomStateRepo;
  store: EventStore;
  visibility: HistoryVisibility;
  formatter: EventFormatter;
  reader: RoomReader;
  positions: PositionTracker;
  ignored: IgnoredUsers;
}

export interface RoomEventsCriteria {
  search_term: string;
  keys?: string[];
  filter?: JsonObject;
  order_by?: "rank" | "recent";
  event_context?: { before_limit?: number; after_limit?: number; include_profile?: boolean };
  include_state?: boolean;
  groupings?: { group_by?: Array<{ key?: string }> };
}

const ALL_KEYS = ["content.body", "content.name", "content.topic"];
const DEFAULT_LIMIT = 10;
const MAX_LIMIT = 100;
const MAX_CONTEXT = 20;

function stringList(v: unknown): string[] | undefined {
  return Array.isArray(v) && v.every((s) => typeof s === "string") ? (v as string[]) : undefined;
}

/**
 * Client-server "Server Side Search" (POST /search, category room_events):
 * PostgreSQL full-text search over the rooms the user is joined to, history
 * visibility and ignored users applied, ranked or newest first.
 */
export class RoomSearch {
  constructor(private readonly d: SearchDeps) {}

  async search(viewer: Viewer, c: RoomEventsCriteria, nextBatch: string | undefined): Promise<JsonObject> {
    const keys = c.keys ?? ALL_KEYS;
    const badKey = keys.find((k) => !ALL_KEYS.includes(k));
    if (badKey !== undefined) throw new MatrixError(400, "M_INVALID_PARAM", `Unknown search key ${badKey}`);
    const filter = parseRoomEventFilter(c.filter ? JSON.stringify(c.filter) : undefined);
    const limit = Math.min(filter.limit ?? DEFAULT_LIMIT, MAX_LIMIT);
    const orderBy = c.order_by ?? "rank";
    // next_batch: `o<offset>` in rank order; `r<stream>` (older than that position) in recent
    // order, so new messages arriving between pages cannot shift or repeat results.
    let offset = 0;
    let beforeStream: number | undefined;
    if (nextBatch !== undefined) {
      const m = (orderBy === "rank" ? /^o(\d{1,9})$/ : /^r(-?\d{1,15})$/).exec(nextBatch);
      if (!m) throw new MatrixError(400, "M_INVALID_PARAM", "Invalid next_batch token");
      if (orderBy === "rank") offset = Number(m[1]);
      else beforeStream = Number(m[1]);
    }
    const joined = (await this.d.state.roomsOfUser(viewer.userId, ["join"])).map((m) => m.roomId);
    // Searching an upgraded room also searches its predecessors (as far as the user is still in them).
    const listed = stringList(c.filter?.rooms);
    const onlyRooms = listed ? await this.withPredecessors(listed) : undefined;
    const notRooms = new Set(stringList(c.filter?.not_rooms) ?? []);
    const roomIds = joined.filter((r) => (!onlyRooms || onlyRooms.includes(r)) && !notRooms.has(r));
    const ignored = await this.d.ignored.ignoredBy(viewer.userId);
    const tsquery = toPrefixQuery(c.search_term);
    const empty: JsonObject = { count: 0, results: [], highlights: [] };
    if (!tsquery || roomIds.length === 0 || limit === 0) return { search_categories: { room_events: empty } };

    const query = {
      tsquery,
      roomIds,
      keys,
      senders: filter.senders,
      notSenders: [...(filter.not_senders ?? []), ...ignored],
      orderBy,
      offset: 0,
      limit: Math.max(limit * 2, 20),
      maxStream: this.d.positions.persistedUpTo,
    } as const;

    // Pages of hits until `limit` visible ones are found; the token is the offset of the next unread hit.
    const kept: Array<{ hit: SearchHit; event: LoadedEvent }> = [];
    let cursor = offset;
    let cursorStream = beforeStream;
    let more = true;
    let scanned = 0;
    while (kept.length < limit && more) {
      const hits = await this.d.repo.search({ ...query, offset: orderBy === "rank" ? cursor : 0, beforeStream: cursorStream });
      more = hits.length === query.limit;
      const loaded = await this.d.store.getEvents(hits.map((h) => h.eventId));
      const candidates = hits.map((h) => loaded.get(h.eventId)).filter((e): e is LoadedEvent => !!e && matchesFilter(e, filter));
      const visible = new Set<LoadedEvent>();
      for (const roomId of new Set(candidates.map((e) => e.row.roomId))) {
        const inRoom = candidates.filter((e) => e.row.roomId === roomId);
        for (const e of await this.d.visibility.filter(viewer.userId, roomId, inRoom)) visible.add(e);
      }
      let consumed = 0;
      for (const h of hits) {
        consumed++;
        const e = loaded.get(h.eventId);
        if (e && visible.has(e)) kept.push({ hit: h, event: e });
        if (kept.length >= limit) break;
      }
      cursor += consumed;
      if (consumed > 0) cursorStream = hits[consumed - 1]!.streamOrdering;
      if (consumed < hits.length) more = true;
      scanned += consumed;
      if (scanned > 5000) break;
    }

    const formatted = await this.d.formatter.format(
      kept.map((k) => k.event),
      viewer,
    );
    const results: JsonObject[] = [];
    for (let i = 0; i < kept.length; i++) {
      const r: JsonObject = { rank: kept[i]!.hit.rank, result: formatted[i]! };
      if (c.event_context) r.context = await this.context(viewer, kept[i]!.event, c.event_context);
      results.push(r);
    }
    const body: JsonObject = {
      count: await this.d.repo.count(query),
      results,
      highlights: highlights(c.search_term),
    };
    if (more) body.next_batch = orderBy === "rank" ? `o${cursor}` : `r${cursorStream}`;
    if (c.include_state) {
      const state: JsonObject = {};
      for (const roomId of new Set(kept.map((k) => k.event.row.roomId))) {
        state[roomId] = await this.d.reader.roomState(viewer, roomId);
      }
      body.state = state;
    }
    const groupBy = (c.groupings?.group_by ?? []).map((g) => g.key).filter((k): k is string => k === "room_id" || k === "sender");
    if (groupBy.length) {
      const groups: JsonObject = {};
      for (const key of groupBy) {
        const g: Record<string, { results: string[]; order: number; next_batch?: string }> = {};
        for (const k of kept) {
          const id = key === "room_id" ? k.event.row.roomId : k.event.row.sender;
          g[id] ??= { results: [], order: Object.keys(g).length + 1 };
          g[id].results.push(k.event.row.eventId);
        }
        if (body.next_batch) for (const v of Object.values(g)) v.next_batch = body.next_batch as string;
        groups[key] = g;
      }
      body.groups = groups;
    }
    return { search_categories: { room_events: body } };
  }

  private async withPredecessors(roomIds: readonly string[]): Promise<string[]> {
    const out = new Set(roomIds);
    let frontier = [...roomIds];
    for (let depth = 0; depth < 10 && frontier.length; depth++) {
      const rows = await this.d.state.currentStateEventIds(frontier, ["m.room.create"]);
      const creates = await this.d.store.getEvents(rows.map((r) => r.eventId));
      frontier = [];
      for (const e of creates.values()) {
        const pred = getOwn(e.event.content, "predecessor");
        const id = isJsonObject(pred) ? getOwn(pred, "room_id") : undefined;
        if (typeof id === "string" && !out.has(id)) {
          out.add(id);
          frontier.push(id);
        }
      }
    }
    return [...out];
  }

  private async context(viewer: Viewer, e: LoadedEvent, ec: NonNullable<RoomEventsCriteria["event_context"]>): Promise<JsonObject> {
    const before = Math.min(ec.before_limit ?? 5, MAX_CONTEXT);
    const after = Math.min(ec.after_limit ?? 5, MAX_CONTEXT);
    const ctx = await this.d.reader.around(viewer, e, before, after);
    if (ec.include_profile) {
      const senders = new Set<string>([e.row.sender]);
      for (const list of [ctx.events_before, ctx.events_after]) {
        if (Array.isArray(list)) for (const x of list) if (isJsonObject(x) && typeof x.sender === "string") senders.add(x.sender);
      }
      // Profiles as of the result event (the state after it).
      const keys = [...senders].map((s) => stateMapKey("m.room.member", s));
      const members = await this.d.store.stateEvents(await this.d.store.stateGroupKeys(e.row.stateAfter, keys), keys);
      const info: JsonObject = {};
      for (const s of senders) {
        const m = members.get(stateMapKey("m.room.member", s));
        const entry: JsonObject = {};
        const dn = m ? getOwn(m.event.content, "displayname") : undefined;
        const av = m ? getOwn(m.event.content, "avatar_url") : undefined;
        if (typeof dn === "string") entry.displayname = dn;
        if (typeof av === "string") entry.avatar_url = av;
        info[s] = entry;
      }
      ctx.profile_info = info;
    }
    return ctx;
  }
}

function highlights(term: string): string[] {
  return [...new Set(term.toLowerCase().match(/[\p{L}\p{N}_]+/gu) ?? [])];
}
