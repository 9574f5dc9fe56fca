import { SERVED_SQL } from "./events-repo.js";
import type { Sql, SqlQueryable } from "./sql.js";

/**
 * Durable delivery positions (one row per destination kind + id) and the
 * room-event stream read that outbound senders re-read from. See
 * src/delivery/index.ts for how a worker uses them.
 */

export interface DeliveryPositionRow {
  kind: string;
  destination: string;
  streamPos: number;
  cursor: Record<string, unknown>;
  txnSeq: number;
  /** Set while a transaction is in flight: it covers (streamPos, pendingTo]. */
  pending: { to: number; cursor: Record<string, unknown>; payload: unknown } | undefined;
  failures: number;
}

/** The fields of a room event a sender needs to decide whether it concerns a destination. */
export interface StreamEventRef {
  streamOrdering: number;
  eventId: string;
  roomId: string;
  type: string;
  stateKey: string | null;
  sender: string;
}

interface PositionDbRow {
  kind: string;
  destination: string;
  stream_pos: number;
  cursor: Record<string, unknown> | null;
  txn_seq: number;
  pending_to: number | null;
  pending_cursor: Record<string, unknown> | null;
  pending_payload: unknown;
  failures: number;
  [k: string]: unknown;
}

function toRow(r: PositionDbRow): DeliveryPositionRow {
  return {
    kind: r.kind,
    destination: r.destination,
    streamPos: Number(r.stream_pos),
    cursor: r.cursor ?? {},
    txnSeq: Number(r.txn_seq),
    pending: r.pending_to === null ? undefined : { to: Number(r.pending_to), cursor: r.pending_cursor ?? {}, payload: r.pending_payload },
    failures: r.failures,
  };
}

export class DeliveryRepo {
  constructor(private readonly sql: Sql) {}

  /**
   * The destination's position, created at `initial` when it has none yet
   * (a new destination starts at the stream's head, not its beginning).
   */
  async ensure(
    kind: string,
    destination: string,
    initial: { streamPos: number; cursor: Record<string, unknown>; txnSeq: number; now: number },
  ): Promise<DeliveryPositionRow> {
    await this.sql.query(
      `INSERT INTO delivery_positions (kind, destination, stream_pos, cursor, txn_seq, updated_ts)
       VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (kind, destination) DO NOTHING`,
      [kind, destination, initial.streamPos, initial.cursor, initial.txnSeq, initial.now],
    );
    return (await this.get(kind, destination))!;
  }

  async get(kind: string, destination: string): Promise<DeliveryPositionRow | undefined> {
    const [row] = await this.sql.query<PositionDbRow>("SELECT * FROM delivery_positions WHERE kind = $1 AND destination = $2", [kind, destination]);
    return row ? toRow(row) : undefined;
  }

  /** Records the transaction about to be sent (before the first attempt). */
  async setPending(kind: string, destination: string, pending: { to: number; cursor: Record<string, unknown>; payload: unknown }, now: number): Promise<void> {
    await this.sql.query(
      `UPDATE delivery_positions SET pending_to = $3, pending_cursor = $4, pending_payload = $5, failures = 0, updated_ts = $6
       WHERE kind = $1 AND destination = $2`,
      [kind, destination, pending.to, pending.cursor, JSON.stringify(pending.payload), now],
    );
  }

  /**
   * The in-flight transaction succeeded (or there was nothing to send): the
   * position moves to `to`, the next transaction gets a new id when `sent`.
   */
  async advance(kind: string, destination: string, to: number, cursor: Record<string, unknown>, sent: boolean, now: number): Promise<void> {
    await this.sql.query(
      `UPDATE delivery_positions
       SET stream_pos = GREATEST(stream_pos, $3), cursor = $4, txn_seq = txn_seq + $5,
           pending_to = NULL, pending_cursor = NULL, pending_payload = NULL, failures = 0, updated_ts = $6
       WHERE kind = $1 AND destination = $2`,
      [kind, destination, to, cursor, sent ? 1 : 0, now],
    );
  }

  async recordFailure(kind: string, destination: string, failures: number, now: number): Promise<void> {
    await this.sql.query("UPDATE delivery_positions SET failures = $3, updated_ts = $4 WHERE kind = $1 AND destination = $2", [
      kind,
      destination,
      failures,
      now,
    ]);
  }

  async remove(kind: string, destination: string): Promise<void> {
    await this.sql.query("DELETE FROM delivery_positions WHERE kind = $1 AND destination = $2", [kind, destination]);
  }

  /**
   * Live room events in (after, upTo], in stream order. Only positive stream
   * orderings are live positions (outliers have none, backfilled events get
   * negative ones); outliers, rejected and soft-failed events are never delivered.
   */
  async eventsAfter(after: number, upTo: number, limit: number): Promise<StreamEventRef[]> {
    const rows = await this.sql.query<{
      stream_ordering: number;
      event_id: string;
      room_id: string;
      type: string;
      state_key: string | null;
      sender: string;
    }>(
      `SELECT stream_ordering, event_id, room_id, type, state_key, sender FROM events
       WHERE stream_ordering > GREATEST($1::int8, 0) AND stream_ordering <= $2
         AND ${SERVED_SQL}
       ORDER BY stream_ordering LIMIT $3`,
      [after, upTo, limit],
    );
    return rows.map((r) => ({
      streamOrdering: Number(r.stream_ordering),
      eventId: r.event_id,
      roomId: r.room_id,
      type: r.type,
      stateKey: r.state_key,
      sender: r.sender,
    }));
  }
}

/**
 * A database session that holds advisory locks for as long as it is open
 * (session-level locks outlive transactions). Only one is opened per process.
 */
export interface LeaseSession {
  query: SqlQueryable["query"];
  release(): Promise<void>;
}

/** 64-bit advisory-lock key of a destination (namespace 7 keeps it apart from other lock users). */
const LOCK_KEY = "hashtextextended($1, 7)";

export class LeaseRepo {
  constructor(private readonly session: LeaseSession) {}

  async tryLock(name: string): Promise<boolean> {
    const [row] = await this.session.query<{ ok: boolean }>(`SELECT pg_try_advisory_lock(${LOCK_KEY}) AS ok`, [name]);
    return row?.ok === true;
  }

  async unlock(name: string): Promise<void> {
    await this.session.query(`SELECT pg_advisory_unlock(${LOCK_KEY})`, [name]);
  }

  /** Whether the session still answers (a lost connection loses its locks). */
  async alive(): Promise<boolean> {
    try {
      await this.session.query("SELECT 1");
      return true;
    } catch {
      return false;
    }
  }

  release(): Promise<void> {
    return this.session.release();
  }
}
