import { stateMapKey, type JsonObject } from "../core/index.js";
import { strippedState, type EventFormatter, type Viewer } from "../rooms/client-format.js";
import type { EventStore, LoadedEvent } from "../rooms/event-store.js";
import { formatTopoToken } from "../rooms/tokens.js";
import type { HistoryVisibility } from "../rooms/visibility.js";
import type { MembershipRow } from "../storage/room-state-repo.js";
import type { LastEventRef, MembershipAt, SyncRepo } from "../storage/sync-repo.js";
import { roomIncluded, timelineLimit, type Filter } from "./filter.js";
import { hasNameOrAlias, stateSection, STRIPPED_STATE_TYPES } from "./room-state.js";
import { loadTimelines, type TimelineRange, type TimelineResult } from "./room-timeline.js";
import type { StreamToken } from "./tokens.js";

export interface RoomsSectionDeps {
  repo: SyncRepo;
  store: EventStore;
  formatter: EventFormatter;
  visibility: HistoryVisibility;
  /** Current memberships of a user (rooms' RoomStateRepo.roomsOfUser). */
  roomsOfUser(userId: string, memberships: readonly string[]): Promise<MembershipRow[]>;
}

export interface RoomsRequest {
  viewer: Viewer;
  since: StreamToken | undefined;
  upto: StreamToken;
  filter: Filter;
  fullState: boolean;
  useStateAfter: boolean;
}

export interface JoinedRoom {
  summary?: JsonObject;
  state?: { events: JsonObject[] };
  state_after?: { events: JsonObject[] };
  timeline: { events: JsonObject[]; limited: boolean; prev_batch?: string };
  ephemeral: { events: JsonObject[] };
  account_data: { events: JsonObject[] };
  unread_notifications: { notification_count: number; highlight_count: number };
}

export interface LeftRoom {
  state?: { events: JsonObject[] };
  state_after?: { events: JsonObject[] };
  timeline: { events: JsonObject[]; limited: boolean; prev_batch?: string };
  account_data: { events: JsonObject[] };
}

export interface RoomsResult {
  join: Record<string, JoinedRoom>;
  invite: Record<string, { invite_state: { events: JsonObject[] } }>;
  knock: Record<string, { knock_state: { events: JsonObject[] } }>;
  leave: Record<string, LeftRoom>;
  /** Rooms the user is joined to at `upto` (for ephemeral events, notifier keys). */
  joinedRoomIds: string[];
  /** Rooms that must appear in `join` even when empty (initial sync, new joins). */
  forcedJoined: Set<string>;
  /** Rooms the user newly joined or left in this window (device list tracking). */
  newlyJoined: string[];
  newlyLeft: string[];
}

const ALL_MEMBERSHIPS = ["join", "invite", "knock", "leave", "ban"];
const HEROES = 5;

interface Classified {
  roomId: string;
  at: MembershipAt;
  /** Membership at `since` (undefined: none, or initial sync). */
  before: string | undefined;
}

/**
 * The `rooms` part of a /sync response: which rooms go where (from the
 * user's membership at `since` and at `upto`), and for joined and left rooms
 * their timeline, state and summary.
 */
export class RoomsSection {
  constructor(private readonly d: RoomsSectionDeps) {}

