import { PowerLevels, parsePowerLevel, roomCreators } from "../core/auth/index.js";
import { toRoomEvent, type Pdu } from "../core/events/pdu.js";
import { isJsonObject, type JsonObject } from "../core/json.js";
import { evaluatePushRules, notifyAndHighlight, type PushAction, type PushEvent, type PushRuleset } from "../core/push-rules.js";
import { getRoomVersion } from "../core/room-versions.js";
import type { NotificationCountsRepo, UnreadEventRow } from "../storage/notification-counts-repo.js";

export interface UnreadCounts {
  notification_count: number;
  highlight_count: number;
}

// Events evaluated per room and sync: counts stop here (clients show "99+" long before).
export const MAX_COUNTED_EVENTS = 200;

/**
 * Unread notification counts for /sync ("Receiving notifications"): the
 * user's push rules evaluated over the events after their read receipt,
 * stopping at their own latest event (sending an event marks what came
 * before as read). Computed when a sync response is built, not stored.
 */
export class NotificationCounter {
  // Read once per position and shared by the syncs one notification wakes.
  private readonly rulesets = new AtPosition<PushRuleset>();
  private readonly joinedCounts = new AtPosition<number>();

  constructor(
    private readonly repo: NotificationCountsRepo,
    private readonly rules: { getRuleset(userId: string): Promise<PushRuleset> },
  ) {}

  /**
   * `rulesAt`, when given, is the account-data position the caller's response
   * stands at: push rule changes move it (they are announced as m.push_rules
   * account data after commit), so the ruleset read at it is reused until it moves.
   */
  async counts(userId: string, roomIds: readonly string[], uptoEvents: number, rulesAt?: number): Promise<Map<string, UnreadCounts>> {
    const out = new Map<string, UnreadCounts>();
    if (roomIds.length === 0) return out;
    const byRoom = new Map<string, UnreadEventRow[]>();
    for (const row of await this.repo.eventsAfterReceipt(roomIds, userId, uptoEvents, MAX_COUNTED_EVENTS)) {
      const list = byRoom.get(row.room_id) ?? [];
      list.push(row);
      byRoom.set(row.room_id, list);
    }
    const getRuleset = () => this.rules.getRuleset(userId);
    const ruleset = byRoom.size ? await (rulesAt === undefined ? getRuleset() : this.rulesets.get(userId, rulesAt, getRuleset)) : undefined;
    for (const roomId of roomIds) {
      const rows = byRoom.get(roomId);
      out.set(roomId, rows && ruleset ? await this.roomCounts(userId, roomId, rows, ruleset, uptoEvents) : { notification_count: 0, highlight_count: 0 });
    }
    return out;
  }

  private async roomCounts(userId: string, roomId: string, rows: readonly UnreadEventRow[], ruleset: PushRuleset, uptoEvents: number): Promise<UnreadCounts> {
    const counts = { notification_count: 0, highlight_count: 0 };
    const events: PushEvent[] = [];
    for (const row of rows) {
      const pdu = JSON.parse(row.pdu) as JsonObject;
      if (pdu.sender === userId) break;
      events.push(pushEventOf(row, pdu));
    }
    if (events.length === 0) return counts;
    for (const actions of await this.evaluate(userId, roomId, events, ruleset, uptoEvents)) {
      const { notify, highlight } = notifyAndHighlight(actions);
      if (notify) counts.notification_count++;
      if (highlight) counts.highlight_count++;
    }
    return counts;
  }

  /** The user's push rules over events of one room, with the room's current state. */
  private async evaluate(userId: string, roomId: string, events: readonly PushEvent[], ruleset: PushRuleset, uptoEvents: number): Promise<PushAction[][]> {
    const state = new Map((await this.repo.pushState(roomId, userId)).map((s) => [s.type, { ...s, json: JSON.parse(s.pdu) as JsonObject }]));
    const create = state.get("m.room.create");
    const rv = getRoomVersion(typeof create?.json.content === "object" && create.json.content !== null ? String((create.json.content as JsonObject).room_version ?? "1") : "1");
    const plContent = state.get("m.room.power_levels")?.json.content;
    const pl = isJsonObject(plContent) ? plContent : undefined;
    const levels = rv && create ? PowerLevels.fromContent(pl, roomCreators(toRoomEvent(create.json as Pdu, create.event_id, rv), rv), rv) : undefined;
    const notifications = pl && isJsonObject(pl.notifications) ? pl.notifications : {};
    const roomLevel = rv ? parsePowerLevel(notifications.room, rv) : undefined;
    const member = state.get("m.room.member")?.json.content;
    const displayName = isJsonObject(member) && typeof member.displayname === "string" ? member.displayname : null;
    // Membership only changes with room events: a count read after `uptoEvents` was taken holds for it.
    const roomMemberCount = await this.joinedCounts.get(roomId, uptoEvents, () => this.repo.joinedCount(roomId));
    return events.map((event) =>
      evaluatePushRules(
        event,
        {
          userId,
          displayName,
          roomMemberCount,
          senderPowerLevel: levels?.userLevel(event.sender) ?? 0,
          notificationPowerLevels: { room: roomLevel ?? 50 },
        },
        ruleset,
      ),
    );
  }

