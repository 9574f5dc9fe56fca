import { stateMapKey, type JsonObject } from "../core/index.js";
import type { EventFormatter, Viewer } from "../rooms/client-format.js";
import type { EventStore, LoadedEvent, StateIds } from "../rooms/event-store.js";
import { formatTopoToken } from "../rooms/tokens.js";
import { isIgnoredInvite, type IgnoredUsers } from "../rooms/ignored-users.js";
import { HistoryVisibility } from "../rooms/visibility.js";
import type { MembershipRow, RoomStateRepo } from "../storage/room-state-repo.js";
import type { LastEventRef, MembershipAt, SyncRepo } from "../storage/sync-repo.js";
import { roomIncluded, roomPasses, timelineLimit, type Filter } from "./filter.js";
import { filterStateEvents, hasNameOrAlias, stateSectionIds } from "./room-state.js";
import { strippedStateAt } from "./stripped-state.js";
import { LazyMembersSent, lazyMemberIds } from "./lazy-members.js";
import { loadTimelines, type TimelineRange, type TimelineResult } from "./room-timeline.js";
import type { StreamToken } from "./tokens.js";

export interface RoomsSectionDeps {
  repo: SyncRepo;
  /** First pages of timeline windows, shared by the syncs one notification wakes. */
  tails?: Pick<SyncRepo, "timelineTails">;
  store: EventStore;
  formatter: EventFormatter;
  /** The rooms' membership reads (roomsOfUser; membership for history visibility). */
  state: Pick<RoomStateRepo, "roomsOfUser" | "membership">;
  ignored: IgnoredUsers;
  /** Stripped state sent with a membership held out of band (a remote invite or knock). */
  strippedStateOf?: (eventId: string) => Promise<JsonObject[] | undefined>;
  /** Member events sent to each device under lazy-loading (default: a cache of its own). */
  lazySent?: LazyMembersSent;
}

type RoomBody = Pick<JoinedRoom, "state" | "state_after" | "timeline">;

interface RoomPlan {
  roomId: string;
  tl: TimelineResult;
  end: Pick<LastEventRef, "stateAfter" | "depth" | "streamOrdering"> | undefined;
  /** The state the client has; undefined: it gets the full state. */
  sinceGroup: number | null | undefined;
  full: boolean;
  heroes: string[];
}

const EMPTY_TIMELINE: TimelineResult = { events: [], limited: false, complete: false, anyEvents: false };

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
  unread_thread_notifications?: Record<string, { notification_count: number; highlight_count: number }>;
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
  /**
   * Membership changes of others in rooms joined before `since`, when the
   * timelines hold every event of the window (else undefined: read them).
   */
  memberChanges: Array<{ userId: string; membership: string }> | undefined;
}

