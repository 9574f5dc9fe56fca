import type { SqlQueryable } from "./sql.js";

export interface DehydratedDeviceRow {
  device_id: string;
  /** JSON text of the client's encrypted device data. */
  device_data: string;
}

/** Dehydrated devices (MSC3814): one per user. */
export class E2eeDehydratedRepo {
  constructor(private readonly db: SqlQueryable) {}

  async get(userId: string): Promise<DehydratedDeviceRow | undefined> {
    const rows = await this.db.query<DehydratedDeviceRow & Record<string, unknown>>(
      "SELECT device_id, device_data FROM e2e_dehydrated_devices WHERE user_id = $1",
      [userId],
    );
    return rows[0];
  }

  async put(userId: string, deviceId: string, deviceData: string, ts: number): Promise<void> {
    await this.db.query(
      `INSERT INTO e2e_dehydrated_devices (user_id, device_id, device_data, created_ts) VALUES ($1, $2, $3, $4)
       ON CONFLICT (user_id) DO UPDATE SET device_id = $2, device_data = $3, created_ts = $4`,
      [userId, deviceId, deviceData, ts],
    );
  }

  /** Forgets the user's dehydrated device if it is one of `deviceIds`. */
  async deleteIfAmong(userId: string, deviceIds: readonly string[]): Promise<void> {
    if (deviceIds.length === 0) return;
    await this.db.query("DELETE FROM e2e_dehydrated_devices WHERE user_id = $1 AND device_id = ANY($2::text[])", [userId, deviceIds]);
  }
}