  /**
   * GET /notifications ("Listing notifications"): the events of the user's
   * joined rooms that their push rules made notify, newest first, computed
   * from the latest events (at most MAX_LISTED_SCAN of them per request).
   * `from` is the `next_token` of the previous page.
   */
  async list(userId: string, q: { from?: number; limit: number; onlyHighlight: boolean; uptoEvents: number }): Promise<{ notifications: JsonObject[]; next_token?: string }> {
    const rows = await this.repo.recentEventsOfOthers(userId, q.from ?? q.uptoEvents + 1, MAX_LISTED_SCAN);
    const byRoom = new Map<string, Array<(typeof rows)[number]>>();
    for (const r of rows) byRoom.set(r.room_id, [...(byRoom.get(r.room_id) ?? []), r]);
    const ruleset = await this.rules.getRuleset(userId);
    const hits: Array<{ row: (typeof rows)[number]; pdu: JsonObject; actions: PushAction[] }> = [];
    for (const [roomId, list] of byRoom) {
      const pdus = list.map((r) => JSON.parse(r.pdu) as JsonObject);
      const actions = await this.evaluate(userId, roomId, list.map((r, i) => pushEventOf(r, pdus[i]!)), ruleset, q.uptoEvents);
      list.forEach((row, i) => {
        const a = actions[i]!;
        const { notify, highlight } = notifyAndHighlight(a);
        if (notify && (!q.onlyHighlight || highlight)) hits.push({ row, pdu: pdus[i]!, actions: a });
      });
    }
    hits.sort((a, b) => b.row.stream_ordering - a.row.stream_ordering);
    const page = hits.slice(0, q.limit);
    const out: { notifications: JsonObject[]; next_token?: string } = {
      notifications: page.map(({ row, pdu, actions }) => ({
        room_id: row.room_id,
        event: clientEventOf(row, pdu),
        actions: actions as unknown as JsonObject[],
        read: row.read,
        ts: typeof pdu.origin_server_ts === "number" ? pdu.origin_server_ts : 0,
        profile_tag: null,
      })),
    };
    if (hits.length > q.limit || (rows.length === MAX_LISTED_SCAN && page.length > 0)) out.next_token = String(page[page.length - 1]!.row.stream_ordering);
    return out;
  }
}

// Events looked at per GET /notifications page.
const MAX_LISTED_SCAN = 500;

function pushEventOf(row: UnreadEventRow, pdu: JsonObject): PushEvent {
  return { ...pdu, event_id: row.event_id, content: isJsonObject(pdu.content) ? pdu.content : {} } as unknown as PushEvent;
}

/** The client format of a stored event, for the notification list. */
function clientEventOf(row: UnreadEventRow, pdu: JsonObject): JsonObject {
  const e: JsonObject = {
    event_id: row.event_id,
    room_id: row.room_id,
    sender: pdu.sender as string,
    type: pdu.type as string,
    content: isJsonObject(pdu.content) ? pdu.content : {},
    origin_server_ts: pdu.origin_server_ts as number,
    unsigned: {},
  };
  if (typeof pdu.state_key === "string") e.state_key = pdu.state_key;
  return e;
}

const MAX_REMEMBERED = 10_000;

/**
 * One answer per key for as long as the caller's stream position stays the
 * one it was read at (the position is taken before the read, so the answer is
 * never older than it). Concurrent callers share one read; failures are not kept.
 */
class AtPosition<T> {
  private readonly entries = new Map<string, { pos: number; value: Promise<T> }>();

  get(key: string, pos: number, read: () => Promise<T>): Promise<T> {
    const hit = this.entries.get(key);
    if (hit && hit.pos === pos) return hit.value;
    const entry = { pos, value: read() };
    this.entries.delete(key);
    if (this.entries.size >= MAX_REMEMBERED) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(key, entry);
    entry.value.catch(() => {
      if (this.entries.get(key) === entry) this.entries.delete(key);
    });
    return entry.value;
  }
}
