import type { Sql } from "./sql.js";

export interface RemoteDeviceListRow {
  user_id: string;
  stream_id: number;
  stale: boolean;
}

export interface RemoteDeviceRow {
  user_id: string;
  device_id: string;
  display_name: string | null;
  /** The device keys as JSON text, or null when the device has none. */
  key_json: string | null;
}

export interface RemoteSigningKeyRow {
  user_id: string;
  key_type: "master" | "self_signing";
  key_json: string;
}

/** A whole device list as another server answered /user/devices. */
export interface RemoteDeviceListSnapshot {
  userId: string;
  streamId: number;
  devices: Array<{ deviceId: string; displayName: string | null; keyJson: string | null }>;
  master?: string;
  selfSigning?: string;
}

/** Other servers' users' device lists (migration 0190), kept by m.device_list_update and resyncs. */
export class RemoteDeviceListsRepo {
  constructor(private readonly sql: Sql) {}

  async get(userId: string): Promise<RemoteDeviceListRow | undefined> {
    const rows = await this.sql.query<RemoteDeviceListRow & Record<string, unknown>>(
      "SELECT user_id, stream_id, stale FROM remote_device_lists WHERE user_id = $1",
      [userId],
    );
    return rows[0];
  }

  /** The cache rows of those of `userIds` that are cached and not stale. */
  async fresh(userIds: readonly string[]): Promise<Set<string>> {
    if (userIds.length === 0) return new Set();
    const rows = await this.sql.query<{ user_id: string }>("SELECT user_id FROM remote_device_lists WHERE user_id = ANY($1::text[]) AND NOT stale", [userIds]);
    return new Set(rows.map((r) => r.user_id));
  }

  async devices(userIds: readonly string[]): Promise<RemoteDeviceRow[]> {
    if (userIds.length === 0) return [];
    return this.sql.query<RemoteDeviceRow & Record<string, unknown>>(
      "SELECT user_id, device_id, display_name, key_json FROM remote_devices WHERE user_id = ANY($1::text[]) ORDER BY user_id, device_id",
      [userIds],
    );
  }

  async signingKeys(userIds: readonly string[]): Promise<RemoteSigningKeyRow[]> {
    if (userIds.length === 0) return [];
    return this.sql.query<RemoteSigningKeyRow & Record<string, unknown>>(
      "SELECT user_id, key_type, key_json FROM remote_cross_signing_keys WHERE user_id = ANY($1::text[])",
      [userIds],
    );
  }

  /** Replaces everything cached for the user with a snapshot (a resync). */
  async replace(s: RemoteDeviceListSnapshot, now: number): Promise<void> {
    await this.sql.transaction(async (tx) => {
      await tx.query("DELETE FROM remote_devices WHERE user_id = $1", [s.userId]);
      await tx.query("DELETE FROM remote_cross_signing_keys WHERE user_id = $1", [s.userId]);
      if (s.devices.length > 0) {
        await tx.query(
          `INSERT INTO remote_devices (user_id, device_id, display_name, key_json)
           SELECT $1, d, n, k FROM unnest($2::text[], $3::text[], $4::text[]) AS x(d, n, k)`,
          [s.userId, s.devices.map((d) => d.deviceId), s.devices.map((d) => d.displayName), s.devices.map((d) => d.keyJson)],
        );
      }
      for (const [type, json] of [
        ["master", s.master],
        ["self_signing", s.selfSigning],
      ] as const) {
        if (json !== undefined)
          await tx.query("INSERT INTO remote_cross_signing_keys (user_id, key_type, key_json) VALUES ($1, $2, $3)", [s.userId, type, json]);
      }
      await tx.query(
        `INSERT INTO remote_device_lists (user_id, stream_id, stale, updated_ts) VALUES ($1, $2, false, $3)
         ON CONFLICT (user_id) DO UPDATE SET stream_id = excluded.stream_id, stale = false, updated_ts = excluded.updated_ts`,
        [s.userId, s.streamId, now],
      );
    });
  }

  /**
   * Applies one m.device_list_update if the cache is still at `expectStreamId`
   * (else returns false and changes nothing): the device is replaced, or
   * removed when `deleted`, and the cache moves to `streamId`.
   */
  async applyUpdate(
    u: { userId: string; deviceId: string; displayName: string | null; keyJson: string | null; deleted: boolean; streamId: number; expectStreamId: number },
    now: number,
    maxDevices: number,
  ): Promise<boolean> {
    return this.sql.transaction(async (tx) => {
      const moved = await tx.query(
        "UPDATE remote_device_lists SET stream_id = $2, updated_ts = $4 WHERE user_id = $1 AND stream_id = $3 AND NOT stale RETURNING user_id",
        [u.userId, u.streamId, u.expectStreamId, now],
      );
      if (moved.length === 0) return false;
      if (u.deleted) await tx.query("DELETE FROM remote_devices WHERE user_id = $1 AND device_id = $2", [u.userId, u.deviceId]);
      else {
        // A new device beyond `maxDevices` is not cached (another server could announce millions).
        await tx.query(
          `INSERT INTO remote_devices (user_id, device_id, display_name, key_json)
           SELECT $1, $2, $3, $4
           WHERE (SELECT count(*) FROM remote_devices WHERE user_id = $1) < $5
              OR EXISTS (SELECT 1 FROM remote_devices WHERE user_id = $1 AND device_id = $2)
           ON CONFLICT (user_id, device_id) DO UPDATE SET display_name = excluded.display_name, key_json = excluded.key_json`,
          [u.userId, u.deviceId, u.displayName, u.keyJson, maxDevices],
        );
      }
      return true;
    });
  }

  async markStale(userId: string): Promise<void> {
    await this.sql.query("UPDATE remote_device_lists SET stale = true WHERE user_id = $1", [userId]);
  }

  /** Stores a master or self-signing key of a cached user (m.signing_key_update). */
  async putSigningKey(userId: string, keyType: "master" | "self_signing", keyJson: string): Promise<void> {
    await this.sql.query(
      `INSERT INTO remote_cross_signing_keys (user_id, key_type, key_json) VALUES ($1, $2, $3)
       ON CONFLICT (user_id, key_type) DO UPDATE SET key_json = excluded.key_json`,
      [userId, keyType, keyJson],
    );
  }
}
