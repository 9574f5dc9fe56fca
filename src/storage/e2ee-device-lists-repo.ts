import type { Sql, SqlQueryable } from "./sql.js";

/**
 * The device-list stream: positions from a sequence, one row per user holding
 * the latest position at which their devices or cross-signing keys changed.
 * Writers are serialised by the caller (see src/e2ee/stream-writer.ts), so a
 * committed position is never overtaken by an uncommitted lower one.
 */
export class E2eeDeviceListsRepo {
  constructor(private readonly db: Sql) {}

  /** The highest position handed out so far (0 before the first). */
  async maxPosition(): Promise<number> {
    const rows = await this.db.query<{ pos: number }>("SELECT CASE WHEN is_called THEN last_value ELSE 0 END AS pos FROM e2e_device_list_stream_seq");
    return rows[0]?.pos ?? 0;
  }

  /**
   * Records a change for each user at one new position, in one transaction; returns
   * the position. A `selfOnly` change is seen by the users themselves, not by others.
   */
  async recordChange(userIds: readonly string[], opts: { selfOnly?: boolean } = {}): Promise<number> {
    return this.db.transaction(async (tx) => {
      const [row] = await tx.query<{ pos: number }>(
        // The lock makes positions commit in order across processes too (src/storage/stream-writer.ts).
        `SELECT nextval('e2e_device_list_stream_seq') AS pos FROM (SELECT pg_advisory_xact_lock(hashtext('e2e_device_list_stream_seq'))) l`,
      );
      const pos = row!.pos;
      await tx.query(
        opts.selfOnly
          ? `INSERT INTO e2e_device_list_changes (user_id, stream_pos, public_pos) SELECT u, $2, NULL FROM unnest($1::text[]) AS t(u)
             ON CONFLICT (user_id) DO UPDATE SET stream_pos = excluded.stream_pos`
          : `INSERT INTO e2e_device_list_changes (user_id, stream_pos, public_pos) SELECT u, $2, $2 FROM unnest($1::text[]) AS t(u)
             ON CONFLICT (user_id) DO UPDATE SET stream_pos = excluded.stream_pos, public_pos = excluded.public_pos`,
        [[...new Set(userIds)], pos],
      );
      return pos;
    });
  }

  /**
   * Those of `userIds` whose latest change lies in (since, upto]; for `self`
   * (the reader) changes only they may see count too.
   */
  async changedBetween(userIds: readonly string[], since: number, upto: number, db: SqlQueryable = this.db, self?: string): Promise<string[]> {
    if (userIds.length === 0 || upto <= since) return [];
    const rows = await db.query<{ user_id: string }>(
      `SELECT user_id FROM e2e_device_list_changes
       WHERE user_id = ANY($1::text[])
         AND CASE WHEN user_id = $4 THEN stream_pos > $2 AND stream_pos <= $3 ELSE public_pos > $2 AND public_pos <= $3 END
       ORDER BY user_id`,
      [userIds, since, upto, self ?? null],
    );
    return rows.map((r) => r.user_id);
  }
}
