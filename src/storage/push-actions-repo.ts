import type { PushRuleChanges } from "../core/push-rules.js";
import { Coalescer } from "./coalesce.js";
import type { Sql, SqlQueryable } from "./sql.js";

/** One local user's push verdict on one live event (only notifying verdicts are stored). */
export interface PushActionRow {
  userId: string;
  eventId: string;
  roomId: string;
  threadId: string;
  streamOrdering: number;
  highlight: boolean;
  actions: unknown[];
  ts: number;
}

export interface CounterRow {
  roomId: string;
  threadId: string;
  notificationCount: number;
  highlightCount: number;
}

/** A room as push rule evaluation sees it (see `roomForPush`). */
export interface RoomForPush {
  members: Array<{ userId: string; changes: string | null }>;
  state: Array<{ type: string; stateKey: string; eventId: string; pdu: string }>;
}

export interface NotificationRow extends PushActionRow {
  read: boolean;
}

interface RawAction extends Record<string, unknown> {
  user_id: string;
  event_id: string;
  room_id: string;
  thread_id: string;
  stream_ordering: number;
  highlight: boolean;
  /** Stored as JSON text: only ever handed back whole. */
  actions: string;
  ts: number;
}

function toAction(r: RawAction): PushActionRow {
  return {
    userId: r.user_id,
    eventId: r.event_id,
    roomId: r.room_id,
    threadId: r.thread_id,
    streamOrdering: Number(r.stream_ordering),
    highlight: r.highlight,
    actions: JSON.parse(r.actions) as unknown[],
    ts: Number(r.ts),
  };
}

/** The unthreaded read mark (an unthreaded receipt covers every thread). */
export const UNTHREADED = "";
export const MAIN_THREAD = "main";

// The writer's per-room transaction lock (RoomStateRepo.lockRoom): counters of a
// room are recomputed under it, so a recount never races an event's increment.
const ROOM_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended($1, 5))";

/**
 * Push actions, read marks and the incremental unread counters (client-server
 * "Receiving notifications", "Marking notifications as read"), plus the room
 * reads the push rule evaluation of a new event needs inside its transaction.
 */
export class PushActionsRepo {
  constructor(private readonly sql: Sql) {}

  // --- reads inside the event's transaction ---

  /**
   * What evaluating a new event's push rules needs, in one round trip: the
   * joined members with their push rule changes (as JSON text, null when
   * none), and the room's current m.room.create and m.room.power_levels PDUs.
   */
  async roomForPush(tx: SqlQueryable, roomId: string): Promise<RoomForPush> {
    const rows = await tx.query<{ k: string; a: string; b: string | null; c: string | null }>(
      `SELECT 'm' AS k, m.user_id AS a, p.changes::text AS b, NULL::text AS c
         FROM room_memberships m LEFT JOIN push_rule_changes p ON p.user_id = m.user_id
        WHERE m.room_id = $1 AND m.membership = 'join'
       UNION ALL
       SELECT 's', cs.type, e.pdu, cs.event_id FROM current_state cs JOIN events e ON e.event_id = cs.event_id
        WHERE cs.room_id = $1 AND cs.state_key = '' AND cs.type IN ('m.room.create', 'm.room.power_levels')`,
      [roomId],
    );
    const out: RoomForPush = { members: [], state: [] };
    for (const r of rows) {
      if (r.k === "m") out.members.push({ userId: r.a, changes: r.b });
      else out.state.push({ type: r.a, stateKey: "", eventId: r.c!, pdu: r.b! });
    }
    return out;
  }

  async ruleChanges(tx: SqlQueryable, userIds: readonly string[]): Promise<Map<string, PushRuleChanges>> {
    if (userIds.length === 0) return new Map();
    const rows = await tx.query<{ user_id: string; changes: PushRuleChanges }>(
      "SELECT user_id, changes FROM push_rule_changes WHERE user_id = ANY($1::text[])",
      [userIds],
    );
    return new Map(rows.map((r) => [r.user_id, r.changes]));
  }

