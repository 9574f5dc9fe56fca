import type { Sql } from "./sql.js";

export interface ToDeviceRow {
  user_id: string;
  device_id: string;
  sender: string;
  type: string;
  /** JSON text of the message content. */
  content: string;
}

export interface StoredToDevice {
  stream_pos: number;
  sender: string;
  type: string;
  content: string;
}

export interface ToDeviceTxn {
  userId: string;
  deviceId: string;
  eventType: string;
  txnId: string;
}

/**
 * The to-device inbox ("Send-to-Device messaging"). Positions come from a
 * sequence; writers are serialised by the caller (src/e2ee/stream-writer.ts).
 */
export class ToDeviceRepo {
  constructor(private readonly db: Sql) {}

  async maxPosition(): Promise<number> {
    const rows = await this.db.query<{ pos: number }>("SELECT CASE WHEN is_called THEN last_value ELSE 0 END AS pos FROM to_device_stream_seq");
    return rows[0]?.pos ?? 0;
  }

  /**
   * Stores one send at one new position, together with its transaction id.
   * Returns the position, or null when the transaction id was seen before (a
   * retransmission: nothing is stored again).
   */
  async insert(rows: readonly ToDeviceRow[], txn: ToDeviceTxn | null, ts: number): Promise<number | null> {
    return this.db.transaction(async (tx) => {
      if (txn) {
        const fresh = await tx.query(
          `INSERT INTO to_device_txns (user_id, device_id, event_type, txn_id, created_ts) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT DO NOTHING RETURNING txn_id`,
          [txn.userId, txn.deviceId, txn.eventType, txn.txnId, ts],
        );
        if (fresh.length === 0) return null;
      }
      const [row] = await tx.query<{ pos: number }>(
        // The lock makes positions commit in order across processes too (src/storage/stream-writer.ts).
        `SELECT nextval('to_device_stream_seq') AS pos FROM (SELECT pg_advisory_xact_lock(hashtext('to_device_stream_seq'))) l`,
      );
      const pos = row!.pos;
      if (rows.length > 0) {
        await tx.query(
          `INSERT INTO to_device_messages (user_id, device_id, stream_pos, sender, type, content, created_ts)
           SELECT u, d, $1, s, t, c, $7 FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[]) AS x(u, d, s, t, c)`,
          [pos, rows.map((r) => r.user_id), rows.map((r) => r.device_id), rows.map((r) => r.sender), rows.map((r) => r.type), rows.map((r) => r.content), ts],
        );
      }
      return pos;
    });
  }

  /** Pending messages of one device in (since, upto], oldest first. */
  async list(userId: string, deviceId: string, since: number, upto: number, limit: number): Promise<StoredToDevice[]> {
    if (upto <= since || limit <= 0) return [];
    return this.db.query<StoredToDevice & Record<string, unknown>>(
      `SELECT stream_pos, sender, type, content FROM to_device_messages
       WHERE user_id = $1 AND device_id = $2 AND stream_pos > $3 AND stream_pos <= $4
       ORDER BY stream_pos LIMIT $5`,
      [userId, deviceId, since, upto, limit],
    );
  }

  /** Deletes the device's messages up to and including `pos` (acknowledged by a later sync token). */
  async deleteUpTo(userId: string, deviceId: string, pos: number): Promise<number> {
    const rows = await this.db.query("DELETE FROM to_device_messages WHERE user_id = $1 AND device_id = $2 AND stream_pos <= $3 RETURNING stream_pos", [
      userId,
      deviceId,
      pos,
    ]);
    return rows.length;
  }

  /** Drops the inbox and transaction ids of deleted devices. */
  async deleteDevices(userId: string, deviceIds: readonly string[]): Promise<void> {
    if (deviceIds.length === 0) return;
    await this.db.query("DELETE FROM to_device_messages WHERE user_id = $1 AND device_id = ANY($2::text[])", [userId, deviceIds]);
    await this.db.query("DELETE FROM to_device_txns WHERE user_id = $1 AND device_id = ANY($2::text[])", [userId, deviceIds]);
  }

  /** Forgets transaction ids older than `beforeTs` (retransmissions come within minutes). */
  async pruneTxns(beforeTs: number): Promise<void> {
    await this.db.query("DELETE FROM to_device_txns WHERE created_ts < $1", [beforeTs]);
  }
}
