import type { JsonObject } from "../core/index.js";
import type { PresenceService } from "../ephemeral/presence.js";
import type { ReceiptsService } from "../ephemeral/receipts.js";
import type { EventFormatter, Viewer } from "../rooms/client-format.js";
import type { EventStore, LoadedEvent } from "../rooms/event-store.js";
import type { RoomReader } from "../rooms/room-reader.js";
import type { HistoryVisibility } from "../rooms/visibility.js";
import type { AccountDataRow } from "../storage/account-data-repo.js";
import type { RoomStateRepo } from "../storage/room-state-repo.js";
import type { RoomsRepo } from "../storage/rooms-repo.js";
import type { SyncRepo } from "../storage/sync-repo.js";
import type { Notifier } from "./notifier.js";
import type { SyncService } from "./sync-service.js";
import { formatStreamToken, maxToken, parseStreamToken, type StreamToken } from "./tokens.js";

export interface LegacyStreamDeps {
  sync: SyncService;
  repo: SyncRepo;
  store: EventStore;
  state: Pick<RoomStateRepo, "roomsOfUser" | "membership" | "membersOfRoom">;
  rooms: Pick<RoomsRepo, "get">;
  visibility: HistoryVisibility;
  formatter: EventFormatter;
  reader: RoomReader;
  notifier: Notifier;
  presence: PresenceService;
  receipts: ReceiptsService;
  accountData: { changedSince(userId: string, since: number, upTo?: number): Promise<AccountDataRow[]> };
  now?: () => number;
}

// The non-room streams are read through /sync with nothing of the rooms' timelines or state.
const EPHEMERAL_ONLY_FILTER = JSON.stringify({ room: { timeline: { limit: 0 }, state: { types: [] } } });
const MAX_TIMEOUT_MS = 5 * 60_000;

type SyncBody = {
  rooms: { join: Record<string, SyncRoom>; leave: Record<string, SyncRoom> };
  presence: { events: JsonObject[] };
  account_data: { events: JsonObject[] };
  next_batch: string;
};
type SyncRoom = { ephemeral?: { events: JsonObject[] }; account_data?: { events: JsonObject[] } };

/**
 * The version-1 client format that the deprecated APIs (GET /events,
 * /initialSync, /rooms/{roomId}/initialSync) still serve: the sender again as
 * `user_id`, and `age`, `prev_content` and `redacted_because` at the top level
 * as well as in `unsigned`.
 */
export function legacyEvent(e: JsonObject): JsonObject {
  const out: JsonObject = { ...e };
  if (typeof e.sender === "string") out.user_id = e.sender;
  const unsigned = e.unsigned;
  if (unsigned && typeof unsigned === "object" && !Array.isArray(unsigned)) {
    for (const key of ["age", "prev_content", "redacted_because", "replaces_state"]) {
      const v = (unsigned as JsonObject)[key];
      if (v !== undefined) out[key] = v;
    }
  }
  return out;
}

/** m.presence events as the v1 APIs show them: the user named in the content too. */
function legacyPresence(e: JsonObject): JsonObject {
  const content: JsonObject = { ...(e.content as JsonObject), user_id: e.sender as string };
  if (content.status_msg === undefined) content.status_msg = null;
  return { ...e, content };
}

/**
 * The deprecated event stream and initial sync of the client-server API's
 * earlier versions, which deployed clients, bots and test suites still call:
 * GET /events (every room the user is in, plus receipts, typing, presence and
 * account data, `limit` room events at a time in stream order) and
 * GET /initialSync. Their tokens are /sync tokens.
 */
export class LegacyStream {
  private readonly now: () => number;

  constructor(private readonly d: LegacyStreamDeps) {
    this.now = d.now ?? Date.now;
  }

