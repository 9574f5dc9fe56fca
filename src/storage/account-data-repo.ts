import type { Sql, SqlQueryable } from "./sql.js";
import { writeWithPosition } from "./stream-writer.js";

export interface AccountDataRow {
  user_id: string;
  /** '' for global account data. */
  room_id: string;
  type: string;
  content: Record<string, unknown>;
  stream_pos: number;
}

/**
 * Account data (global and per room) with a stream position per write, and
 * filters. Writes go through writeWithPosition so a reader never sees
 * position N+1 before N is committed.
 */
export class AccountDataRepo {
  constructor(private readonly sql: Sql) {}

  /** Sets one item; returns its new stream position. */
  async put(userId: string, roomId: string | null, type: string, content: Record<string, unknown>): Promise<number> {
    const { position } = await writeWithPosition(this.sql, "account_data_stream_seq", async (tx, pos) => {
      await upsert(tx, userId, roomId ?? "", type, content, pos);
    });
    return position;
  }

  /**
   * Read-modify-write of one item under the stream lock (room tags are
   * updated this way). `fn` gets the current content (undefined if none).
   */
  async update(
    userId: string,
    roomId: string | null,
    type: string,
    fn: (current: Record<string, unknown> | undefined) => Record<string, unknown>,
  ): Promise<{ position: number; content: Record<string, unknown> }> {
    const { position, result } = await writeWithPosition(this.sql, "account_data_stream_seq", async (tx, pos) => {
      const rows = await tx.query<{ content: Record<string, unknown> }>(
        "SELECT content FROM account_data WHERE user_id = $1 AND room_id = $2 AND type = $3",
        [userId, roomId ?? "", type],
      );
      const content = fn(rows[0]?.content);
      await upsert(tx, userId, roomId ?? "", type, content, pos);
      return content;
    });
    return { position, content: result };
  }

  async get(userId: string, roomId: string | null, type: string): Promise<Record<string, unknown> | undefined> {
    const rows = await this.sql.query<{ content: Record<string, unknown> }>(
      "SELECT content FROM account_data WHERE user_id = $1 AND room_id = $2 AND type = $3",
      [userId, roomId ?? "", type],
    );
    return rows[0]?.content;
  }

  /** Items changed after `since` (all when since is 0), oldest first, for /sync. */
  async changedSince(userId: string, since: number, upTo?: number): Promise<AccountDataRow[]> {
    return this.sql.query<AccountDataRow & Record<string, unknown>>(
      `SELECT * FROM account_data WHERE user_id = $1 AND stream_pos > $2 AND ($3::int8 IS NULL OR stream_pos <= $3)
        ORDER BY stream_pos`,
      [userId, since, upTo ?? null],
    );
  }

  /** The highest committed position (0 before any write). */
  async currentPosition(): Promise<number> {
    const rows = await this.sql.query<{ p: number | null }>("SELECT max(stream_pos)::int8 AS p FROM account_data");
    return rows[0]?.p ?? 0;
  }

  // --- filters ---

  async createFilter(userId: string, filter: Record<string, unknown>): Promise<number> {
    const rows = await this.sql.query<{ id: number }>(
      "INSERT INTO filters (user_id, filter_id, filter) VALUES ($1, nextval('filter_id_seq'), $2::jsonb) RETURNING filter_id AS id",
      [userId, JSON.stringify(filter)],
    );
    return Number(rows[0]!.id);
  }

  async getFilter(userId: string, filterId: number): Promise<Record<string, unknown> | undefined> {
    const rows = await this.sql.query<{ filter: Record<string, unknown> }>(
      "SELECT filter FROM filters WHERE user_id = $1 AND filter_id = $2",
      [userId, filterId],
    );
    return rows[0]?.filter;
  }
}

async function upsert(tx: SqlQueryable, userId: string, roomId: string, type: string, content: Record<string, unknown>, pos: number): Promise<void> {
  await tx.query(
    `INSERT INTO account_data (user_id, room_id, type, content, stream_pos) VALUES ($1, $2, $3, $4::jsonb, $5)
     ON CONFLICT (user_id, room_id, type) DO UPDATE SET content = $4::jsonb, stream_pos = $5`,
    [userId, roomId, type, JSON.stringify(content), pos],
  );
}