  /** Current state events of the given (type, state_key) pairs, as PDU JSON text. */
  async currentState(
    roomId: string,
    keys: ReadonlyArray<readonly [string, string]>,
    q: SqlQueryable = this.sql,
  ): Promise<Array<{ type: string; stateKey: string; eventId: string; pdu: string }>> {
    if (keys.length === 0) return [];
    const rows = await q.query<{ type: string; state_key: string; event_id: string; pdu: string }>(
      `SELECT cs.type, cs.state_key, cs.event_id, e.pdu FROM current_state cs JOIN events e ON e.event_id = cs.event_id
        JOIN unnest($2::text[], $3::text[]) AS k(type, state_key) ON k.type = cs.type AND k.state_key = cs.state_key
       WHERE cs.room_id = $1`,
      [roomId, keys.map((k) => k[0]), keys.map((k) => k[1])],
    );
    return rows.map((r) => ({ type: r.type, stateKey: r.state_key, eventId: r.event_id, pdu: r.pdu }));
  }

  /** The parent of an event's relation, when it has one (event_relations). */
  async relationParent(q: SqlQueryable, eventId: string): Promise<{ relType: string; parent: string } | undefined> {
    const [row] = await q.query<{ rel_type: string; relates_to_id: string }>("SELECT rel_type, relates_to_id FROM event_relations WHERE event_id = $1", [
      eventId,
    ]);
    return row ? { relType: row.rel_type, parent: row.relates_to_id } : undefined;
  }

  // --- writes inside the event's transaction ---

  /**
   * One event's push bookkeeping in one statement: the sender's own event
   * marks its thread read (`own`), and the verdicts of the others are stored
   * and counted as unread (a new event is after every read mark). The sender
   * never has a verdict on its own event, so no row is written twice.
   */
  async recordEvent(
    tx: SqlQueryable,
    e: { eventId: string; roomId: string; threadId: string; streamOrdering: number; ts: number },
    own: string | undefined,
    rows: readonly PushActionRow[],
  ): Promise<void> {
    if (own === undefined && rows.length === 0) return;
    // $1 room, $2 thread, $3 position; then the sender, and the verdicts' columns.
    const params: unknown[] = [e.roomId, e.threadId, e.streamOrdering];
    const parts: string[] = [];
    if (own !== undefined) {
      params.push(own);
      const u = params.length;
      parts.push(`mark AS (
         INSERT INTO push_read_marks (user_id, room_id, thread_id, stream_ordering) VALUES ($${u}, $1, $2, $3)
         ON CONFLICT (user_id, room_id, thread_id) DO UPDATE SET stream_ordering = GREATEST(push_read_marks.stream_ordering, $3)
       ), unmark AS (
         DELETE FROM push_counters WHERE user_id = $${u} AND room_id = $1 AND thread_id = $2
       )`);
    }
    if (rows.length > 0) {
      // Booleans travel as text: postgres.js sends a boolean array as a scalar.
      // Members of a big room mostly share one actions array: serialised once.
      const texts = new Map<unknown[], string>();
      const text = (a: unknown[]) => {
        let t = texts.get(a);
        if (t === undefined) {
          t = JSON.stringify(a);
          texts.set(a, t);
        }
        return t;
      };
      params.push(e.eventId, e.ts, rows.map((r) => r.userId), rows.map((r) => String(r.highlight)), rows.map((r) => text(r.actions)));
      const n = params.length;
      const [ev, ts, us, hs, as] = [n - 4, n - 3, n - 2, n - 1, n];
      parts.push(`actions AS (
         INSERT INTO event_push_actions (user_id, event_id, room_id, thread_id, stream_ordering, highlight, actions, ts)
         SELECT u, $${ev}, $1, $2, $3, h::boolean, a, $${ts} FROM unnest($${us}::text[], $${hs}::text[], $${as}::text[]) AS x(u, h, a)
         ON CONFLICT DO NOTHING
       ), counters AS (
         INSERT INTO push_counters (user_id, room_id, thread_id, notification_count, highlight_count)
         SELECT u, $1, $2, 1, CASE WHEN h::boolean THEN 1 ELSE 0 END FROM unnest($${us}::text[], $${hs}::text[]) AS x(u, h)
         ON CONFLICT (user_id, room_id, thread_id) DO UPDATE
           SET notification_count = push_counters.notification_count + 1, highlight_count = push_counters.highlight_count + EXCLUDED.highlight_count
       )`);
    }
    await tx.query(`WITH ${parts.join(", ")} SELECT 1`, params);
  }