const ALL_MEMBERSHIPS = ["join", "invite", "knock", "leave", "ban"];
const HEROES = 5;
const SMALL_BATCH = 4;

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
  private readonly lazySent: LazyMembersSent;

  constructor(private readonly d: RoomsSectionDeps) {
    this.lazySent = d.lazySent ?? new LazyMembersSent();
  }

  async build(req: RoomsRequest): Promise<RoomsResult> {
    const userId = req.viewer.userId;
    const since = req.since?.events;
    const upto = req.upto.events;
    const rows = (await this.d.state.roomsOfUser(userId, ALL_MEMBERSHIPS)).filter((r) => !r.forgotten);

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

    // Visibility as /messages applies it, reading this user's memberships from the rows above.
    const visibility = this.visibilityFor(userId, rows);
    const ignored = await this.d.ignored.ignoredBy(userId);
    const deps = { repo: this.d.repo, tails: this.d.tails, store: this.d.store, visibility, ignored };

    // Every joined room's window is read in one query; on an incremental sync the
    // rooms without events in it drop out (unless newly joined or full_state).
    const ranges: TimelineRange[] = joined.map((c) => ({
      roomId: c.roomId,
      since: isNew(c) ? 0 : since!,
      upto,
      joinedSince: c.at.streamOrdering,
    }));
    const limit = timelineLimit(req.filter.room?.timeline);
    const timelines = await loadTimelines(deps, userId, ranges, limit, req.filter.room?.timeline);
    const active = joined.filter((c) => isNew(c) || req.fullState || timelines.get(c.roomId)?.anyEvents === true);
    const tlOf = (roomId: string): TimelineResult => timelines.get(roomId) ?? EMPTY_TIMELINE;
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
    const fullIds = new Set(active.filter((c) => isNew(c) || req.fullState).map((c) => c.roomId));
    const heroRows = await this.heroes([...fullIds], userId);

    const plans: RoomPlan[] = active.map((c) => {
      const tl = tlOf(c.roomId);
      const full = fullIds.has(c.roomId);
      const last = tl.events[tl.events.length - 1];
      const end = endAt.get(c.roomId) ?? (last ? { stateAfter: last.row.stateAfter, depth: last.row.depth, streamOrdering: last.row.streamOrdering } : undefined);
      // undefined: full state; a complete timeline starts exactly at the client's state.
      const sinceGroup = full
        ? undefined
        : !req.useStateAfter && tl.complete
          ? (tl.events[0]?.row.stateBefore ?? end?.stateAfter ?? null)
          : (sinceAt.get(c.roomId)?.stateAfter ?? null);
      return { roomId: c.roomId, tl, end, sinceGroup, full, heroes: heroRows.get(c.roomId) ?? [] };
    });
    const built = await this.buildRooms(req, plans);

    const result: RoomsResult = {
      join: {},
      invite: {},
      knock: {},
      leave: {},
      joinedRoomIds: joinedAll.map((c) => c.roomId),
      forcedJoined,
      newlyJoined,
      newlyLeft: lefts.filter((c) => c.before === "join").map((c) => c.roomId),
      memberChanges: undefined,
    };
    const continuing = active.filter((c) => !isNew(c));
    if (since !== undefined && joined.length === joinedAll.length && continuing.every((c) => tlOf(c.roomId).complete)) {
      result.memberChanges = continuing.flatMap((c) =>
        tlOf(c.roomId)
          .events.filter((e) => e.row.type === "m.room.member" && e.row.stateKey !== null)
          .map((e) => ({ userId: e.row.stateKey!, membership: typeof e.event.content.membership === "string" ? e.event.content.membership : "leave" })),
      );
    }
    const summaries: Array<{ roomId: string; named: boolean }> = [];
    for (const [i, plan] of plans.entries()) {
      const b = built[i]!;
      result.join[plan.roomId] = {
        ...b.body,
        ephemeral: { events: [] },
        account_data: { events: [] },
        unread_notifications: { notification_count: 0, highlight_count: 0 },
      };
      if (plan.full || b.membersChanged) summaries.push({ roomId: plan.roomId, named: b.named });
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

    for (const c of invites) {
      const events = await this.stripped(c.at);
      // "Servers must not send room invites from ignored users to clients."
      const inviter = events.find((e) => e.type === "m.room.member" && e.state_key === userId)?.sender;
      if (typeof inviter === "string" && isIgnoredInvite(inviter, ignored)) continue;
      result.invite[c.roomId] = { invite_state: { events } };
    }
    for (const c of knocks) result.knock[c.roomId] = { knock_state: { events: await this.stripped(c.at) } };

    for (const c of lefts) {
      // The timeline of a left room ends with the user's leave (or ban).
      const wasJoined = since !== undefined && c.before === "join";
      const roomSince = wasJoined ? since : 0;
      const tls = await loadTimelines(deps, userId, [{ roomId: c.roomId, since: roomSince, upto: c.at.streamOrdering }], limit, req.filter.room?.timeline);
      const end = (await this.d.repo.lastEventsAt([c.roomId], c.at.streamOrdering)).get(c.roomId);
      const base = wasJoined ? ((await this.d.repo.lastEventsAt([c.roomId], since)).get(c.roomId)?.stateAfter ?? null) : undefined;
      const [b] = await this.buildRooms(req, [
        { roomId: c.roomId, tl: tls.get(c.roomId) ?? EMPTY_TIMELINE, end, sinceGroup: base, full: base === undefined, heroes: [] },
      ]);
      result.leave[c.roomId] = { ...b!.body, account_data: { events: [] } };
    }
    return result;
  }

  /**
   * Timeline and state of joined or left rooms, with the state groups, state
   * events and client formatting of all of them read in batches.
   */
  private async buildRooms(req: RoomsRequest, plans: RoomPlan[]): Promise<Array<{ body: RoomBody; membersChanged: boolean; named: boolean }>> {
    const groupIds = new Set<number>();
    for (const p of plans) {
      const first = p.tl.events[0];
      for (const g of [p.end?.stateAfter, first?.row.stateBefore, p.sinceGroup]) if (g !== undefined && g !== null) groupIds.add(g);
    }
    // Many rooms (initial sync): one batched read. A few (incremental): the store's cache.
    const groups = groupIds.size > SMALL_BATCH ? await this.d.repo.loadStateGroups([...groupIds]) : new Map<number, StateIds>();
    const groupOf = async (g: number | null | undefined): Promise<StateIds> => {
      if (g === undefined || g === null) return new Map();
      return groups.get(g) ?? (await this.d.store.stateGroup(g));
    };
    const stateFilter = req.filter.room?.state;
    const lazy = stateFilter?.lazy_load_members === true;
    const redundant = stateFilter?.include_redundant_members === true;
    const userId = req.viewer.userId;

    const perRoom: Array<{ ids: string[]; named: boolean; base: StateIds | undefined }> = [];
    for (const p of plans) {
      const endState = await groupOf(p.end?.stateAfter);
      const first = p.tl.events[0];
      const named = hasNameOrAlias(endState);
      const targetGroup = req.useStateAfter || !first ? p.end?.stateAfter : first.row.stateBefore;
      const target = req.useStateAfter || !first ? endState : await groupOf(first.row.stateBefore);
      // The same group is the same state: stateSectionIds then skips comparing it entry by entry.
      const base = p.sinceGroup === undefined ? undefined : p.sinceGroup === targetGroup ? target : await groupOf(p.sinceGroup);
      const excluded = req.useStateAfter ? new Set<string>() : new Set(p.tl.events.map((e) => e.row.eventId));
      let lazyIds: string[] | undefined;
      if (lazy) {
        const extra: string[] = [];
        // The user's own member event comes with the full state; later changes come as changes.
        if (p.full) extra.push(userId);
        // Heroes' member events are needed only when clients name the room from them.
        if (!named) extra.push(...p.heroes);
        if (p.full) this.lazySent.reset(userId, req.viewer.deviceId, p.roomId);
        lazyIds = lazyMemberIds({
          timeline: p.tl.events,
          target,
          extra,
          mode: req.useStateAfter ? "after" : p.full ? "full" : "incremental",
          sent: redundant ? undefined : this.lazySent.sent(userId, req.viewer.deviceId, p.roomId),
        });
      }
      const ids = roomPasses(stateFilter, p.roomId) ? stateSectionIds({ target, since: base, exclude: excluded, lazyMembers: lazyIds }) : [];
      perRoom.push({ ids, named, base });
    }
    const loaded = await this.d.store.getEvents(perRoom.flatMap((r) => r.ids));
    const states = perRoom.map((r) => filterStateEvents(r.ids.map((id) => loaded.get(id)).filter((e): e is LoadedEvent => e !== undefined), stateFilter));
    if (lazy) {
      // Remember what each room's state and timeline gave the device, so later syncs can skip it.
      for (const [i, p] of plans.entries()) {
        const members = [...p.tl.events, ...states[i]!].filter((e) => e.row.type === "m.room.member" && e.row.stateKey !== null);
        this.lazySent.record(userId, req.viewer.deviceId, p.roomId, members.map((e) => [e.row.stateKey!, e.row.eventId] as [string, string]));
      }
    }

    // One formatting pass for every room (transaction ids and related events in one query each).
    const all = plans.flatMap((p, i) => [...p.tl.events, ...states[i]!]);
    // Bundled aggregations only for limited timelines (spec "Aggregations of child events").
    const bundled = new Set(plans.filter((p) => p.tl.limited).flatMap((p) => p.tl.events));
    const clientFormat = await this.d.formatter.format(all, req.viewer, { aggregateFor: (e) => bundled.has(e) });
    // Filter "event_format": federation returns the events as the server stores them (PDUs).
    const formatted = req.filter.event_format === "federation" ? all.map((e, i) => federationFormat(e, clientFormat[i]!)) : clientFormat;
    let at = 0;
    return plans.map((p, i) => {
      const timelineJson = formatted.slice(at, at + p.tl.events.length);
      at += p.tl.events.length;
      const stateJson = formatted.slice(at, at + states[i]!.length);
      at += states[i]!.length;
      const prevBatch = p.tl.prevBatch ?? (p.end ? formatTopoToken({ depth: p.end.depth, stream: p.end.streamOrdering }) : undefined);
      const timeline: RoomBody["timeline"] = { events: timelineJson, limited: p.tl.limited };
      if (prevBatch !== undefined) timeline.prev_batch = prevBatch;
      const body: RoomBody = { timeline };
      if (req.useStateAfter) body.state_after = { events: stateJson };
      else body.state = { events: stateJson };
      // Membership changed: member events in the timeline, or member state the client did not have.
      const base = perRoom[i]!.base;
      const membersChanged =
        base === undefined ||
        p.tl.events.some((e) => e.row.type === "m.room.member") ||
        states[i]!.some((e) => e.row.type === "m.room.member" && base.get(stateMapKey("m.room.member", e.row.stateKey ?? "")) !== e.row.eventId);
      return { body, membersChanged, named: perRoom[i]!.named };
    });
  }

  /** HistoryVisibility with this user's memberships served from rows already read. */
  private visibilityFor(userId: string, rows: readonly MembershipRow[]): HistoryVisibility {
    const byRoom = new Map(rows.map((r) => [r.roomId, r]));
    const state = this.d.state;
    const proxy = {
      membership: (roomId: string, uid: string) => (uid === userId ? Promise.resolve(byRoom.get(roomId)) : state.membership(roomId, uid)),
    };
    return new HistoryVisibility(this.d.store, proxy as unknown as RoomStateRepo);
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
  private stripped(m: MembershipAt): Promise<JsonObject[]> {
    return strippedStateAt(this.d.store, m.eventId, this.d.strippedStateOf);
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

/** An event in the federation format: the stored PDU with its id (and, once redacted, the redacted content). */
function federationFormat(e: LoadedEvent, client: JsonObject): JsonObject {
  const out: JsonObject = { ...(e.pdu as unknown as JsonObject), event_id: e.row.eventId };
  if (e.row.redactedBy) out.content = client.content as JsonObject;
  if (client.unsigned !== undefined) out.unsigned = client.unsigned;
  return out;
}
