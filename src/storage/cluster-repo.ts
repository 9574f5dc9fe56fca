import type { SqlQueryable } from "./sql.js";

/**
 * The statements of scale-out (several processes on one PostgreSQL): the
 * notifications they exchange and the locks that show which room-event
 * positions are still being written (docs/scale-out.md).
 */

/** First key of the transaction-level advisory lock a writer holds on each room-event position it allocated. */
export const POSITION_LOCK_CLASS = 0x48530001;

/** Sends each payload as a notification on `channel`; inside a transaction they are delivered only if it commits. */
export async function notify(q: SqlQueryable, channel: string, payloads: readonly string[]): Promise<void> {
  if (payloads.length === 0) return;
  if (payloads.length === 1) await q.query("SELECT pg_notify($1, $2)", [channel, payloads[0]]);
  else await q.query("SELECT pg_notify($1, p) FROM unnest($2::text[]) WITH ORDINALITY AS t(p, n) ORDER BY n", [channel, payloads]);
}

/**
 * A new room-event position, with the lock that tells other processes it is in
 * flight until this transaction ends. One statement, so no other process can
 * see the position allocated but not yet locked.
 */
export async function nextLockedStreamOrdering(tx: SqlQueryable): Promise<number> {
  const [row] = await tx.query<{ p: number }>(
    `SELECT s.p, pg_advisory_xact_lock(${POSITION_LOCK_CLASS}, (s.p % 2147483647)::int4)
       FROM (SELECT nextval('events_stream_seq')::int8 AS p) s`,
  );
  return Number(row!.p);
}

/** Room-event positions whose writer's transaction is still open, in any process. */
export async function positionsInFlight(q: SqlQueryable): Promise<Set<number>> {
  const rows = await q.query<{ p: number }>(
    `SELECT objid::text::int8 AS p FROM pg_locks
      WHERE locktype = 'advisory' AND classid = ${POSITION_LOCK_CLASS}::oid AND objsubid = 2 AND granted`,
  );
  return new Set(rows.map((r) => Number(r.p)));
}

/** The last position handed out by the room-event sequence (0 before the first). */
export async function lastAllocatedStreamOrdering(q: SqlQueryable): Promise<number> {
  const [row] = await q.query<{ last_value: number; is_called: boolean }>("SELECT last_value::int8 AS last_value, is_called FROM events_stream_seq");
  if (!row) return 0;
  return row.is_called ? Number(row.last_value) : Number(row.last_value) - 1;
}

/**
 * Sends a typing change to every process with the next cluster-wide typing
 * position set in its `pos` field. The lock is held until the notification is
 * queued, so notifications are delivered in position order.
 */
export async function notifyTyping(q: SqlQueryable, channel: string, payload: string): Promise<void> {
  await q.query(
    `SELECT pg_notify($1, jsonb_set($2::jsonb, '{pos}', to_jsonb(s.p))::text)
       FROM (SELECT nextval('typing_stream_seq')::int8 AS p FROM (SELECT pg_advisory_xact_lock(hashtext('typing_stream_seq'))) l) s`,
    [channel, payload],
  );
}

/** The last cluster-wide typing position handed out. */
export async function lastTypingPosition(q: SqlQueryable): Promise<number> {
  const [row] = await q.query<{ last_value: number; is_called: boolean }>("SELECT last_value::int8 AS last_value, is_called FROM typing_stream_seq");
  return row?.is_called ? Number(row.last_value) : 0;
}
