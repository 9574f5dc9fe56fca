import type { SqlQueryable } from "./sql.js";

export interface AccessTokenRow {
  token_hash: string;
  user_id: string;
  device_id: string | null;
  created_ts: number;
  valid_until_ts: number | null;
  refresh_token_id: number | null;
  last_used_ts: number | null;
}

export interface RefreshTokenRow {
  id: number;
  token_hash: string;
  user_id: string;
  device_id: string;
  replaces_id: number | null;
  expiry_ts: number | null;
  created_ts: number;
}

/** Access, refresh, login and OpenID tokens, all keyed by the sha256 of the secret. */
export class TokensRepo {
  constructor(private readonly db: SqlQueryable) {}

  async insertAccessToken(
    t: { tokenHash: string; userId: string; deviceId: string | null; createdTs: number; validUntilTs: number | null; refreshTokenId: number | null },
    db: SqlQueryable = this.db,
  ): Promise<void> {
    await db.query(
      `INSERT INTO access_tokens (token_hash, user_id, device_id, created_ts, valid_until_ts, refresh_token_id)
       VALUES ($1, $2, $3, $4, $5, $6)`,
      [t.tokenHash, t.userId, t.deviceId, t.createdTs, t.validUntilTs, t.refreshTokenId],
    );
  }

  async getAccessToken(tokenHash: string): Promise<AccessTokenRow | undefined> {
    const rows = await this.db.query<AccessTokenRow & Record<string, unknown>>("SELECT * FROM access_tokens WHERE token_hash = $1", [tokenHash]);
    return rows[0];
  }

  async deleteAccessToken(tokenHash: string, db: SqlQueryable = this.db): Promise<AccessTokenRow | undefined> {
    const rows = await db.query<AccessTokenRow & Record<string, unknown>>("DELETE FROM access_tokens WHERE token_hash = $1 RETURNING *", [tokenHash]);
    return rows[0];
  }

  async touchAccessToken(tokenHash: string, ts: number): Promise<void> {
    await this.db.query("UPDATE access_tokens SET last_used_ts = $2 WHERE token_hash = $1", [tokenHash, ts]);
  }

  /** Revokes every access and refresh token of the given devices (all devices when undefined), except `keepTokenHash`. */
  async revokeForDevices(
    userId: string,
    deviceIds: readonly string[] | undefined,
    opts: { keepTokenHash?: string } = {},
    db: SqlQueryable = this.db,
  ): Promise<void> {
    const keep = opts.keepTokenHash ?? "";
    if (deviceIds === undefined) {
      await db.query("DELETE FROM access_tokens WHERE user_id = $1 AND token_hash <> $2", [userId, keep]);
      await db.query(
        `DELETE FROM refresh_tokens WHERE user_id = $1
           AND id NOT IN (SELECT refresh_token_id FROM access_tokens WHERE token_hash = $2 AND refresh_token_id IS NOT NULL)`,
        [userId, keep],
      );
      return;
    }
    await db.query("DELETE FROM access_tokens WHERE user_id = $1 AND device_id = ANY($2::text[]) AND token_hash <> $3", [userId, deviceIds, keep]);
    await db.query(
      `DELETE FROM refresh_tokens WHERE user_id = $1 AND device_id = ANY($2::text[])
         AND id NOT IN (SELECT refresh_token_id FROM access_tokens WHERE token_hash = $3 AND refresh_token_id IS NOT NULL)`,
      [userId, deviceIds, keep],
    );
  }

  // --- refresh tokens ---

