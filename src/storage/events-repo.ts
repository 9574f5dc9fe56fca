import { nextLockedStreamOrdering, POSITION_LOCK_CLASS } from "./cluster-repo.js";
import type { Sql, SqlQueryable } from "./sql.js";

/**
 * Room events (the DAG), their edges, redactions and client transaction ids.
 * PDUs are stored as canonical JSON text, exactly as hashed and signed.
 */
/** The columns an event row has from the moment it is written. */
export interface EventRowFields {
  streamOrdering: number;
  eventId: string;
  roomId: string;
  type: string;
  stateKey: string | null;
  sender: string;
  depth: number;
  originServerTs: number;
  pduJson: string;
  replacesState: string | null;
  stateBefore: number | null;
  stateAfter: number | null;
  /** The room's current state group once this event was persisted (live events only). */
  currentAfter: number | null;
  /** Stored without state and outside the timeline (an auth event, or waiting for its prev_events). */
  outlier: boolean;
  /** Why the event failed the authorization rules; never served, never in state. */
  rejectedReason: string | null;
  /** Failed the checks against the current state: kept, but not in the timeline nor an extremity. */
  softFailed: boolean;
}

export interface StoredEventRow extends EventRowFields {
  redactedBy: string | null;
}

/** Whether clients may see the event at all (timeline, /event, /context, relations). */
export function isServedToClients(row: Pick<StoredEventRow, "outlier" | "rejectedReason" | "softFailed">): boolean {
  return !row.outlier && row.rejectedReason === null && !row.softFailed;
}

/** The SQL form of `isServedToClients`, for queries over `events`. */
export const SERVED_SQL = "NOT outlier AND rejected_reason IS NULL AND NOT soft_failed";

export interface NewEventRow extends EventRowFields {
  prevEvents: readonly string[];
  authEvents: readonly string[];
  /**
   * The room writer's follow-ups, folded into the same statement: these
   * forward extremities are replaced by the new event (never including the
   * event itself)...
   */
  replaceExtremities?: readonly string[];
  /** ...and the client transaction id that produced the event is recorded. */
  txn?: { key: TxnKey; createdTs: number };
  /** prev_events not yet known (the event waits for them as an outlier), with the kind to process it as. */
  missingPrevs?: { ids: readonly string[]; kind: string };
  /**
   * The row already exists as an outlier (it waited for its prev_events, or was
   * fetched as an auth event): it is updated in place instead of inserted.
   */
  replacesOutlier?: boolean;
}

/** A position in a room's topological order: (depth, stream_ordering). */
export interface TopoKey {
  depth: number;
  stream: number;
}

const COLUMNS = `stream_ordering, event_id, room_id, type, state_key, sender, depth, origin_server_ts, pdu,
  outlier, rejected_reason, soft_failed, redacted_by, replaces_state, state_before, state_after, current_after`;

interface RawRow extends Record<string, unknown> {
  stream_ordering: number;
  event_id: string;
  room_id: string;
  type: string;
  state_key: string | null;
  sender: string;
  depth: number;
  origin_server_ts: number;
  pdu: string;
  outlier: boolean;
  rejected_reason: string | null;
  soft_failed: boolean;
  redacted_by: string | null;
  replaces_state: string | null;
  state_before: number | null;
  state_after: number | null;
  current_after: number | null;
}

const num = (v: number | null): number | null => (v === null ? null : Number(v));

function toRow(r: RawRow): StoredEventRow {
  return {
    streamOrdering: Number(r.stream_ordering),
    eventId: r.event_id,
    roomId: r.room_id,
    type: r.type,
    stateKey: r.state_key,
    sender: r.sender,
    depth: Number(r.depth),
    originServerTs: Number(r.origin_server_ts),
    pduJson: r.pdu,
    outlier: r.outlier,
    rejectedReason: r.rejected_reason,
    softFailed: r.soft_failed,
    redactedBy: r.redacted_by,
    replacesState: r.replaces_state,
    stateBefore: num(r.state_before),
    stateAfter: num(r.state_after),
    currentAfter: num(r.current_after),
  };
}

