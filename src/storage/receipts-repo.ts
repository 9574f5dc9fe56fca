import type { Sql } from "./sql.js";
import { currentPosition, writeWithPosition } from "./stream-writer.js";

export type ReceiptRow = {
  room_id: string;
  receipt_type: string;
  user_id: string;
  thread_id: string;
  event_id: string;
  ts: number;
  stream_id: number;
};

export class ReceiptsRepo {
  constructor(private readonly sql: Sql) {}

  /** Stores (or moves) a user's receipt; returns its stream position. */
  async upsert(r: Omit<ReceiptRow, "stream_id">): Promise<number> {
    const { position } = await writeWithPosition(this.sql, "receipts_stream_seq", (tx, pos) =>
      tx.query(
        `INSERT INTO receipts (room_id, receipt_type, user_id, thread_id, event_id, ts, stream_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (room_id, receipt_type, user_id, thread_id)
         DO UPDATE SET event_id = EXCLUDED.event_id, ts = EXCLUDED.ts, stream_id = EXCLUDED.stream_id`,
        [r.room_id, r.receipt_type, r.user_id, r.thread_id, r.event_id, r.ts, pos],
      ),
    );
    return position;
  }

  currentPosition(): Promise<number> {
    return currentPosition(this.sql, "receipts");
  }

  /** Receipts in `roomIds` written in (since, upto]; all of them when since is 0. */
  async changedIn(roomIds: readonly string[], since: number, upto: number): Promise<ReceiptRow[]> {
    if (roomIds.length === 0) return [];
    return this.sql.query<ReceiptRow>(
      `SELECT room_id, receipt_type, user_id, thread_id, event_id, ts, stream_id FROM receipts
       WHERE room_id = ANY($1::text[]) AND stream_id > $2 AND stream_id <= $3
       ORDER BY stream_id`,
      [roomIds, since, upto],
    );
  }
}
