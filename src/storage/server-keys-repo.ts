import type { SqlQueryable } from "./sql.js";

export interface StoredServerKey {
  serverName: string;
  keyId: string;
  /** Unpadded base64 Ed25519 public key. */
  verifyKey: string;
  validUntilTs: number;
  /** Set when the server lists the key under old_verify_keys. */
  expiredTs: number | null;
  fetchedTs: number;
}

export interface StoredKeyResponse {
  serverName: string;
  validUntilTs: number;
  /** The server's own signed response, as JSON text. */
  response: string;
  fetchedTs: number;
}

interface KeyRow extends Record<string, unknown> {
  server_name: string;
  key_id: string;
  verify_key: string;
  valid_until_ts: number;
  expired_ts: number | null;
  fetched_ts: number;
}

const toKey = (r: KeyRow): StoredServerKey => ({
  serverName: r.server_name,
  keyId: r.key_id,
  verifyKey: r.verify_key,
  validUntilTs: Number(r.valid_until_ts),
  expiredTs: r.expired_ts === null ? null : Number(r.expired_ts),
  fetchedTs: Number(r.fetched_ts),
});

/** Other servers' signing keys and their latest key responses (migration 0160). */
export class ServerKeysRepo {
  constructor(private readonly sql: SqlQueryable) {}

  async keysOf(serverName: string): Promise<StoredServerKey[]> {
    const rows = await this.sql.query<KeyRow>("SELECT * FROM server_signing_keys WHERE server_name = $1 ORDER BY key_id", [serverName]);
    return rows.map(toKey);
  }

  /**
   * Stores what one verified response says. A current key's validity only
   * grows (a notary may hold an older response); a key listed as old takes
   * its expired_ts as its end of validity.
   */
  async storeKeys(keys: readonly StoredServerKey[]): Promise<void> {
    for (const k of keys) {
      await this.sql.query(
        `INSERT INTO server_signing_keys (server_name, key_id, verify_key, valid_until_ts, expired_ts, fetched_ts)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (server_name, key_id) DO UPDATE SET
           verify_key = EXCLUDED.verify_key,
           valid_until_ts = CASE WHEN EXCLUDED.expired_ts IS NULL
             THEN GREATEST(server_signing_keys.valid_until_ts, EXCLUDED.valid_until_ts)
             ELSE EXCLUDED.valid_until_ts END,
           expired_ts = EXCLUDED.expired_ts,
           fetched_ts = EXCLUDED.fetched_ts`,
        [k.serverName, k.keyId, k.verifyKey, k.validUntilTs, k.expiredTs, k.fetchedTs],
      );
    }
  }

  async response(serverName: string): Promise<StoredKeyResponse | undefined> {
    const rows = await this.sql.query<{ server_name: string; valid_until_ts: number; response: string; fetched_ts: number }>(
      "SELECT * FROM server_key_responses WHERE server_name = $1",
      [serverName],
    );
    const r = rows[0];
    return r ? { serverName: r.server_name, validUntilTs: Number(r.valid_until_ts), response: r.response, fetchedTs: Number(r.fetched_ts) } : undefined;
  }

  /** Keeps the response that is valid the longest (an older notary copy never replaces a newer one). */
  async storeResponse(r: StoredKeyResponse): Promise<void> {
    await this.sql.query(
      `INSERT INTO server_key_responses (server_name, valid_until_ts, response, fetched_ts) VALUES ($1, $2, $3, $4)
       ON CONFLICT (server_name) DO UPDATE SET valid_until_ts = EXCLUDED.valid_until_ts, response = EXCLUDED.response,
         fetched_ts = EXCLUDED.fetched_ts
       WHERE EXCLUDED.valid_until_ts >= server_key_responses.valid_until_ts`,
      [r.serverName, r.validUntilTs, r.response, r.fetchedTs],
    );
  }
}
