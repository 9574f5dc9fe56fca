import { Coalescer } from "./coalesce.js";
import type { Sql } from "./sql.js";
import { currentPosition, writeWithPosition } from "./stream-writer.js";

export type PresenceRow = {
  user_id: string;
  state: string;
  status_msg: string | null;
  last_active_ts: number;
  stream_id: number;
};

export class PresenceRepo {
  constructor(private readonly sql: Sql) {}

  async upsert(r: Omit<PresenceRow, "stream_id">): Promise<number> {
    const { position } = await writeWithPosition(this.sql, "presence_stream_seq", (tx, pos) =>
      tx.query(
        `INSERT INTO presence (user_id, state, status_msg, last_active_ts, stream_id) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (user_id) DO UPDATE SET state = EXCLUDED.state, status_msg = EXCLUDED.status_msg,
           last_active_ts = EXCLUDED.last_active_ts, stream_id = EXCLUDED.stream_id`,
        [r.user_id, r.state, r.status_msg, r.last_active_ts, pos],
      ),
    );
    return position;
  }

  /** A user's row (shared with other callers of the same turn: do not modify it). */
  get(userId: string): Promise<PresenceRow | undefined> {
    return this.byUser.load(userId);
  }

  // Every /sync asks (set_presence): the requests that start together share one statement.
  private readonly byUser = new Coalescer<string, PresenceRow | undefined>(
    (userId) => userId,
    async (userIds) => {
      const rows = await this.sql.query<PresenceRow>(
        "SELECT user_id, state, status_msg, last_active_ts, stream_id FROM presence WHERE user_id = ANY($1::text[])",
        [userIds],
      );
      return new Map(rows.map((r) => [r.user_id, r]));
    },
    () => undefined,
  );

  currentPosition(): Promise<number> {
    return currentPosition(this.sql, "presence");
  }

  /** Every user's presence changed in (since, upto], in stream order (appservice transactions). */
  async changedAll(since: number, upto: number, limit: number): Promise<PresenceRow[]> {
    return this.sql.query<PresenceRow>(
      `SELECT user_id, state, status_msg, last_active_ts, stream_id FROM presence
       WHERE stream_id > $1 AND stream_id <= $2 ORDER BY stream_id LIMIT $3`,
      [since, upto, limit],
    );
  }

  async changedFor(userIds: readonly string[], since: number, upto: number): Promise<PresenceRow[]> {
    if (userIds.length === 0) return [];
    return this.sql.query<PresenceRow>(
      `SELECT user_id, state, status_msg, last_active_ts, stream_id FROM presence
       WHERE user_id = ANY($1::text[]) AND stream_id > $2 AND stream_id <= $3 ORDER BY stream_id`,
      [userIds, since, upto],
    );
  }
}