export interface TxnKey {
  userId: string;
  deviceId: string;
  roomId: string;
  kind: string;
  txnId: string;
}

export class EventsRepo {
  constructor(
    private readonly sql: Sql,
    /** Scale-out: each position is locked while its transaction runs, so other processes can tell it is in flight. */
    private readonly lockPositions = false,
  ) {}

  async nextStreamOrdering(q: SqlQueryable = this.sql): Promise<number> {
    if (this.lockPositions) return nextLockedStreamOrdering(q);
    const [row] = await q.query<{ p: number }>("SELECT nextval('events_stream_seq')::int8 AS p");
    return Number(row!.p);
  }

  /** A position for an event that is not live (outlier, backfilled, rejected, soft-failed): negative, decreasing. */
  async nextNonLiveOrdering(q: SqlQueryable = this.sql): Promise<number> {
    const [row] = await q.query<{ p: number }>("SELECT -nextval('events_backfill_seq')::int8 AS p");
    return Number(row!.p);
  }

  async maxStreamOrdering(): Promise<number> {
    const [row] = await this.sql.query<{ p: number | null }>("SELECT max(stream_ordering)::int8 AS p FROM events");
    return row?.p == null ? 0 : Number(row.p);
  }

  /**
   * The event and its prev/auth edges in one statement (one round trip per
   * event persisted), with the forward-extremity update and the transaction
   * id when given. Data-modifying CTEs all run, in one snapshot; none of them
   * reads what another writes.
   */
  async insert(q: SqlQueryable, e: NewEventRow): Promise<void> {
    const params: unknown[] = [
      e.streamOrdering,
      e.eventId,
      e.roomId,
      e.type,
      e.stateKey,
      e.sender,
      e.depth,
      e.originServerTs,
      e.pduJson,
      e.replacesState,
      e.stateBefore,
      e.stateAfter,
      e.prevEvents,
      e.authEvents,
      e.currentAfter,
      e.outlier,
      e.rejectedReason,
      e.softFailed,
    ];
    let extra = "";
    if (e.replaceExtremities) {
      if (e.replaceExtremities.includes(e.eventId)) throw new Error("an event cannot replace itself as forward extremity");
      params.push(e.replaceExtremities);
      const n = params.length;
      extra += `, fx_gone AS (
         DELETE FROM room_forward_extremities WHERE room_id = $3 AND event_id = ANY($${n}::text[])
       ), fx_new AS (
         INSERT INTO room_forward_extremities (room_id, event_id) VALUES ($3, $2) ON CONFLICT DO NOTHING
       )`;
    }
    if (e.txn) {
      const k = e.txn.key;
      params.push(k.userId, k.deviceId, k.kind, k.txnId, e.txn.createdTs);
      const n = params.length;
      extra += `, txn AS (
         INSERT INTO event_txn_ids (user_id, device_id, room_id, kind, txn_id, event_id, created_ts)
         VALUES ($${n - 4}, $${n - 3}, $3, $${n - 2}, $${n - 1}, $2, $${n})
       )`;
    }
    if (e.missingPrevs && e.missingPrevs.ids.length > 0) {
      params.push(e.missingPrevs.ids, e.missingPrevs.kind);
      const n = params.length;
      extra += `, missing AS (
         INSERT INTO event_missing_prevs (event_id, missing_prev_id, room_id, kind)
         SELECT $2, unnest($${n - 1}::text[]), $3, $${n} ON CONFLICT DO NOTHING
       )`;
    }
    if (e.stateKey !== null && !e.replacesOutlier) {
      // "Auth chain": the auth events and their own (already indexed) chains.
      extra += `, chain AS (
         INSERT INTO event_auth_chain (event_id, chain_id)
         SELECT $2, a FROM unnest($14::text[]) AS a
         UNION SELECT $2, c.chain_id FROM event_auth_chain c WHERE c.event_id = ANY($14::text[])
         ON CONFLICT DO NOTHING
       )`;
    }
    const row = e.replacesOutlier
      ? // The stored PDU is kept; the other columns must match it (same event id).
        `UPDATE events SET stream_ordering = $1, replaces_state = $10, state_before = $11, state_after = $12,
           current_after = $15, outlier = $16, rejected_reason = $17, soft_failed = $18
         WHERE event_id = $2 AND outlier AND $3::text = room_id AND $4::text = type AND $5::text IS NOT DISTINCT FROM state_key
           AND $6::text = sender AND $7::int8 = depth AND $8::int8 = origin_server_ts AND $9::text IS NOT NULL`
      : `INSERT INTO events (stream_ordering, event_id, room_id, type, state_key, sender, depth, origin_server_ts, pdu,
           replaces_state, state_before, state_after, current_after, outlier, rejected_reason, soft_failed)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $15, $16, $17, $18)`;
    await q.query(
      `WITH ev AS (
         ${row}
       ), prev AS (
         INSERT INTO event_edges (event_id, prev_event_id) SELECT $2, unnest($13::text[]) ON CONFLICT DO NOTHING
       )${extra}
       INSERT INTO event_auth_edges (event_id, auth_event_id) SELECT $2, unnest($14::text[]) ON CONFLICT DO NOTHING`,
      params,
    );
  }

