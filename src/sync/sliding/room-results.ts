import { splitStateMapKey, stateMapKey, type JsonObject, type StateMapKey } from "../../core/index.js";
import type { EventFormatter, Viewer } from "../../rooms/client-format.js";
import type { EventStore, LoadedEvent, StateIds } from "../../rooms/event-store.js";
import { formatTopoToken } from "../../rooms/tokens.js";
import type { HistoryVisibility } from "../../rooms/visibility.js";
import type { SlidingSyncRepo } from "../../storage/sliding-sync-repo.js";
import type { SyncRepo } from "../../storage/sync-repo.js";
import { hasNameOrAlias } from "../room-state.js";
import { loadTimelines, type TimelineRange, type TimelineResult } from "../room-timeline.js";
import { strippedStateAt } from "../stripped-state.js";
import type { RequiredStateConfig } from "./required-state.js";
import { selectState, selectsKey } from "./required-state.js";
import type { RoomEntry } from "./room-list.js";

/** One room to put into a response, with the combined config of the rules it matched. */
export interface RoomWork {
  entry: RoomEntry;
  /** First time on this connection, or a changed config: the client replaces what it has. */
  initial: boolean;
  configs: RequiredStateConfig[];
  timelineLimit: number;
  /** Event position the connection already had the room up to (0: nothing). */
  sentUpto: number;
  /** Event position of the previous response (undefined on a new connection), for num_live. */
  liveSince: number | undefined;
  lists: string[];
}

export interface RoomResultsDeps {
  repo: SlidingSyncRepo;
  syncRepo: Pick<SyncRepo, "loadStateGroups" | "memberCounts" | "heroCandidates" | "timelineTails" | "timelinePage" | "currentStateAmong">;
  tails?: Pick<SyncRepo, "timelineTails">;
  store: EventStore;
  formatter: EventFormatter;
  visibility: HistoryVisibility;
  /** Stripped state sent with a membership held out of band (a remote invite or knock). */
  strippedStateOf?: (eventId: string) => Promise<JsonObject[] | undefined>;
  notificationCounts?: {
    counts(
      userId: string,
      roomIds: readonly string[],
      uptoEvents: number,
      rulesAt?: number,
    ): Promise<Map<string, { notification_count: number; highlight_count: number }>>;
  };
}

const MEMBER = "m.room.member";
const HEROES = 5;

interface Plan {
  w: RoomWork;
  tl: TimelineResult;
  end: StateIds;
  since: StateIds | undefined;
  endPos: { depth: number; stream: number } | undefined;
  stateIds: string[];
  stubs: Array<{ type: string; state_key: string }>;
}

/**
 * Builds MSC4186 `RoomResult`s. Timelines come from the same reader as
 * /sync (history visibility and ignored users applied the same way);
 * `required_state` is the room's state at the response (initial), or what
 * of it changed since the connection last had the room.
 */