  /** A left (or banned) user keeps no unread counts for the room. */
  async clearRoom(tx: SqlQueryable, userId: string, roomId: string): Promise<void> {
    await tx.query("DELETE FROM push_counters WHERE user_id = $1 AND room_id = $2", [userId, roomId]);
  }

  /** A redacted event no longer counts (nor is listed by GET /notifications). */
  async removeEvent(tx: SqlQueryable, eventId: string): Promise<void> {
    const rows = await tx.query<{ user_id: string; room_id: string }>("DELETE FROM event_push_actions WHERE event_id = $1 RETURNING user_id, room_id", [
      eventId,
    ]);
    for (const r of rows) await this.recount(tx, r.user_id, r.room_id);
  }

  // --- receipts ---

  /**
   * A read receipt for `eventId` (thread '' unthreaded, 'main' or a thread
   * root): the mark moves forward only, then the room's counters are recounted.
   * Returns false when the event has no live position (nothing changes).
   */
  async markReceipt(userId: string, roomId: string, threadId: string, eventId: string): Promise<boolean> {
    return this.sql.transaction(async (tx) => {
      const [ev] = await tx.query<{ stream_ordering: number }>(
        "SELECT stream_ordering FROM events WHERE event_id = $1 AND room_id = $2 AND stream_ordering > 0",
        [eventId, roomId],
      );
      if (!ev) return false;
      await tx.query(ROOM_LOCK, [roomId]);
      await this.upsertMark(tx, userId, roomId, threadId, Number(ev.stream_ordering));
      await this.recount(tx, userId, roomId);
      return true;
    });
  }

  private async upsertMark(tx: SqlQueryable, userId: string, roomId: string, threadId: string, pos: number): Promise<void> {
    await tx.query(
      `INSERT INTO push_read_marks (user_id, room_id, thread_id, stream_ordering) VALUES ($1, $2, $3, $4)
       ON CONFLICT (user_id, room_id, thread_id) DO UPDATE SET stream_ordering = GREATEST(push_read_marks.stream_ordering, $4)`,
      [userId, roomId, threadId, pos],
    );
  }

  /** Counts per thread: the verdicts after both the unthreaded mark and the thread's own mark. */
  private async recount(tx: SqlQueryable, userId: string, roomId: string): Promise<void> {
    await tx.query("DELETE FROM push_counters WHERE user_id = $1 AND room_id = $2", [userId, roomId]);
    await tx.query(
      `INSERT INTO push_counters (user_id, room_id, thread_id, notification_count, highlight_count)
       SELECT a.user_id, a.room_id, a.thread_id, count(*), count(*) FILTER (WHERE a.highlight)
         FROM event_push_actions a
         LEFT JOIN push_read_marks t ON t.user_id = a.user_id AND t.room_id = a.room_id AND t.thread_id = a.thread_id
        WHERE a.user_id = $1 AND a.room_id = $2
          AND a.stream_ordering > coalesce((SELECT u.stream_ordering FROM push_read_marks u
                                             WHERE u.user_id = $1 AND u.room_id = $2 AND u.thread_id = ''), 0)
          AND a.stream_ordering > coalesce(t.stream_ordering, 0)
        GROUP BY a.user_id, a.room_id, a.thread_id`,
      [userId, roomId],
    );
  }

  // --- reads for /sync, pushers and GET /notifications ---

  /** The user's unread counters in the given rooms (a room without unread events has none). */
  async counters(userId: string, roomIds: readonly string[]): Promise<CounterRow[]> {
    if (roomIds.length === 0) return [];
    const rooms = new Set(roomIds);
    return (await this.countersOf.load(userId)).filter((c) => rooms.has(c.roomId));
  }