  async build(req: RoomsRequest): Promise<RoomsResult> {
    const userId = req.viewer.userId;
    const since = req.since?.events;
    const upto = req.upto.events;
    const rows = (await this.d.roomsOfUser(userId, ALL_MEMBERSHIPS)).filter((r) => !r.forgotten);

    // Membership at `upto`: the current row, unless it moved past `upto` while we read.
    const at = new Map<string, MembershipAt>();
    const ahead: string[] = [];
    for (const r of rows) {
      if (r.streamOrdering <= upto) at.set(r.roomId, { roomId: r.roomId, membership: r.membership, eventId: r.eventId, streamOrdering: r.streamOrdering });
      else ahead.push(r.roomId);
    }
    for (const [roomId, m] of await this.d.repo.membershipsAt(userId, ahead, upto)) at.set(roomId, m);

    // Membership at `since`, for rooms whose membership changed after it.
    const changed = since === undefined ? [] : [...at.values()].filter((m) => m.streamOrdering > since).map((m) => m.roomId);
    const before = since === undefined ? new Map<string, MembershipAt>() : await this.d.repo.membershipsAt(userId, changed, since);

    const includeLeave = req.filter.room?.include_leave === true;
    const joinedAll: Classified[] = [];
    const invites: Classified[] = [];
    const knocks: Classified[] = [];
    const lefts: Classified[] = [];
    for (const m of at.values()) {
      const moved = since === undefined || m.streamOrdering > since;
      const prev = since === undefined ? undefined : moved ? before.get(m.roomId)?.membership : m.membership;
      const c: Classified = { roomId: m.roomId, at: m, before: prev };
      if (m.membership === "join") joinedAll.push(c);
      else if (!roomIncluded(req.filter, m.roomId)) continue;
      else if (m.membership === "invite" && moved) invites.push(c);
      else if (m.membership === "knock" && moved) knocks.push(c);
      else if ((m.membership === "leave" || m.membership === "ban") && (since === undefined ? includeLeave : moved)) {
        // A room the user had already left at `since` shows again only with include_leave.
        if (since !== undefined && (prev === "leave" || prev === "ban") && !includeLeave) continue;
        lefts.push(c);
      }
    }

    const joined = joinedAll.filter((c) => roomIncluded(req.filter, c.roomId));
    const isNew = (c: Classified) => since === undefined || c.before !== "join";
    const newlyJoined = joined.filter((c) => since !== undefined && c.before !== "join").map((c) => c.roomId);
    const forcedJoined = new Set(joined.filter(isNew).map((c) => c.roomId));

    // Every joined room's window is read in one query; on an incremental sync the
    // rooms without events in it drop out (unless newly joined or full_state).
    const ranges: TimelineRange[] = joined.map((c) => ({
      roomId: c.roomId,
      since: isNew(c) ? 0 : since!,
      upto,
      joinedSince: c.at.streamOrdering,
    }));
    const limit = timelineLimit(req.filter.room?.timeline);
    const timelines = await loadTimelines(this.d, userId, ranges, limit, req.filter.room?.timeline);
    const active = joined.filter((c) => isNew(c) || req.fullState || timelines.get(c.roomId)?.anyEvents === true);
    const tlOf = (roomId: string): TimelineResult => timelines.get(roomId) ?? { events: [], limited: false, complete: false, anyEvents: false };
    // The room's last event at `upto` is the timeline's last event when the timeline is complete.
    const endAt = await this.d.repo.lastEventsAt(
      active.filter((c) => !(tlOf(c.roomId).complete && tlOf(c.roomId).events.length > 0)).map((c) => c.roomId),
      upto,
    );
    // The state at `since` matters only where the timeline does not bridge the gap by itself.
    const sinceAt =
      since === undefined || req.fullState
        ? new Map<string, LastEventRef>()
        : await this.d.repo.lastEventsAt(
            active.filter((c) => !isNew(c) && (req.useStateAfter || !tlOf(c.roomId).complete)).map((c) => c.roomId),
            since,
          );
    const fullIds = active.filter((c) => isNew(c) || req.fullState).map((c) => c.roomId);
    const heroRows = await this.heroes(fullIds, userId);

    const result: RoomsResult = {
      join: {},
      invite: {},
      knock: {},
      leave: {},
      joinedRoomIds: joinedAll.map((c) => c.roomId),
      forcedJoined,
      newlyJoined,
      newlyLeft: lefts.filter((c) => c.before === "join").map((c) => c.roomId),
    };

    const summaries: Array<{ roomId: string; named: boolean }> = [];
    for (const c of active) {
      const tl = tlOf(c.roomId);
      const full = isNew(c) || req.fullState;
      const last = tl.events[tl.events.length - 1];
      const end = endAt.get(c.roomId) ?? (last ? { stateAfter: last.row.stateAfter, depth: last.row.depth, streamOrdering: last.row.streamOrdering } : undefined);
      // undefined: full state; a complete timeline starts exactly at the client's state.
      const sinceGroup = full ? undefined : !req.useStateAfter && tl.complete ? (tl.events[0]?.row.stateBefore ?? end?.stateAfter ?? null) : (sinceAt.get(c.roomId)?.stateAfter ?? null);
      const built = await this.roomBody(req, c.roomId, tl, end, sinceGroup, full, heroRows.get(c.roomId) ?? []);
      result.join[c.roomId] = {
        ...built.body,
        ephemeral: { events: [] },
        account_data: { events: [] },
        unread_notifications: { notification_count: 0, highlight_count: 0 },
      };
      if (full || built.membersChanged) summaries.push({ roomId: c.roomId, named: built.named });
    }
    // Room summaries: on full syncs, and when membership changed.
    const summaryIds = summaries.map((x) => x.roomId);
    const counts = await this.d.repo.memberCounts(summaryIds);
    const moreHeroes = await this.heroes(
      summaryIds.filter((id) => !heroRows.has(id)),
      userId,
    );
    for (const { roomId, named } of summaries) {
      const count = counts.get(roomId) ?? { joined: 0, invited: 0 };
      const summary: JsonObject = { "m.joined_member_count": count.joined, "m.invited_member_count": count.invited };
      if (!named) summary["m.heroes"] = heroRows.get(roomId) ?? moreHeroes.get(roomId) ?? [];
      result.join[roomId]!.summary = summary;
    }

    for (const c of invites) result.invite[c.roomId] = { invite_state: { events: await this.stripped(c.at) } };
    for (const c of knocks) result.knock[c.roomId] = { knock_state: { events: await this.stripped(c.at) } };

    for (const c of lefts) {
      // The timeline of a left room ends with the user's leave (or ban).
      const wasJoined = since !== undefined && c.before === "join";
      const roomSince = wasJoined ? since : 0;
      const tls = await loadTimelines(this.d, userId, [{ roomId: c.roomId, since: roomSince, upto: c.at.streamOrdering }], limit, req.filter.room?.timeline);
      const end = (await this.d.repo.lastEventsAt([c.roomId], c.at.streamOrdering)).get(c.roomId);
      const base = wasJoined ? ((await this.d.repo.lastEventsAt([c.roomId], since)).get(c.roomId)?.stateAfter ?? null) : undefined;
      const built = await this.roomBody(req, c.roomId, tls.get(c.roomId) ?? { events: [], limited: false, complete: false, anyEvents: false }, end, base, base === undefined, []);
      result.leave[c.roomId] = { ...built.body, account_data: { events: [] } };
    }
    return result;
  }