  async insertRefreshToken(
    t: { tokenHash: string; userId: string; deviceId: string; replacesId: number | null; expiryTs: number | null; createdTs: number },
    db: SqlQueryable = this.db,
  ): Promise<number> {
    const rows = await db.query<{ id: number }>(
      `INSERT INTO refresh_tokens (token_hash, user_id, device_id, replaces_id, expiry_ts, created_ts)
       VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
      [t.tokenHash, t.userId, t.deviceId, t.replacesId, t.expiryTs, t.createdTs],
    );
    return Number(rows[0]!.id);
  }

  async getRefreshToken(tokenHash: string): Promise<RefreshTokenRow | undefined> {
    const rows = await this.db.query<RefreshTokenRow & Record<string, unknown>>("SELECT * FROM refresh_tokens WHERE token_hash = $1", [tokenHash]);
    return rows[0];
  }

  async getRefreshTokenForUpdate(tokenHash: string, db: SqlQueryable): Promise<RefreshTokenRow | undefined> {
    const rows = await db.query<RefreshTokenRow & Record<string, unknown>>(
      "SELECT * FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE",
      [tokenHash],
    );
    return rows[0];
  }

  /**
   * The first use of a refresh token (or of the access token issued with it)
   * retires the token it replaced.
   */
  async retireReplaced(refreshTokenId: number, db: SqlQueryable = this.db): Promise<void> {
    const rows = await db.query<{ replaces_id: number | null }>("SELECT replaces_id FROM refresh_tokens WHERE id = $1", [refreshTokenId]);
    if (rows[0]?.replaces_id != null) await db.query("UPDATE refresh_tokens SET replaces_id = NULL WHERE id = $1", [refreshTokenId]);
    const old = rows[0]?.replaces_id;
    if (old === undefined || old === null) return;
    // Remembered (as its sha256) so that a later reuse can be recognised as a replay.
    await db.query(
      `INSERT INTO retired_refresh_tokens (token_hash, user_id, device_id, retired_ts)
       SELECT token_hash, user_id, device_id, (extract(epoch from clock_timestamp()) * 1000)::bigint FROM refresh_tokens WHERE id = $1
       ON CONFLICT (token_hash) DO NOTHING`,
      [old],
    );
    await db.query("DELETE FROM access_tokens WHERE refresh_token_id = $1", [old]);
    await db.query("DELETE FROM refresh_tokens WHERE id = $1", [old]);
  }

  async hasPendingReplacement(refreshTokenId: number): Promise<boolean> {
    const rows = await this.db.query("SELECT 1 FROM refresh_tokens WHERE id = $1 AND replaces_id IS NOT NULL", [refreshTokenId]);
    return rows.length > 0;
  }

  /** Refresh tokens issued from `id` whose first use never came (a retried refresh). */
  async successorsOf(id: number, db: SqlQueryable = this.db): Promise<number[]> {
    const rows = await db.query<{ id: number }>("SELECT id FROM refresh_tokens WHERE replaces_id = $1", [id]);
    return rows.map((r) => Number(r.id));
  }

  async deleteAccessTokensOfRefresh(id: number, db: SqlQueryable = this.db): Promise<void> {
    await db.query("DELETE FROM access_tokens WHERE refresh_token_id = $1", [id]);
  }

  async deleteRefreshToken(id: number, db: SqlQueryable = this.db): Promise<void> {
    await db.query("DELETE FROM access_tokens WHERE refresh_token_id = $1", [id]);
    await db.query("DELETE FROM refresh_tokens WHERE id = $1", [id]);
  }

  // --- login tokens (m.login.token) ---

  async insertLoginToken(tokenHash: string, userId: string, expiryTs: number): Promise<void> {
    await this.db.query("INSERT INTO login_tokens (token_hash, user_id, expiry_ts) VALUES ($1, $2, $3)", [tokenHash, userId, expiryTs]);
  }

  /** Consumes a login token: it can be used once. */
  async takeLoginToken(tokenHash: string): Promise<{ user_id: string; expiry_ts: number } | undefined> {
    const rows = await this.db.query<{ user_id: string; expiry_ts: number }>(
      "DELETE FROM login_tokens WHERE token_hash = $1 RETURNING user_id, expiry_ts",
      [tokenHash],
    );
    return rows[0];
  }

  // --- OpenID tokens ---

  async insertOpenIdToken(tokenHash: string, userId: string, expiryTs: number): Promise<void> {
    await this.db.query("INSERT INTO openid_tokens (token_hash, user_id, expiry_ts) VALUES ($1, $2, $3)", [tokenHash, userId, expiryTs]);
  }

  async getOpenIdToken(tokenHash: string): Promise<{ user_id: string; expiry_ts: number } | undefined> {
    const rows = await this.db.query<{ user_id: string; expiry_ts: number }>(
      "SELECT user_id, expiry_ts FROM openid_tokens WHERE token_hash = $1",
      [tokenHash],
    );
    return rows[0];
  }

  /** Drops expired login and OpenID tokens. */
  async purgeExpired(now: number): Promise<void> {
    await this.db.query("DELETE FROM login_tokens WHERE expiry_ts < $1", [now]);
    await this.db.query("DELETE FROM openid_tokens WHERE expiry_ts < $1", [now]);
  }

  /** Everything a deactivated account held. */
  async deleteAllForUser(userId: string, db: SqlQueryable = this.db): Promise<void> {
    await db.query("DELETE FROM access_tokens WHERE user_id = $1", [userId]);
    await db.query("DELETE FROM refresh_tokens WHERE user_id = $1", [userId]);
    await db.query("DELETE FROM login_tokens WHERE user_id = $1", [userId]);
    await db.query("DELETE FROM openid_tokens WHERE user_id = $1", [userId]);
  }
}