export async function buildRoomResults(
  d: RoomResultsDeps,
  viewer: Viewer,
  uptoEvents: UptoPositions,
  work: readonly RoomWork[],
  dmRooms: ReadonlySet<string>,
  ignored: ReadonlySet<string>,
): Promise<Record<string, JsonObject>> {
  const out: Record<string, JsonObject> = {};
  const userId = viewer.userId;
  const upto = uptoEvents.events;
  const visible = work.filter((w) => w.entry.membership === "join" || w.entry.membership === "leave" || w.entry.membership === "ban");

  // Timelines, one batch per timeline limit.
  const timelines = new Map<string, TimelineResult>();
  const byLimit = new Map<number, RoomWork[]>();
  for (const w of visible) byLimit.set(w.timelineLimit, [...(byLimit.get(w.timelineLimit) ?? []), w]);
  const deps = { repo: d.syncRepo as SyncRepo, tails: d.tails, store: d.store, visibility: d.visibility, ignored };
  for (const [limit, list] of byLimit) {
    const ranges: TimelineRange[] = list.map((w) => {
      const joined = w.entry.membership === "join";
      return {
        roomId: w.entry.roomId,
        since: w.initial ? 0 : w.sentUpto,
        upto: joined ? upto : w.entry.membershipPos,
        joinedSince: joined ? w.entry.membershipPos : undefined,
      };
    });
    for (const [roomId, tl] of await loadTimelines(deps, userId, ranges, limit, undefined)) timelines.set(roomId, tl);
  }

  // State at the response and, for rooms the connection has, at what it has.
  const endRefs = new Map<string, { stateAfter: number | null; depth: number; stream: number }>();
  for (const w of visible) {
    if (w.entry.membership === "join") endRefs.set(w.entry.roomId, { stateAfter: w.entry.stateAfter, depth: w.entry.depth, stream: w.entry.activity });
  }
  const left = visible.filter((w) => w.entry.membership !== "join");
  for (const w of left) {
    const a = (await d.repo.lastActivity([w.entry.roomId], w.entry.membershipPos)).get(w.entry.roomId);
    if (a) endRefs.set(w.entry.roomId, { stateAfter: a.stateAfter, depth: a.depth, stream: a.streamOrdering });
  }
  const sinceGroups = new Map<string, number | null>();
  const bySince = new Map<number, string[]>();
  for (const w of visible) if (!w.initial) bySince.set(w.sentUpto, [...(bySince.get(w.sentUpto) ?? []), w.entry.roomId]);
  for (const [pos, roomIds] of bySince) for (const [roomId, a] of await d.repo.lastActivity(roomIds, pos)) sinceGroups.set(roomId, a.stateAfter);
  const groupIds = new Set<number>();
  for (const r of endRefs.values()) if (r.stateAfter !== null) groupIds.add(r.stateAfter);
  for (const g of sinceGroups.values()) if (g !== null) groupIds.add(g);
  const groups = groupIds.size > 4 ? await d.syncRepo.loadStateGroups([...groupIds]) : new Map<number, StateIds>();
  const groupOf = async (g: number | null | undefined): Promise<StateIds> =>
    g === undefined || g === null ? new Map() : (groups.get(g) ?? (await d.store.stateGroup(g)));

  const plans: Plan[] = [];
  for (const w of visible) {
    const roomId = w.entry.roomId;
    const tl = timelines.get(roomId) ?? { events: [], limited: false, complete: true, anyEvents: false };
    const ref = endRefs.get(roomId);
    const end = await groupOf(ref?.stateAfter);
    const since = w.initial ? undefined : await groupOf(sinceGroups.get(roomId));
    // $LAZY: the members the timeline shows (senders, and targets of member events).
    const needed = new Set<string>();
    for (const e of tl.events) {
      needed.add(e.row.sender);
      if (e.row.type === MEMBER && e.row.stateKey !== null) needed.add(e.row.stateKey);
    }
    const stateIds: string[] = [];
    const stubs: Array<{ type: string; state_key: string }> = [];
    if (since === undefined) {
      for (const k of selectState(w.configs, end, needed)) stateIds.push(end.get(k)!);
    } else {
      const keys = new Set<StateMapKey>([...end.keys(), ...since.keys()]);
      for (const k of keys) {
        const now = end.get(k);
        const lazyNeeded = now !== undefined && isMemberOf(k, needed) && w.configs.some((c) => c.lazyMembers);
        if (now === since.get(k) && !lazyNeeded) continue;
        if (!selectsKey(w.configs, k, needed)) continue;
        if (now !== undefined) stateIds.push(now);
        else {
          // A StateStub: the entry is gone from the room's state.
          const { type, stateKey } = splitStateMapKey(k);
          stubs.push({ type, state_key: stateKey });
        }
      }
    }
    plans.push({ w, tl, end, since, endPos: ref ? { depth: ref.depth, stream: ref.stream } : undefined, stateIds, stubs });
  }

  const stateEvents = await d.store.getEvents(plans.flatMap((p) => p.stateIds));
  // Name, avatar and the heroes' member events, from the state at the response.
  const metaKeys = plans
    .flatMap((p) => [p.end.get(stateMapKey("m.room.name", "")), p.end.get(stateMapKey("m.room.avatar", ""))])
    .filter((id): id is string => id !== undefined);
  const unnamed = plans.filter((p) => p.w.initial && !hasNameOrAlias(p.end)).map((p) => p.w.entry.roomId);
  const heroRows = await d.syncRepo.heroCandidates(unnamed, userId, HEROES);
  const heroesOf = new Map<string, string[]>();
  for (const h of heroRows.sort(
    (a, b) =>
      Number(b.membership === "join" || b.membership === "invite") - Number(a.membership === "join" || a.membership === "invite") ||
      a.streamOrdering - b.streamOrdering,
  )) {
    const list = heroesOf.get(h.roomId) ?? [];
    if (list.length < HEROES) list.push(h.userId);
    heroesOf.set(h.roomId, list);
  }
  const planOf = new Map(plans.map((p) => [p.w.entry.roomId, p]));
  const heroMemberIds = [...heroesOf].flatMap(([roomId, users]) =>
    users.map((u) => planOf.get(roomId)?.end.get(stateMapKey(MEMBER, u))).filter((id): id is string => id !== undefined),
  );
  const meta = await d.store.getEvents([...metaKeys, ...heroMemberIds]);

  const all: LoadedEvent[] = [];
  for (const p of plans) {
    all.push(...p.tl.events);
    for (const id of p.stateIds) {
      const e = stateEvents.get(id);
      if (e) all.push(e);
    }
  }
  // Bundled aggregations for limited timelines, as /sync.
  const bundled = new Set(plans.filter((p) => p.tl.limited).flatMap((p) => p.tl.events));
  const formatted = await d.formatter.format(all, viewer, { aggregateFor: (e) => bundled.has(e) });
  const formattedOf = new Map(all.map((e, i) => [e, formatted[i]!]));

  const joinedIds = plans.filter((p) => p.w.entry.membership === "join").map((p) => p.w.entry.roomId);
  const counts = await d.syncRepo.memberCounts(plans.map((p) => p.w.entry.roomId));
  const unread = d.notificationCounts && joinedIds.length ? await d.notificationCounts.counts(userId, joinedIds, upto, uptoEvents.account_data) : new Map();

  for (const p of plans) {
    const { w, tl } = p;
    const roomId = w.entry.roomId;
    const room: JsonObject = { membership: w.entry.membership, bump_stamp: w.entry.bumpStamp };
    if (w.lists.length) room.lists = w.lists;
    if (w.initial) room.initial = true;
    const nameEvent = meta.get(p.end.get(stateMapKey("m.room.name", "")) ?? "");
    const name = nameEvent?.event.content.name;
    if (typeof name === "string" && name !== "") room.name = name;
    else if (nameEvent && !w.initial) room.name = null;
    const avatarEvent = meta.get(p.end.get(stateMapKey("m.room.avatar", "")) ?? "");
    const avatar = avatarEvent?.event.content.url;
    if (typeof avatar === "string" && avatar !== "") room.avatar = avatar;
    const heroes = heroesOf.get(roomId);
    if (heroes) {
      room.heroes = heroes.map((u) => {
        const h: JsonObject = { user_id: u };
        const m = meta.get(p.end.get(stateMapKey(MEMBER, u)) ?? "")?.event.content;
        if (typeof m?.displayname === "string") h.displayname = m.displayname;
        if (typeof m?.avatar_url === "string") h.avatar_url = m.avatar_url;
        return h;
      });
    }
    room.is_dm = dmRooms.has(roomId);
    const state = p.stateIds.map((id) => stateEvents.get(id)).filter((e): e is LoadedEvent => e !== undefined);
    state.sort((a, b) => a.row.streamOrdering - b.row.streamOrdering);
    room.required_state = [...state.map((e) => formattedOf.get(e)!), ...(p.stubs as unknown as JsonObject[])];
    room.timeline = tl.events.map((e) => formattedOf.get(e)!);
    if (tl.limited) room.limited = true;
    const prevBatch = tl.prevBatch ?? (p.endPos ? formatTopoToken(p.endPos) : undefined);
    if (prevBatch !== undefined) room.prev_batch = prevBatch;
    const liveFrom = w.initial ? w.liveSince : w.sentUpto;
    room.num_live = liveFrom === undefined ? 0 : tl.events.filter((e) => e.row.streamOrdering > liveFrom).length;
    const c = counts.get(roomId) ?? { joined: 0, invited: 0 };
    room.joined_count = c.joined;
    room.invited_count = c.invited;
    const n = unread.get(roomId);
    if (w.entry.membership === "join") {
      room.notification_count = n?.notification_count ?? 0;
      room.highlight_count = n?.highlight_count ?? 0;
    }
    out[roomId] = room;
  }

  // Invites and knocks: stripped state only (MSC4186 "Invite/knock/rejections").
  for (const w of work) {
    if (w.entry.membership !== "invite" && w.entry.membership !== "knock") continue;
    const stripped = await strippedStateAt(d.store, w.entry.membershipEventId, d.strippedStateOf);
    const room: JsonObject = { membership: w.entry.membership, bump_stamp: w.entry.bumpStamp, stripped_state: stripped, initial: true };
    // The earlier name of the field, which matrix-js-sdk and Element X read.
    if (w.entry.membership === "invite") room.invite_state = stripped;
    if (w.lists.length) room.lists = w.lists;
    room.is_dm = dmRooms.has(w.entry.roomId);
    const nameEvent = stripped.find((e) => e.type === "m.room.name");
    const name = (nameEvent?.content as JsonObject | undefined)?.name;
    if (typeof name === "string" && name !== "") room.name = name;
    out[w.entry.roomId] = room;
  }
  return out;
}

export type UptoPositions = { events: number; account_data: number };

function isMemberOf(k: StateMapKey, users: ReadonlySet<string>): boolean {
  const { type, stateKey } = splitStateMapKey(k);
  return type === MEMBER && users.has(stateKey);
}
