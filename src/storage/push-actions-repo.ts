import type { PushRuleChanges } from "../core/push-rules.js";
import { Coalescer } from "./coalesce.js";
import type { Sql, SqlQueryable } from "./sql.js";

/** One local user's notifying push verdict on one live event, as pushers and GET /notifications read it. */
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
  event_id: string;
  room_id: string;
  thread_id: string;
  stream_ordering: number;
  highlight: boolean;
  /** Stored as JSON text: only ever handed back whole. */
  actions: string;
  ts: number;
}

function toAction(r: RawAction, userId: string): PushActionRow {
  return {
    userId,
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

/**
 * Push verdicts, read marks and the unread counts derived from them
 * (client-server "Receiving notifications", "Marking notifications as read"),
 * plus the room reads the push rule evaluation of a new event needs inside its
 * transaction. A verdict shared by the event's class of members is stored once
 * (push_room_verdicts); only members who differ get a row of their own.
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
   * One event's push bookkeeping in one statement:
   * - the sender's own event marks its thread read (`own`);
   * - the class verdict, when it notifies, numbered after the thread's last;
   * - the members whose verdict differs from the class's (`exceptions`);
   * - a local member's join opening their span of the room's class, or the
   *   membership that ends it closing it (`span`).
   * The sender never has a verdict on its own event.
   */
  async recordEvent(tx: SqlQueryable, e: RecordedEvent, own: string | undefined, v: EventVerdicts, span?: SpanChange): Promise<void> {
    const { exceptions } = v;
    if (own === undefined && v.shared === undefined && exceptions.length === 0 && span === undefined) return;
    // Only the parameters the statement uses: PostgreSQL cannot type one it never sees.
    const params: unknown[] = [];
    const add = (x: unknown) => `$${params.push(x)}`;
    const once = (x: unknown) => {
      let ref: string | undefined;
      return () => (ref ??= add(x));
    };
    const [room, thread, pos, id, ts] = [once(e.roomId), once(e.threadId), once(e.streamOrdering), once(e.eventId), once(e.ts)];
    const parts: string[] = [];
    if (own !== undefined) {
      parts.push(`mark AS (
         INSERT INTO push_read_marks (user_id, room_id, thread_id, stream_ordering) VALUES (${add(own)}, ${room()}, ${thread()}, ${pos()})
         ON CONFLICT (user_id, room_id, thread_id) DO UPDATE SET stream_ordering = GREATEST(push_read_marks.stream_ordering, ${pos()})
       )`);
    }
    if (v.shared !== undefined) {
      const hl = add(v.shared.highlight);
      parts.push(`head AS (
         INSERT INTO push_thread_heads AS h (room_id, thread_id, stream_ordering, seq, hl_seq) VALUES (${room()}, ${thread()}, ${pos()}, 1, ${hl}::boolean::int)
         ON CONFLICT (room_id, thread_id) DO UPDATE
           SET stream_ordering = EXCLUDED.stream_ordering, seq = h.seq + 1, hl_seq = h.hl_seq + EXCLUDED.hl_seq
         RETURNING seq, hl_seq
       ), shared AS (
         INSERT INTO push_room_verdicts (room_id, stream_ordering, event_id, thread_id, sender, highlight, actions, ts, seq, hl_seq)
         SELECT ${room()}, ${pos()}, ${id()}, ${thread()}, ${add(e.sender)}, ${hl}::boolean, ${add(v.shared.actions)}, ${ts()}, head.seq, head.hl_seq FROM head
       )`);
    }
    if (exceptions.length > 0) {
      // Booleans travel as text: postgres.js sends a boolean array as a scalar.
      const us = add(exceptions.map((x) => x.userId));
      const ns = add(exceptions.map((x) => String(x.notify)));
      const hs = add(exceptions.map((x) => String(x.highlight)));
      const as = add(exceptions.map((x) => x.actions));
      parts.push(`exceptions AS (
         INSERT INTO event_push_actions (user_id, event_id, room_id, thread_id, stream_ordering, highlight, actions, ts, notify, class_notify, class_highlight)
         SELECT u, ${id()}, ${room()}, ${thread()}, ${pos()}, h::boolean, a, ${ts()}, n::boolean, ${add(v.shared !== undefined)}::boolean, ${add(v.shared?.highlight ?? false)}::boolean
           FROM unnest(${us}::text[], ${ns}::text[], ${hs}::text[], ${as}::text[]) AS x(u, n, h, a)
         ON CONFLICT DO NOTHING
       )`);
    }
    if (span !== undefined) {
      const u = add(span.userId);
      parts.push(
        span.joined
          ? `span AS (
         INSERT INTO push_member_spans (user_id, room_id, joined_at) VALUES (${u}, ${room()}, ${pos()})
         ON CONFLICT (user_id, room_id) WHERE left_at IS NULL DO NOTHING
       )`
          : `span AS (
         UPDATE push_member_spans SET left_at = ${pos()} WHERE user_id = ${u} AND room_id = ${room()} AND left_at IS NULL
       )`,
      );
    }
    await tx.query(`WITH ${parts.join(", ")} SELECT 1`, params);
  }

  /** A redacted event no longer counts (nor is listed by GET /notifications). */
  async removeEvent(tx: SqlQueryable, eventId: string): Promise<void> {
    await tx.query(
      `WITH shared AS (
         UPDATE push_room_verdicts v SET redacted = true FROM events e
          WHERE e.event_id = $1 AND v.room_id = e.room_id AND v.stream_ordering = e.stream_ordering
       )
       DELETE FROM event_push_actions WHERE event_id = $1`,
      [eventId],
    );
  }

  // --- receipts ---

  /**
   * A read receipt for `eventId` (thread '' unthreaded, 'main' or a thread
   * root): the mark moves forward only; counts are derived from the marks.
   * Returns false when the event has no live position (nothing changes).
   */
  async markReceipt(userId: string, roomId: string, threadId: string, eventId: string): Promise<boolean> {
    const rows = await this.sql.query<{ ok: number }>(
      `INSERT INTO push_read_marks (user_id, room_id, thread_id, stream_ordering)
       SELECT $1, $2, $3, stream_ordering FROM events WHERE event_id = $4 AND room_id = $2 AND stream_ordering > 0
       ON CONFLICT (user_id, room_id, thread_id) DO UPDATE SET stream_ordering = GREATEST(push_read_marks.stream_ordering, EXCLUDED.stream_ordering)
       RETURNING 1 AS ok`,
      [userId, roomId, threadId, eventId],
    );
    return rows.length > 0;
  }

  // --- reads for /sync, pushers and GET /notifications ---

  /** The user's unread counts per thread in the given rooms (a thread without unread events has none). */
  async counters(userId: string, roomIds: readonly string[]): Promise<CounterRow[]> {
    if (roomIds.length === 0) return [];
    return this.countsOf.load({ userId, roomIds });
  }

  // Every /sync response reads them: the requests one notification wakes share one statement.
  private readonly countsOf = new Coalescer<{ userId: string; roomIds: readonly string[] }, CounterRow[]>(
    (k) => `${k.userId}\u0000${k.roomIds.join("\u0000")}`,
    async (keys) => {
      const pairs = new Map<string, { userId: string; roomId: string }>();
      for (const k of keys) for (const roomId of k.roomIds) pairs.set(`${k.userId}\u0000${roomId}`, { userId: k.userId, roomId });
      const list = [...pairs.values()];
      const rows = await this.sql.query<RawCount>("SELECT * FROM push_unread_counts($1::text[], $2::text[])", [
        list.map((p) => p.userId),
        list.map((p) => p.roomId),
      ]);
      const byPair = new Map<string, CounterRow[]>();
      for (const r of rows) {
        const id = `${r.user_id}\u0000${r.room_id}`;
        const l = byPair.get(id) ?? [];
        l.push(toCounter(r));
        byPair.set(id, l);
      }
      const out = new Map<string, CounterRow[]>();
      for (const k of keys)
        out.set(
          `${k.userId}\u0000${k.roomIds.join("\u0000")}`,
          k.roomIds.flatMap((r) => byPair.get(`${k.userId}\u0000${r}`) ?? []),
        );
      return out;
    },
    () => [],
  );

  /** Unread notifications across the rooms the user is joined to (the push gateway's `unread`). */
  async unreadTotal(userId: string): Promise<number> {
    const [row] = await this.sql.query<{ n: number | null }>(
      `SELECT sum(c.notification_count)::int8 AS n
         FROM (SELECT array_agg(user_id) AS u, array_agg(room_id) AS r FROM push_member_spans WHERE user_id = $1 AND left_at IS NULL) s
        CROSS JOIN LATERAL push_unread_counts(s.u, s.r) c`,
      [userId],
    );
    return Number(row?.n ?? 0);
  }

  /** Unread notifications of one event type, e.g. `m.call.invite` (the push gateway's `missed_calls`). */
  async unreadOfType(userId: string, type: string): Promise<number> {
    const [row] = await this.sql.query<{ n: number }>(
      `WITH b AS (${BASES("SELECT user_id, room_id FROM push_member_spans WHERE user_id = $1 AND left_at IS NULL")})
       SELECT (
         SELECT count(*) FROM b CROSS JOIN LATERAL (
           SELECT 1 FROM push_room_verdicts v JOIN events e ON e.event_id = v.event_id
             LEFT JOIN push_read_marks t ON t.user_id = b.user_id AND t.room_id = b.room_id AND t.thread_id = v.thread_id
            WHERE v.room_id = b.room_id AND v.stream_ordering > b.base AND v.stream_ordering > coalesce(t.stream_ordering, 0)
              AND NOT v.redacted AND e.type = $2
              AND NOT EXISTS (SELECT 1 FROM event_push_actions a WHERE a.user_id = b.user_id AND a.stream_ordering = v.stream_ordering)
         ) v
       ) + (
         SELECT count(*) FROM b JOIN event_push_actions a ON a.user_id = b.user_id AND a.room_id = b.room_id AND a.stream_ordering > b.base
           JOIN events e ON e.event_id = a.event_id
           LEFT JOIN push_read_marks t ON t.user_id = b.user_id AND t.room_id = b.room_id AND t.thread_id = a.thread_id
          WHERE a.notify AND e.type = $2 AND a.stream_ordering > coalesce(t.stream_ordering, 0)
       ) AS n`,
      [userId, type],
    );
    return Number(row?.n ?? 0);
  }

  /** The user's notifying verdicts with after < stream_ordering <= upTo, oldest first. */
  async actionsIn(userId: string, after: number, upTo: number, limit: number): Promise<PushActionRow[]> {
    const rows = await this.sql.query<RawAction>(USER_VERDICTS("ASC"), [userId, after, upTo + 1, limit, false]);
    return rows.map((r) => toAction(r, userId));
  }

  /** GET /notifications: newest first, before `before` (exclusive), each with whether it is read. */
  async notifications(userId: string, before: number | undefined, limit: number, onlyHighlight: boolean): Promise<NotificationRow[]> {
    const rows = await this.sql.query<RawAction & { is_read: boolean }>(
      `SELECT z.*, (z.stream_ordering <= GREATEST(coalesce(u.stream_ordering, 0), coalesce(t.stream_ordering, 0))) AS is_read
         FROM (${USER_VERDICTS("DESC")}) z
         LEFT JOIN push_read_marks u ON u.user_id = $1 AND u.room_id = z.room_id AND u.thread_id = ''
         LEFT JOIN push_read_marks t ON t.user_id = $1 AND t.room_id = z.room_id AND t.thread_id = z.thread_id
        ORDER BY z.stream_ordering DESC`,
      [userId, 0, before ?? Number.MAX_SAFE_INTEGER, limit, onlyHighlight],
    );
    return rows.map((r) => ({ ...toAction(r, userId), read: r.is_read }));
  }
}

/** The event a verdict is recorded for. */
export interface RecordedEvent {
  eventId: string;
  roomId: string;
  threadId: string;
  streamOrdering: number;
  ts: number;
  sender: string;
}

/** A verdict's flags and its actions as JSON text. */
export interface StoredVerdict {
  highlight: boolean;
  actions: string;
}

/** What one event's push rule evaluation stores (see `recordEvent`). */
export interface EventVerdicts {
  /** The verdict of the event's class, when it notifies. */
  shared?: StoredVerdict;
  /** Local members whose verdict is not the class's, and invitees whose verdict notifies. */
  exceptions: ReadonlyArray<StoredVerdict & { userId: string; notify: boolean }>;
}

/** A local member's membership that opens or ends their place in the room's class. */
export interface SpanChange {
  userId: string;
  joined: boolean;
}

interface RawCount extends Record<string, unknown> {
  user_id: string;
  room_id: string;
  thread_id: string;
  notification_count: number;
  highlight_count: number;
}

function toCounter(r: RawCount): CounterRow {
  return { roomId: r.room_id, threadId: r.thread_id, notificationCount: Number(r.notification_count), highlightCount: Number(r.highlight_count) };
}

/**
 * A user's notifying verdicts with $2 < stream_ordering < $3, the first $4 in
 * the given order, highlights only when $5 ($1 the user): the class verdicts
 * of the rooms while the user was in their class (less their own events and
 * the ones they have a row of their own for), and their own rows that notify.
 */
const USER_VERDICTS = (order: "ASC" | "DESC") => `
  SELECT * FROM (
    SELECT v.event_id, v.room_id, v.thread_id, v.stream_ordering, v.highlight, v.actions, v.ts
      FROM push_member_spans s CROSS JOIN LATERAL (
        SELECT v.* FROM push_room_verdicts v
         WHERE v.room_id = s.room_id AND v.stream_ordering > GREATEST($2, s.joined_at) AND v.stream_ordering < $3
           AND (s.left_at IS NULL OR v.stream_ordering < s.left_at) AND NOT v.redacted AND v.sender <> $1 AND (NOT $5 OR v.highlight)
           AND NOT EXISTS (SELECT 1 FROM event_push_actions a WHERE a.user_id = $1 AND a.stream_ordering = v.stream_ordering)
         ORDER BY v.stream_ordering ${order} LIMIT $4
      ) v
     WHERE s.user_id = $1 AND (s.left_at IS NULL OR s.left_at > $2) AND s.joined_at < $3
    UNION ALL
    SELECT a.event_id, a.room_id, a.thread_id, a.stream_ordering, a.highlight, a.actions, a.ts FROM event_push_actions a
     WHERE a.user_id = $1 AND a.notify AND a.stream_ordering > $2 AND a.stream_ordering < $3 AND (NOT $5 OR a.highlight)
  ) y ORDER BY stream_ordering ${order} LIMIT $4`;

/**
 * Where each (user, room) of `q` starts counting: after both the user's join
 * (their open span) and their unthreaded read mark. A room the user is not
 * joined to has no row.
 */
const BASES = (q: string) => `
  SELECT q.user_id, q.room_id, GREATEST(s.joined_at, coalesce(u.stream_ordering, 0)) AS base
    FROM (${q}) q JOIN push_member_spans s ON s.user_id = q.user_id AND s.room_id = q.room_id AND s.left_at IS NULL
    LEFT JOIN push_read_marks u ON u.user_id = q.user_id AND u.room_id = q.room_id AND u.thread_id = ''`;