  /** Union of the auth chains of the given state events (see migration 0053). */
  async authChain(eventIds: readonly string[], q: SqlQueryable = this.sql): Promise<Set<string>> {
    if (eventIds.length === 0) return new Set();
    const rows = await q.query<{ chain_id: string }>(
      "SELECT DISTINCT chain_id FROM event_auth_chain WHERE event_id = ANY($1::text[])",
      [eventIds],
    );
    return new Set(rows.map((r) => r.chain_id));
  }

  /**
   * Events that waited for `prevId` as a missing prev_event: that edge is now
   * known, so it is removed. Returns the waiting events that have no missing
   * prev_event left, with the kind they arrived as.
   */
  async resolveMissingPrev(q: SqlQueryable, prevId: string): Promise<Array<{ eventId: string; kind: string }>> {
    const rows = await q.query<{ event_id: string; kind: string }>(
      `WITH gone AS (DELETE FROM event_missing_prevs WHERE missing_prev_id = $1 RETURNING event_id, kind)
       SELECT g.event_id, g.kind FROM gone g
        WHERE NOT EXISTS (SELECT 1 FROM event_missing_prevs m WHERE m.event_id = g.event_id AND m.missing_prev_id <> $1)`,
      [prevId],
    );
    return rows.map((r) => ({ eventId: r.event_id, kind: r.kind }));
  }

  /** The room's backward extremities: prev_events that some stored event cites but that are not known. */
  async missingPrevEvents(roomId: string, q: SqlQueryable = this.sql): Promise<string[]> {
    const rows = await q.query<{ missing_prev_id: string }>(
      "SELECT DISTINCT missing_prev_id FROM event_missing_prevs WHERE room_id = $1 ORDER BY missing_prev_id",
      [roomId],
    );
    return rows.map((r) => r.missing_prev_id);
  }

  /** Stored redaction events that target `eventId` (also those that arrived before it). */
  async redactionsOf(eventId: string, q: SqlQueryable = this.sql): Promise<string[]> {
    const rows = await q.query<{ event_id: string }>("SELECT event_id FROM redactions WHERE redacts = $1 ORDER BY event_id", [eventId]);
    return rows.map((r) => r.event_id);
  }

  async get(eventId: string, q: SqlQueryable = this.sql): Promise<StoredEventRow | undefined> {
    const rows = await q.query<RawRow>(`SELECT ${COLUMNS} FROM events WHERE event_id = $1`, [eventId]);
    return rows[0] ? toRow(rows[0]) : undefined;
  }

  async getMany(eventIds: readonly string[], q: SqlQueryable = this.sql): Promise<StoredEventRow[]> {
    if (eventIds.length === 0) return [];
    const rows = await q.query<RawRow>(`SELECT ${COLUMNS} FROM events WHERE event_id = ANY($1::text[])`, [eventIds]);
    return rows.map(toRow);
  }

