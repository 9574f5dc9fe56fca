import { Coalescer } from "./coalesce.js";
import type { SqlQueryable } from "./sql.js";

interface DeviceKey {
  userId: string;
  deviceId: string;
}
const deviceKeyId = (k: DeviceKey): string => `${k.userId}\n${k.deviceId}`;

/** A key object exactly as a client uploaded it (JSON text). */
export interface StoredDeviceKeys {
  user_id: string;
  device_id: string;
  key_json: string;
  ed25519_key: string;
}

export interface OneTimeKeyInput {
  algorithm: string;
  keyId: string;
  keyJson: string;
}

export interface ClaimedKey {
  key_id: string;
  key_json: string;
  algorithm: string;
}

/** Device identity keys, one-time keys and fallback keys ("Key Distribution"). */
export class E2eeKeysRepo {
  constructor(private readonly db: SqlQueryable) {}

  async getDeviceKeys(userId: string, deviceId: string, db: SqlQueryable = this.db): Promise<StoredDeviceKeys | undefined> {
    const rows = await db.query<StoredDeviceKeys & Record<string, unknown>>(
      "SELECT user_id, device_id, key_json, ed25519_key FROM e2e_device_keys WHERE user_id = $1 AND device_id = $2",
      [userId, deviceId],
    );
    return rows[0];
  }

  /** Device keys of several users at once. */
  async listDeviceKeys(userIds: readonly string[]): Promise<StoredDeviceKeys[]> {
    if (userIds.length === 0) return [];
    return this.db.query<StoredDeviceKeys & Record<string, unknown>>(
      "SELECT user_id, device_id, key_json, ed25519_key FROM e2e_device_keys WHERE user_id = ANY($1::text[]) ORDER BY user_id, device_id",
      [userIds],
    );
  }

  async putDeviceKeys(k: { userId: string; deviceId: string; keyJson: string; ed25519Key: string; ts: number }, db: SqlQueryable = this.db): Promise<void> {
    await db.query(
      `INSERT INTO e2e_device_keys (user_id, device_id, key_json, ed25519_key, updated_ts) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (user_id, device_id) DO UPDATE SET key_json = $3, ed25519_key = $4, updated_ts = $5`,
      [k.userId, k.deviceId, k.keyJson, k.ed25519Key, k.ts],
    );
  }

  /** The stored JSON of those of `keys` that already exist for the device, by "algorithm:key_id". */
  async existingOneTimeKeys(userId: string, deviceId: string, keys: readonly OneTimeKeyInput[], db: SqlQueryable = this.db): Promise<Map<string, string>> {
    if (keys.length === 0) return new Map();
    const rows = await db.query<{ algorithm: string; key_id: string; key_json: string }>(
      `SELECT algorithm, key_id, key_json FROM e2e_one_time_keys
       WHERE user_id = $1 AND device_id = $2 AND (algorithm || ':' || key_id) = ANY($3::text[])`,
      [userId, deviceId, keys.map((k) => `${k.algorithm}:${k.keyId}`)],
    );
    return new Map(rows.map((r) => [`${r.algorithm}:${r.key_id}`, r.key_json]));
  }

  async addOneTimeKeys(userId: string, deviceId: string, keys: readonly OneTimeKeyInput[], db: SqlQueryable = this.db): Promise<void> {
    if (keys.length === 0) return;
    await db.query(
      `INSERT INTO e2e_one_time_keys (user_id, device_id, algorithm, key_id, key_json)
       SELECT $1, $2, a, k, j FROM unnest($3::text[], $4::text[], $5::text[]) AS t(a, k, j)
       ON CONFLICT (user_id, device_id, algorithm, key_id) DO NOTHING`,
      [userId, deviceId, keys.map((k) => k.algorithm), keys.map((k) => k.keyId), keys.map((k) => k.keyJson)],
    );
  }

  /** Unclaimed one-time keys per algorithm. */
  async countOneTimeKeys(userId: string, deviceId: string, db: SqlQueryable = this.db): Promise<Record<string, number>> {
    // Outside a transaction (every /sync response): coalesced with the other devices asking now.
    if (db === this.db) return { ...(await this.otkCounts.load({ userId, deviceId })) };
    const rows = await db.query<{ algorithm: string; n: number }>(
      "SELECT algorithm, count(*)::int8 AS n FROM e2e_one_time_keys WHERE user_id = $1 AND device_id = $2 GROUP BY algorithm",
      [userId, deviceId],
    );
    return Object.fromEntries(rows.map((r) => [r.algorithm, r.n]));
  }

  /**
   * Takes the oldest one-time key of `algorithm` and deletes it in one
   * statement. SKIP LOCKED lets concurrent claimers each take a different row
   * instead of queueing on the same one and then finding it gone.
   */
  async claimOneTimeKey(userId: string, deviceId: string, algorithm: string): Promise<ClaimedKey | undefined> {
    const rows = await this.db.query<ClaimedKey & Record<string, unknown>>(
      `DELETE FROM e2e_one_time_keys WHERE id = (
         SELECT id FROM e2e_one_time_keys WHERE user_id = $1 AND device_id = $2 AND algorithm = $3
         ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
       RETURNING key_id, key_json, algorithm`,
      [userId, deviceId, algorithm],
    );
    return rows[0];
  }