  async events(viewer: Viewer, from: StreamToken | undefined, timeoutMs: number, limit: number, signal?: AbortSignal): Promise<JsonObject> {
    const start = from ?? this.d.sync.currentToken();
    const deadline = this.now() + Math.min(timeoutMs, MAX_TIMEOUT_MS);
    let cursor = start;
    for (;;) {
      // Never behind the cursor: another process of a cluster may have issued it.
      const upto = maxToken(this.d.sync.currentToken(), cursor);
      const { chunk, end, joined } = await this.collect(viewer, cursor, upto, limit);
      const remaining = deadline - this.now();
      if (chunk.length > 0 || remaining <= 0 || signal?.aborted) return { start: formatStreamToken(start), end: formatStreamToken(end), chunk };
      cursor = end;
      const woken = await this.d.notifier.wait({ userIds: [viewer.userId], roomIds: joined }, end, remaining, signal);
      if (!woken) return { start: formatStreamToken(start), end: formatStreamToken(end), chunk: [] };
    }
  }

  /** Everything after `from` up to `upto`: room events first (at most `limit`), then the other streams. */
  private async collect(
    viewer: Viewer,
    from: StreamToken,
    upto: StreamToken,
    limit: number,
  ): Promise<{ chunk: JsonObject[]; end: StreamToken; joined: string[] }> {
    const memberships = await this.d.state.roomsOfUser(viewer.userId, ["join", "invite", "knock", "leave", "ban"]);
    // Rooms left before the window have nothing more for this user.
    const roomIds = memberships
      .filter((m) => m.membership === "join" || m.membership === "invite" || m.membership === "knock" || m.streamOrdering > from.events)
      .map((m) => m.roomId);
    const joined = memberships.filter((m) => m.membership === "join").map((m) => m.roomId);
    const refs = await this.d.repo.eventsAfter(roomIds, from.events, upto.events, limit);
    const eventsEnd = refs.length >= limit && refs.length > 0 ? refs[refs.length - 1]!.streamOrdering : upto.events;
    const chunk = await this.visibleEvents(
      viewer,
      refs.map((r) => r.eventId),
    );

    const body = (await this.d.sync.sync({
      userId: viewer.userId,
      deviceId: null,
      since: { ...from, events: upto.events },
      filter: EPHEMERAL_ONLY_FILTER,
      fullState: false,
      setPresence: "online",
      timeoutMs: 0,
      useStateAfter: false,
    })) as unknown as SyncBody;
    for (const [roomId, room] of [...Object.entries(body.rooms.join), ...Object.entries(body.rooms.leave)]) {
      for (const e of room.ephemeral?.events ?? []) chunk.push({ ...e, room_id: roomId });
      for (const e of room.account_data?.events ?? []) chunk.push({ ...e, room_id: roomId });
    }
    chunk.push(...body.presence.events.map(legacyPresence));
    chunk.push(...body.account_data.events);
    const next = parseStreamToken(body.next_batch);
    // To-device messages are not part of this stream: keep their position so a later /sync still gets them.
    return { chunk, end: { ...next, events: eventsEnd, to_device: from.to_device }, joined };
  }

  /** Loads events in the given order and keeps those the viewer may see, in the v1 format. */
  private async visibleEvents(viewer: Viewer, ids: string[]): Promise<JsonObject[]> {
    if (ids.length === 0) return [];
    const loaded = await this.d.store.getEvents(ids);
    const byRoom = new Map<string, LoadedEvent[]>();
    for (const id of ids) {
      const e = loaded.get(id);
      if (!e) continue;
      const list = byRoom.get(e.row.roomId) ?? [];
      list.push(e);
      byRoom.set(e.row.roomId, list);
    }
    const visible = new Set<LoadedEvent>();
    for (const [roomId, list] of byRoom) for (const e of await this.d.visibility.filter(viewer.userId, roomId, list)) visible.add(e);
    const ordered = ids.map((id) => loaded.get(id)).filter((e): e is LoadedEvent => e !== undefined && visible.has(e));
    return (await this.d.formatter.format(ordered, viewer)).map(legacyEvent);
  }