  async byStream(streamOrdering: number): Promise<StoredEventRow | undefined> {
    const rows = await this.sql.query<RawRow>(`SELECT ${COLUMNS} FROM events WHERE stream_ordering = $1`, [streamOrdering]);
    return rows[0] ? toRow(rows[0]) : undefined;
  }

  /**
   * A page of a room's events in topological order. `after`: events strictly
   * after `from` (ascending); otherwise events at or before `from`
   * (descending). Only events at stream positions <= `maxStream` are seen.
   */
  async page(
    roomId: string,
    dir: "b" | "f",
    from: TopoKey | undefined,
    limit: number,
    maxStream: number,
  ): Promise<StoredEventRow[]> {
    const params: unknown[] = [roomId, maxStream, limit];
    let cond = "";
    if (from) {
      params.push(from.depth, from.stream);
      cond = dir === "b" ? "AND (depth, stream_ordering) <= ($4, $5)" : "AND (depth, stream_ordering) > ($4, $5)";
    }
    const order = dir === "b" ? "DESC" : "ASC";
    const rows = await this.sql.query<RawRow>(
      `SELECT ${COLUMNS} FROM events
        WHERE room_id = $1 AND stream_ordering <= $2 AND ${SERVED_SQL} ${cond}
        ORDER BY depth ${order}, stream_ordering ${order} LIMIT $3`,
      params,
    );
    return rows.map(toRow);
  }

  /** The topological key of the room's latest event at or before a stream position. */
  async topoAtStream(roomId: string, stream: number): Promise<TopoKey | undefined> {
    const [row] = await this.sql.query<{ d: number | null }>(
      `SELECT max(depth)::int8 AS d FROM events WHERE room_id = $1 AND stream_ordering <= $2 AND ${SERVED_SQL}`,
      [roomId, stream],
    );
    return row?.d == null ? undefined : { depth: Number(row.d), stream };
  }

  /** The room's last (non-outlier) event at or before a stream position. */
  async lastInRoom(roomId: string, maxStream: number): Promise<StoredEventRow | undefined> {
    const rows = await this.sql.query<RawRow>(
      `SELECT ${COLUMNS} FROM events WHERE room_id = $1 AND stream_ordering <= $2 AND stream_ordering > 0 AND ${SERVED_SQL}
        ORDER BY stream_ordering DESC LIMIT 1`,
      [roomId, maxStream],
    );
    return rows[0] ? toRow(rows[0]) : undefined;
  }

  /** A room's events after a stream position, up to `maxStream`, oldest first (peeking with GET /events). */
  async afterStream(roomId: string, after: number, maxStream: number, limit: number): Promise<StoredEventRow[]> {
    const rows = await this.sql.query<RawRow>(
      `SELECT ${COLUMNS} FROM events
        WHERE room_id = $1 AND stream_ordering > $2 AND stream_ordering <= $3 AND ${SERVED_SQL}
        ORDER BY stream_ordering ASC LIMIT $4`,
      [roomId, after, maxStream, limit],
    );
    return rows.map(toRow);
  }

  /** Events closest to a timestamp: at or after it (dir f, oldest first) or at or before it (dir b, newest first). */
  async nearTimestamp(roomId: string, ts: number, dir: "b" | "f", limit: number, maxStream: number): Promise<StoredEventRow[]> {
    const cond = dir === "f" ? "origin_server_ts >= $2" : "origin_server_ts <= $2";
    const order = dir === "f" ? "ASC" : "DESC";
    const rows = await this.sql.query<RawRow>(
      `SELECT ${COLUMNS} FROM events
        WHERE room_id = $1 AND ${cond} AND stream_ordering <= $3 AND ${SERVED_SQL}
        ORDER BY origin_server_ts ${order}, stream_ordering ${order} LIMIT $4`,
      [roomId, ts, maxStream, limit],
    );
    return rows.map(toRow);
  }

