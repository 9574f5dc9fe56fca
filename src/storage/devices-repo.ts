import type { SqlQueryable } from "./sql.js";

export interface DeviceRow {
  user_id: string;
  device_id: string;
  display_name: string | null;
  created_ts: number;
  last_seen_ts: number | null;
  last_seen_ip: string | null;
  last_seen_user_agent: string | null;
}

/** A user's devices. Deleting a device here does not revoke tokens: TokensRepo does that. */
export class DevicesRepo {
  constructor(private readonly db: SqlQueryable) {}

  /** Creates the device, or keeps an existing one (a login may reuse a device id). */
  async upsert(
    d: { userId: string; deviceId: string; displayName: string | null; createdTs: number },
    db: SqlQueryable = this.db,
  ): Promise<void> {
    await db.query(
      `INSERT INTO devices (user_id, device_id, display_name, created_ts) VALUES ($1, $2, $3, $4)
       ON CONFLICT (user_id, device_id) DO UPDATE SET display_name = coalesce($3, devices.display_name)`,
      [d.userId, d.deviceId, d.displayName, d.createdTs],
    );
  }

  async exists(userId: string, deviceId: string, db: SqlQueryable = this.db): Promise<boolean> {
    return (await db.query("SELECT 1 FROM devices WHERE user_id = $1 AND device_id = $2", [userId, deviceId])).length > 0;
  }

  async get(userId: string, deviceId: string): Promise<DeviceRow | undefined> {
    const rows = await this.db.query<DeviceRow & Record<string, unknown>>(
      "SELECT * FROM devices WHERE user_id = $1 AND device_id = $2",
      [userId, deviceId],
    );
    return rows[0];
  }

  async list(userId: string): Promise<DeviceRow[]> {
    return this.db.query<DeviceRow & Record<string, unknown>>("SELECT * FROM devices WHERE user_id = $1 ORDER BY device_id", [userId]);
  }

  async setDisplayName(userId: string, deviceId: string, name: string | null): Promise<boolean> {
    const rows = await this.db.query(
      "UPDATE devices SET display_name = $3 WHERE user_id = $1 AND device_id = $2 RETURNING device_id",
      [userId, deviceId, name],
    );
    return rows.length > 0;
  }

  async touch(userId: string, deviceId: string, ts: number, ip: string | null, userAgent: string | null): Promise<void> {
    await this.db.query(
      "UPDATE devices SET last_seen_ts = $3, last_seen_ip = $4, last_seen_user_agent = $5 WHERE user_id = $1 AND device_id = $2",
      [userId, deviceId, ts, ip, userAgent],
    );
  }

  /** Deletes the listed devices (all of the user's when `deviceIds` is undefined); returns the ids deleted. */
  async delete(userId: string, deviceIds: readonly string[] | undefined, db: SqlQueryable = this.db): Promise<string[]> {
    const rows =
      deviceIds === undefined
        ? await db.query<{ device_id: string }>("DELETE FROM devices WHERE user_id = $1 RETURNING device_id", [userId])
        : await db.query<{ device_id: string }>(
            "DELETE FROM devices WHERE user_id = $1 AND device_id = ANY($2::text[]) RETURNING device_id",
            [userId, deviceIds],
          );
    return rows.map((r) => r.device_id);
  }
}