  /**
   * GET /initialSync: every room the user is joined to or invited to (and left,
   * with `archived`), each with its state and latest `limit` messages, plus
   * presence, receipts and account data, and an `end` token for GET /events.
   */
  async initialSync(viewer: Viewer, limit: number, archived: boolean): Promise<JsonObject> {
    const body = (await this.d.sync.sync({
      userId: viewer.userId,
      deviceId: null,
      since: undefined,
      filter: EPHEMERAL_ONLY_FILTER,
      fullState: false,
      setPresence: "online",
      timeoutMs: 0,
      useStateAfter: false,
    })) as unknown as SyncBody;
    const memberships = await this.d.state.roomsOfUser(viewer.userId, archived ? ["join", "invite", "leave", "ban"] : ["join", "invite"]);
    const roomAccountData = await this.roomAccountData(viewer.userId);
    const rooms: JsonObject[] = [];
    const receipts: JsonObject[] = [];
    for (const m of memberships) {
      if (m.forgotten) continue;
      const room: JsonObject = { room_id: m.roomId, membership: m.membership };
      const row = await this.d.rooms.get(m.roomId);
      room.visibility = row?.visibility ?? "private";
      if (m.membership === "invite") {
        const invite = await this.d.store.getEvent(m.eventId);
        if (invite) {
          room.inviter = invite.row.sender;
          room.invite = legacyEvent(await this.d.formatter.formatOne(invite, viewer));
        }
      } else {
        const r = await this.d.reader.roomInitialSync(viewer, m.roomId, limit);
        room.messages = legacyMessages(r.messages as JsonObject);
        room.state = (r.state as JsonObject[]).map(legacyEvent);
      }
      room.account_data = roomAccountData.get(m.roomId) ?? [];
      if (m.membership === "join") {
        for (const e of body.rooms.join[m.roomId]?.ephemeral?.events ?? []) if (e.type === "m.receipt") receipts.push({ ...e, room_id: m.roomId });
      }
      rooms.push(room);
    }
    return {
      end: formatStreamToken({ ...parseStreamToken(body.next_batch), to_device: 0 }),
      rooms,
      presence: body.presence.events.map(legacyPresence),
      account_data: body.account_data.events,
      receipts,
    };
  }

  /**
   * GET /rooms/{roomId}/initialSync with what the rooms area alone does not
   * know: the presence of the joined members, the room's receipts and the
   * user's account data for the room. A user who left gets none of them.
   */
  async roomInitialSync(viewer: Viewer, roomId: string, limit: number): Promise<JsonObject> {
    const r = await this.d.reader.roomInitialSync(viewer, roomId, limit);
    r.messages = legacyMessages(r.messages as JsonObject);
    r.state = (r.state as JsonObject[]).map(legacyEvent);
    const joined = r.membership === "join";
    if (joined) {
      const members = new Set((await this.d.state.membersOfRoom(roomId, ["join"])).map((m) => m.userId));
      const head = this.d.sync.currentToken();
      r.presence = (await this.d.presence.forSync(viewer.userId, 0, head.presence))
        .filter((e) => members.has(e.sender))
        .map((e) => legacyPresence(e as unknown as JsonObject));
      const receipts = await this.d.receipts.forSync(viewer.userId, [roomId], 0, head.receipts);
      const content = receipts.get(roomId);
      r.receipts = content ? [{ type: "m.receipt", room_id: roomId, content: content as unknown as JsonObject }] : [];
    }
    if (r.membership !== undefined) r.account_data = (await this.roomAccountData(viewer.userId)).get(roomId) ?? [];
    return r;
  }

  private async roomAccountData(userId: string): Promise<Map<string, JsonObject[]>> {
    const rows = await this.d.accountData.changedSince(userId, 0);
    const out = new Map<string, JsonObject[]>();
    for (const row of rows) {
      if (row.room_id === "") continue;
      const list = out.get(row.room_id) ?? [];
      list.push({ type: row.type, content: row.content as JsonObject });
      out.set(row.room_id, list);
    }
    return out;
  }
}

function legacyMessages(m: JsonObject): JsonObject {
  return { ...m, chunk: (m.chunk as JsonObject[]).map(legacyEvent) };
}