  /** Timeline and state of a joined or left room. `sinceGroup` undefined: full state. */
  private async roomBody(
    req: RoomsRequest,
    roomId: string,
    tl: TimelineResult,
    end: Pick<LastEventRef, "stateAfter" | "depth" | "streamOrdering"> | undefined,
    sinceGroup: number | null | undefined,
    full: boolean,
    heroes: string[],
  ): Promise<{ body: Pick<JoinedRoom, "state" | "state_after" | "timeline">; membersChanged: boolean; named: boolean }> {
    const userId = req.viewer.userId;
    const first = tl.events[0];
    const endGroup = end?.stateAfter ?? null;
    const startGroup = first ? first.row.stateBefore : endGroup;
    const named = hasNameOrAlias(await this.d.store.stateGroup(endGroup));
    const needed = new Set<string>(tl.events.map((e) => e.row.sender));
    // The user's own member event comes with the full state; later changes come as changes.
    if (full) needed.add(userId);
    // Lazy-loading: heroes' member events are needed only when clients name the room from them.
    if (!named) for (const h of heroes) needed.add(h);
    const stateFilter = req.filter.room?.state;
    const state = await stateSection(
      this.d.store,
      {
        roomId,
        target: req.useStateAfter ? endGroup : startGroup,
        since: sinceGroup,
        exclude: req.useStateAfter ? new Set() : new Set(tl.events.map((e) => e.row.eventId)),
        neededMembers: needed,
      },
      stateFilter,
    );
    const [timelineJson, stateJson] = await Promise.all([this.d.formatter.format(tl.events, req.viewer), this.d.formatter.format(state, req.viewer)]);
    const prevBatch = tl.prevBatch ?? (end ? formatTopoToken({ depth: end.depth, stream: end.streamOrdering }) : undefined);
    const timeline: JoinedRoom["timeline"] = { events: timelineJson, limited: tl.limited };
    if (prevBatch !== undefined) timeline.prev_batch = prevBatch;
    const body: Pick<JoinedRoom, "state" | "state_after" | "timeline"> = { timeline };
    if (req.useStateAfter) body.state_after = { events: stateJson };
    else body.state = { events: stateJson };
    // Membership changed: member events in the timeline, or member state the client did not have.
    const base = sinceGroup === undefined ? undefined : await this.d.store.stateGroup(sinceGroup);
    const membersChanged =
      sinceGroup === undefined ||
      tl.events.some((e) => e.row.type === "m.room.member") ||
      state.some((e) => e.row.type === "m.room.member" && base?.get(stateMapKey("m.room.member", e.row.stateKey ?? "")) !== e.row.eventId);
    return { body, membersChanged, named };
  }

  private async heroes(roomIds: string[], userId: string): Promise<Map<string, string[]>> {
    const rows = new Map<string, Array<{ userId: string; membership: string; streamOrdering: number }>>();
    for (const h of await this.d.repo.heroCandidates(roomIds, userId, HEROES)) {
      const list = rows.get(h.roomId) ?? [];
      list.push(h);
      rows.set(h.roomId, list);
    }
    return new Map([...rows].map(([roomId, list]) => [roomId, pickHeroes(list)]));
  }

  /** invite_state / knock_state: the room's stripped state at the membership event, and that event. */
  private async stripped(m: MembershipAt): Promise<JsonObject[]> {
    const own = await this.d.store.getEvent(m.eventId);
    if (!own) return [];
    const state = await this.d.store.stateGroup(own.row.stateAfter);
    const keys = STRIPPED_STATE_TYPES.map((t) => stateMapKey(t, ""));
    keys.push(stateMapKey("m.room.member", own.row.sender));
    const events = await this.d.store.stateEvents(state, keys);
    const list: LoadedEvent[] = [...events.values()].filter((e) => e.row.eventId !== own.row.eventId);
    const out = list.map((e) => strippedState(e));
    // The user's own membership event, so clients know who invited them and when.
    out.push({ ...strippedState(own), event_id: own.row.eventId, origin_server_ts: own.row.originServerTs });
    return out;
  }
}

/** m.heroes: joined/invited members first (by stream ordering), else those who left. */
function pickHeroes(rows: Array<{ userId: string; membership: string; streamOrdering: number }>): string[] {
  const active = rows.filter((r) => r.membership === "join" || r.membership === "invite");
  const pool = active.length > 0 ? active : rows;
  return pool
    .sort((a, b) => a.streamOrdering - b.streamOrdering)
    .slice(0, HEROES)
    .map((r) => r.userId);
}