  async countInRoom(roomId: string): Promise<number> {
    const [row] = await this.sql.query<{ n: number }>("SELECT count(*)::int8 AS n FROM events WHERE room_id = $1", [roomId]);
    return Number(row?.n ?? 0);
  }

  async allInRoom(roomId: string): Promise<StoredEventRow[]> {
    const rows = await this.sql.query<RawRow>(`SELECT ${COLUMNS} FROM events WHERE room_id = $1 ORDER BY stream_ordering`, [roomId]);
    return rows.map(toRow);
  }

  // --- redactions ---

  async insertRedaction(q: SqlQueryable, eventId: string, redacts: string): Promise<void> {
    await q.query("INSERT INTO redactions (event_id, redacts) VALUES ($1, $2) ON CONFLICT DO NOTHING", [eventId, redacts]);
  }

  /** Marks an event redacted (the first applied redaction wins). */
  async markRedacted(q: SqlQueryable, eventId: string, redactedBy: string): Promise<void> {
    await q.query("UPDATE events SET redacted_by = $2 WHERE event_id = $1 AND redacted_by IS NULL", [eventId, redactedBy]);
  }

  // --- client transaction ids ---

  /**
   * The room writer's first read, in one round trip: the room's forward
   * extremities (ordered by event id) and, for a client transaction id, the
   * event it already produced. Must run after the room's advisory lock, as
   * its own statement: a statement's snapshot is taken when it starts, so a
   * read folded into the lock statement could miss the previous writer's commit.
   */
  async writerHead(
    q: SqlQueryable | undefined,
    roomId: string,
    txn: Omit<TxnKey, "roomId"> | undefined,
    withPosition = false,
  ): Promise<{ extremities: string[]; currentGroup: number | null; txnEventId: string | undefined; position: number | undefined }> {
    // `withPosition`: the next live stream position too (nextval), saving the writer a round trip;
    // none when the transaction id is known (a retry writes nothing).
    const rows = await (q ?? this.sql).query<{ k: string; event_id: string | null }>(
      `SELECT 'x' AS k, event_id FROM room_forward_extremities WHERE room_id = $1
       UNION ALL
       SELECT 'g' AS k, current_state_group::text FROM rooms WHERE room_id = $1
       UNION ALL
       SELECT 't' AS k, event_id FROM event_txn_ids
        WHERE $2::text IS NOT NULL AND user_id = $2 AND device_id = $3 AND room_id = $1 AND kind = $4 AND txn_id = $5${
          withPosition
            ? `
       UNION ALL
       SELECT 'n' AS k, s.p::text FROM (SELECT nextval('events_stream_seq')::int8 AS p
        WHERE NOT EXISTS (SELECT 1 FROM event_txn_ids
                           WHERE $2::text IS NOT NULL AND user_id = $2 AND device_id = $3 AND room_id = $1 AND kind = $4 AND txn_id = $5)) s${
          // Scale-out: the position is locked in the statement that allocates it (cluster-repo.ts).
          this.lockPositions ? ` CROSS JOIN LATERAL (SELECT pg_advisory_xact_lock(${POSITION_LOCK_CLASS}, (s.p % 2147483647)::int4)) l` : ""
        }`
            : ""
        }
       ORDER BY k, event_id`,
      [roomId, txn?.userId ?? null, txn?.deviceId ?? null, txn?.kind ?? null, txn?.txnId ?? null],
    );
    const g = rows.find((r) => r.k === "g")?.event_id;
    const n = rows.find((r) => r.k === "n")?.event_id;
    return {
      extremities: rows.filter((r) => r.k === "x").map((r) => r.event_id!),
      currentGroup: g === undefined || g === null ? null : Number(g),
      txnEventId: rows.find((r) => r.k === "t")?.event_id ?? undefined,
      position: n === undefined || n === null ? undefined : Number(n),
    };
  }