  async getFallbackKey(userId: string, deviceId: string, algorithm: string, db: SqlQueryable = this.db): Promise<{ key_id: string; key_json: string; used: boolean } | undefined> {
    const rows = await db.query<{ key_id: string; key_json: string; used: boolean }>(
      "SELECT key_id, key_json, used FROM e2e_fallback_keys WHERE user_id = $1 AND device_id = $2 AND algorithm = $3",
      [userId, deviceId, algorithm],
    );
    return rows[0];
  }

  /** Replaces the fallback key of an algorithm; the new key starts unused. */
  async putFallbackKey(userId: string, deviceId: string, key: OneTimeKeyInput, db: SqlQueryable = this.db): Promise<void> {
    await db.query(
      `INSERT INTO e2e_fallback_keys (user_id, device_id, algorithm, key_id, key_json, used) VALUES ($1, $2, $3, $4, $5, false)
       ON CONFLICT (user_id, device_id, algorithm) DO UPDATE SET key_id = $4, key_json = $5, used = false`,
      [userId, deviceId, key.algorithm, key.keyId, key.keyJson],
    );
  }

  /** Hands out the fallback key (it stays, marked used). */
  async claimFallbackKey(userId: string, deviceId: string, algorithm: string): Promise<ClaimedKey | undefined> {
    const rows = await this.db.query<ClaimedKey & Record<string, unknown>>(
      `UPDATE e2e_fallback_keys SET used = true WHERE user_id = $1 AND device_id = $2 AND algorithm = $3
       RETURNING key_id, key_json, algorithm`,
      [userId, deviceId, algorithm],
    );
    return rows[0];
  }

  async unusedFallbackKeyTypes(userId: string, deviceId: string): Promise<string[]> {
    return [...(await this.fallbackTypes.load({ userId, deviceId }))];
  }

  // Both are read for every /sync response: the requests one notification wakes share one statement each.
  private readonly otkCounts = new Coalescer<DeviceKey, Record<string, number>>(
    deviceKeyId,
    async (keys) => {
      const rows = await this.db.query<{ user_id: string; device_id: string; algorithm: string; n: number }>(
        `SELECT k.user_id, k.device_id, o.algorithm, count(*)::int8 AS n
           FROM unnest($1::text[], $2::text[]) AS k(user_id, device_id)
           JOIN e2e_one_time_keys o ON o.user_id = k.user_id AND o.device_id = k.device_id
          GROUP BY k.user_id, k.device_id, o.algorithm`,
        [keys.map((k) => k.userId), keys.map((k) => k.deviceId)],
      );
      const out = new Map<string, Record<string, number>>();
      for (const r of rows) {
        const id = deviceKeyId({ userId: r.user_id, deviceId: r.device_id });
        const counts = out.get(id) ?? {};
        counts[r.algorithm] = Number(r.n);
        out.set(id, counts);
      }
      return out;
    },
    () => ({}),
  );

  private readonly fallbackTypes = new Coalescer<DeviceKey, string[]>(
    deviceKeyId,
    async (keys) => {
      const rows = await this.db.query<{ user_id: string; device_id: string; algorithm: string }>(
        `SELECT f.user_id, f.device_id, f.algorithm
           FROM unnest($1::text[], $2::text[]) AS k(user_id, device_id)
           JOIN e2e_fallback_keys f ON f.user_id = k.user_id AND f.device_id = k.device_id
          WHERE NOT f.used ORDER BY f.algorithm`,
        [keys.map((k) => k.userId), keys.map((k) => k.deviceId)],
      );
      const out = new Map<string, string[]>();
      for (const r of rows) {
        const id = deviceKeyId({ userId: r.user_id, deviceId: r.device_id });
        const list = out.get(id) ?? [];
        list.push(r.algorithm);
        out.set(id, list);
      }
      return out;
    },
    () => [],
  );

  /** Removes everything held for the listed devices (device deletion). Returns true if the devices had identity keys. */
  async deleteDevices(userId: string, deviceIds: readonly string[], db: SqlQueryable = this.db): Promise<boolean> {
    if (deviceIds.length === 0) return false;
    const had = await db.query(
      "DELETE FROM e2e_device_keys WHERE user_id = $1 AND device_id = ANY($2::text[]) RETURNING device_id",
      [userId, deviceIds],
    );
    await db.query("DELETE FROM e2e_one_time_keys WHERE user_id = $1 AND device_id = ANY($2::text[])", [userId, deviceIds]);
    await db.query("DELETE FROM e2e_fallback_keys WHERE user_id = $1 AND device_id = ANY($2::text[])", [userId, deviceIds]);
    return had.length > 0;
  }
}
