import type { SqlQueryable } from "./sql.js";

/** A prev_event the room lacks, cited by events placed in its graph. */
export interface BackwardExtremity {
  eventId: string;
  /** The greatest depth of the placed events citing it. */
  depth: number;
  /** Senders of those events (their servers are likely to have it). */
  senders: string[];
}

/** A room's backward extremities and what asking for them gave (migration 0185). */
export class BackfillRepo {
  constructor(private readonly sql: SqlQueryable) {}

  /**
   * Backward extremities cited by placed events at or below `maxDepth`,
   * deepest first, leaving out those exhausted or waiting for a retry at `now`.
   */
  async backwardExtremities(roomId: string, maxDepth: number, now: number, limit: number): Promise<BackwardExtremity[]> {
    const rows = await this.sql.query<{ missing_prev_id: string; depth: number; senders: string[] }>(
      `SELECT m.missing_prev_id, max(e.depth)::int8 AS depth, array_agg(DISTINCT e.sender) AS senders
         FROM event_missing_prevs m JOIN events e ON e.event_id = m.event_id
        WHERE m.room_id = $1 AND NOT e.outlier AND e.depth <= $2
          AND NOT EXISTS (SELECT 1 FROM events k WHERE k.event_id = m.missing_prev_id AND NOT k.outlier)
          AND NOT EXISTS (SELECT 1 FROM backfill_attempts a WHERE a.room_id = $1 AND a.event_id = m.missing_prev_id
                           AND (a.exhausted OR a.retry_after_ts > $3))
        GROUP BY m.missing_prev_id
        ORDER BY depth DESC, m.missing_prev_id
        LIMIT $4`,
      [roomId, maxDepth, now, limit],
    );
    return rows.map((r) => ({ eventId: r.missing_prev_id, depth: Number(r.depth), senders: r.senders }));
  }

  /** Records an attempt: `exhausted` when every server answered without the events, else retried from `retryAfter`. */
  async recordAttempt(roomId: string, eventIds: readonly string[], exhausted: boolean, now: number, backoffMs: (attempts: number) => number): Promise<void> {
    for (const id of eventIds) {
      const [row] = await this.sql.query<{ attempts: number }>("SELECT attempts FROM backfill_attempts WHERE room_id = $1 AND event_id = $2", [roomId, id]);
      const attempts = Number(row?.attempts ?? 0) + 1;
      await this.sql.query(
        `INSERT INTO backfill_attempts (room_id, event_id, attempts, exhausted, retry_after_ts) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (room_id, event_id) DO UPDATE SET attempts = $3, exhausted = $4, retry_after_ts = $5`,
        [roomId, id, attempts, exhausted, now + backoffMs(attempts)],
      );
    }
  }
}