  /**
   * `writerHead` for several sends written in one transaction: the forward
   * extremities, the current state group, which of the client transaction ids
   * (by index in `txns`) already produced an event, and a new live stream
   * position for each of the `count` sends but those (ascending), in one
   * round trip: a retried transaction id allocates nothing.
   */
  async batchHead(
    q: SqlQueryable,
    roomId: string,
    txns: ReadonlyArray<Omit<TxnKey, "roomId"> | undefined>,
    count: number,
  ): Promise<{ extremities: string[]; currentGroup: number | null; known: Map<number, string>; positions: number[] }> {
    const idx: number[] = [];
    const cols: [string[], string[], string[], string[]] = [[], [], [], []];
    txns.forEach((t, i) => {
      if (!t) return;
      idx.push(i);
      cols[0].push(t.userId);
      cols[1].push(t.deviceId);
      cols[2].push(t.kind);
      cols[3].push(t.txnId);
    });
    const rows = await q.query<{ k: string; v: string | null }>(
      `WITH known AS (
         SELECT t.i, e.event_id
           FROM unnest($2::int4[], $3::text[], $4::text[], $5::text[], $6::text[]) AS t(i, u, d, kd, tx)
           JOIN event_txn_ids e ON e.user_id = t.u AND e.device_id = t.d AND e.room_id = $1 AND e.kind = t.kd AND e.txn_id = t.tx)
       SELECT 'x' AS k, event_id AS v FROM room_forward_extremities WHERE room_id = $1
       UNION ALL
       SELECT 'g' AS k, current_state_group::text FROM rooms WHERE room_id = $1
       UNION ALL
       SELECT 't' AS k, i::text || ' ' || event_id FROM known
       UNION ALL
       SELECT 'n' AS k, s.p::text FROM (SELECT nextval('events_stream_seq')::int8 AS p
         FROM generate_series(1, $7::int4 - (SELECT count(*)::int4 FROM known))) s${
         this.lockPositions ? ` CROSS JOIN LATERAL (SELECT pg_advisory_xact_lock(${POSITION_LOCK_CLASS}, (s.p % 2147483647)::int4)) l` : ""
       }`,
      [roomId, idx, ...cols, count],
    );
    const g = rows.find((r) => r.k === "g")?.v;
    const known = new Map<number, string>();
    for (const r of rows) {
      if (r.k !== "t" || r.v === null) continue;
      const sp = r.v.indexOf(" ");
      known.set(Number(r.v.slice(0, sp)), r.v.slice(sp + 1));
    }
    return {
      extremities: rows.filter((r) => r.k === "x").map((r) => r.v!).sort(),
      currentGroup: g === undefined || g === null ? null : Number(g),
      known,
      positions: rows
        .filter((r) => r.k === "n")
        .map((r) => Number(r.v))
        .sort((a, b) => a - b),
    };
  }

  async txnEvent(key: TxnKey, q: SqlQueryable = this.sql): Promise<string | undefined> {
    const [row] = await q.query<{ event_id: string }>(
      `SELECT event_id FROM event_txn_ids
        WHERE user_id = $1 AND device_id = $2 AND room_id = $3 AND kind = $4 AND txn_id = $5`,
      [key.userId, key.deviceId, key.roomId, key.kind, key.txnId],
    );
    return row?.event_id;
  }

  async insertTxn(q: SqlQueryable, key: TxnKey, eventId: string, now: number): Promise<void> {
    await q.query(
      `INSERT INTO event_txn_ids (user_id, device_id, room_id, kind, txn_id, event_id, created_ts)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [key.userId, key.deviceId, key.roomId, key.kind, key.txnId, eventId, now],
    );
  }

  /** Transaction ids of the given events sent by (user, device), for `unsigned.transaction_id`. */
  async txnIdsFor(eventIds: readonly string[], userId: string, deviceId: string): Promise<Map<string, string>> {
    if (eventIds.length === 0) return new Map();
    const rows = await this.sql.query<{ event_id: string; txn_id: string }>(
      `SELECT event_id, txn_id FROM event_txn_ids WHERE event_id = ANY($1::text[]) AND user_id = $2 AND device_id = $3`,
      [eventIds, userId, deviceId],
    );
    return new Map(rows.map((r) => [r.event_id, r.txn_id]));
  }
}
