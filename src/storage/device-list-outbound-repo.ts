import type { Sql } from "./sql.js";

export interface OutboundDeviceListState {
  streamId: number;
  signingDigest: string | null;
  /** device id -> digest of the device as last sent */
  devices: Map<string, string>;
}

/** What we last sent other servers about our users' device lists (migration 0190). */
export class DeviceListOutboundRepo {
  constructor(private readonly sql: Sql) {}

  async streamId(userId: string): Promise<number> {
    const rows = await this.sql.query<{ stream_id: number }>("SELECT stream_id FROM device_list_outbound WHERE user_id = $1", [userId]);
    return rows[0]?.stream_id ?? 0;
  }

  async state(userId: string): Promise<OutboundDeviceListState> {
    const [head] = await this.sql.query<{ stream_id: number; signing_digest: string | null }>(
      "SELECT stream_id, signing_digest FROM device_list_outbound WHERE user_id = $1",
      [userId],
    );
    const rows = await this.sql.query<{ device_id: string; digest: string }>("SELECT device_id, digest FROM device_list_outbound_devices WHERE user_id = $1", [
      userId,
    ]);
    return { streamId: head?.stream_id ?? 0, signingDigest: head?.signing_digest ?? null, devices: new Map(rows.map((r) => [r.device_id, r.digest])) };
  }

  /** Records a new state: the stream id reached, the signing digest, and each device's digest (null: the device is gone). */
  async save(userId: string, streamId: number, signingDigest: string | null, devices: ReadonlyMap<string, string | null>): Promise<void> {
    await this.sql.transaction(async (tx) => {
      await tx.query(
        `INSERT INTO device_list_outbound (user_id, stream_id, signing_digest) VALUES ($1, $2, $3)
         ON CONFLICT (user_id) DO UPDATE SET stream_id = excluded.stream_id, signing_digest = excluded.signing_digest`,
        [userId, streamId, signingDigest],
      );
      for (const [deviceId, digest] of devices) {
        if (digest === null) await tx.query("DELETE FROM device_list_outbound_devices WHERE user_id = $1 AND device_id = $2", [userId, deviceId]);
        else {
          await tx.query(
            `INSERT INTO device_list_outbound_devices (user_id, device_id, digest) VALUES ($1, $2, $3)
             ON CONFLICT (user_id, device_id) DO UPDATE SET digest = excluded.digest`,
            [userId, deviceId, digest],
          );
        }
      }
    });
  }
}