  // Every /sync response reads them: the requests one notification wakes share one statement.
  private readonly countersOf = new Coalescer<string, CounterRow[]>(
    (u) => u,
    async (userIds) => {
      const rows = await this.sql.query<{ user_id: string; room_id: string; thread_id: string; notification_count: number; highlight_count: number }>(
        "SELECT user_id, room_id, thread_id, notification_count, highlight_count FROM push_counters WHERE user_id = ANY($1::text[])",
        [userIds],
      );
      const out = new Map<string, CounterRow[]>();
      for (const r of rows) {
        const list = out.get(r.user_id) ?? [];
        list.push({ roomId: r.room_id, threadId: r.thread_id, notificationCount: Number(r.notification_count), highlightCount: Number(r.highlight_count) });
        out.set(r.user_id, list);
      }
      return out;
    },
    () => [],
  );

  /** Unread notifications across the rooms the user is joined to (the push gateway's `unread`). */
  async unreadTotal(userId: string): Promise<number> {
    const [row] = await this.sql.query<{ n: number | null }>(
      `SELECT sum(c.notification_count)::int8 AS n FROM push_counters c
         JOIN room_memberships m ON m.room_id = c.room_id AND m.user_id = c.user_id AND m.membership = 'join'
        WHERE c.user_id = $1`,
      [userId],
    );
    return Number(row?.n ?? 0);
  }

  /** Unread `m.call.invite` notifications (the push gateway's `missed_calls`). */
  async unreadOfType(userId: string, type: string): Promise<number> {
    const [row] = await this.sql.query<{ n: number }>(
      `SELECT count(*)::int8 AS n FROM event_push_actions a JOIN events e ON e.event_id = a.event_id
         JOIN push_counters c ON c.user_id = a.user_id AND c.room_id = a.room_id AND c.thread_id = a.thread_id
         LEFT JOIN push_read_marks u ON u.user_id = a.user_id AND u.room_id = a.room_id AND u.thread_id = ''
         LEFT JOIN push_read_marks t ON t.user_id = a.user_id AND t.room_id = a.room_id AND t.thread_id = a.thread_id
        WHERE a.user_id = $1 AND e.type = $2
          AND a.stream_ordering > coalesce(u.stream_ordering, 0) AND a.stream_ordering > coalesce(t.stream_ordering, 0)`,
      [userId, type],
    );
    return Number(row?.n ?? 0);
  }

  /** The user's verdicts with after < stream_ordering <= upTo, oldest first. */
  async actionsIn(userId: string, after: number, upTo: number, limit: number): Promise<PushActionRow[]> {
    const rows = await this.sql.query<RawAction>(
      `SELECT * FROM event_push_actions WHERE user_id = $1 AND stream_ordering > $2 AND stream_ordering <= $3
        ORDER BY stream_ordering LIMIT $4`,
      [userId, after, upTo, limit],
    );
    return rows.map(toAction);
  }

  /** GET /notifications: newest first, before `before` (exclusive), each with whether it is read. */
  async notifications(userId: string, before: number | undefined, limit: number, onlyHighlight: boolean): Promise<NotificationRow[]> {
    const rows = await this.sql.query<RawAction & { is_read: boolean }>(
      `SELECT a.*, (a.stream_ordering <= GREATEST(coalesce(u.stream_ordering, 0), coalesce(t.stream_ordering, 0))) AS is_read
         FROM event_push_actions a
         LEFT JOIN push_read_marks u ON u.user_id = a.user_id AND u.room_id = a.room_id AND u.thread_id = ''
         LEFT JOIN push_read_marks t ON t.user_id = a.user_id AND t.room_id = a.room_id AND t.thread_id = a.thread_id
        WHERE a.user_id = $1 AND ($2::int8 IS NULL OR a.stream_ordering < $2) AND (NOT $4 OR a.highlight)
        ORDER BY a.stream_ordering DESC LIMIT $3`,
      [userId, before ?? null, limit, onlyHighlight],
    );
    return rows.map((r) => ({ ...toAction(r), read: r.is_read }));
  }
}
