import type { SqlQueryable } from "./sql.js";

export interface OAuthClientRow {
  client_id: string;
  metadata: Record<string, unknown>;
  created_ts: number;
}

export interface AuthorizationCodeRow {
  code_hash: string;
  client_id: string;
  user_id: string;
  redirect_uri: string;
  scope: string;
  device_id: string;
  code_challenge: string;
  nonce: string | null;
  auth_time: number;
  created_ts: number;
  expires_ts: number;
  exchanged_ts: number | null;
  issued_device: boolean;
}

export type DeviceGrantStatus = "pending" | "approved" | "denied" | "exchanged";

export interface DeviceGrantRow {
  id: number;
  device_code_hash: string;
  user_code_hash: string;
  client_id: string;
  scope: string;
  device_id: string;
  status: DeviceGrantStatus;
  user_id: string | null;
  interval_s: number;
  last_poll_ts: number | null;
  created_ts: number;
  expires_ts: number;
}

export interface OAuthSessionRow {
  user_id: string;
  device_id: string;
  client_id: string;
  scope: string;
  created_ts: number;
}

type R<T> = T & Record<string, unknown>;

/** How long a rotated-away refresh token is remembered for replay detection. */
const RETIRED_REFRESH_KEPT_MS = 90 * 24 * 3600_000;
/** Client registrations that never got a session are dropped after this long. */
const UNUSED_CLIENT_KEPT_MS = 30 * 24 * 3600_000;

/** Storage of the OAuth 2.0 API: clients, codes, device grants, sessions, browser sessions. */
export class OAuthRepo {
  constructor(private readonly db: SqlQueryable) {}

  // --- clients ---

  async insertClient(clientId: string, metadata: Record<string, unknown>, createdTs: number): Promise<void> {
    await this.db.query("INSERT INTO oauth_clients (client_id, metadata, created_ts) VALUES ($1, $2, $3)", [clientId, metadata, createdTs]);
  }

  async getClient(clientId: string): Promise<OAuthClientRow | undefined> {
    const rows = await this.db.query<R<OAuthClientRow>>("SELECT * FROM oauth_clients WHERE client_id = $1", [clientId]);
    return rows[0];
  }

  async getClients(clientIds: readonly string[]): Promise<OAuthClientRow[]> {
    if (clientIds.length === 0) return [];
    return this.db.query<R<OAuthClientRow>>("SELECT * FROM oauth_clients WHERE client_id = ANY($1::text[])", [clientIds]);
  }

  // --- authorisation codes ---

  async insertCode(c: Omit<AuthorizationCodeRow, "exchanged_ts" | "issued_device">): Promise<void> {
    await this.db.query(
      `INSERT INTO oauth_authorization_codes
         (code_hash, client_id, user_id, redirect_uri, scope, device_id, code_challenge, nonce, auth_time, created_ts, expires_ts)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
      [c.code_hash, c.client_id, c.user_id, c.redirect_uri, c.scope, c.device_id, c.code_challenge, c.nonce, c.auth_time, c.created_ts, c.expires_ts],
    );
  }

  /**
   * Marks a code used and returns it as it was before. Run in a transaction:
   * the row lock makes a concurrent second exchange see it used.
   */
  async takeCode(codeHash: string, now: number, db: SqlQueryable): Promise<AuthorizationCodeRow | undefined> {
    const rows = await db.query<R<AuthorizationCodeRow>>("SELECT * FROM oauth_authorization_codes WHERE code_hash = $1 FOR UPDATE", [codeHash]);
    const row = rows[0];
    if (row && row.exchanged_ts === null) {
      await db.query("UPDATE oauth_authorization_codes SET exchanged_ts = $2 WHERE code_hash = $1", [codeHash, now]);
    }
    return row;
  }

  async markCodeIssuedDevice(codeHash: string): Promise<void> {
    await this.db.query("UPDATE oauth_authorization_codes SET issued_device = true WHERE code_hash = $1", [codeHash]);
  }

  // --- device authorisation grants ---

  async insertDeviceGrant(g: {
    deviceCodeHash: string;
    userCodeHash: string;
    clientId: string;
    scope: string;
    deviceId: string;
    intervalS: number;
    createdTs: number;
    expiresTs: number;
  }): Promise<void> {
    await this.db.query(
      `INSERT INTO oauth_device_grants (device_code_hash, user_code_hash, client_id, scope, device_id, interval_s, created_ts, expires_ts)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
      [g.deviceCodeHash, g.userCodeHash, g.clientId, g.scope, g.deviceId, g.intervalS, g.createdTs, g.expiresTs],
    );
  }

  async getDeviceGrantByUserCode(userCodeHash: string): Promise<DeviceGrantRow | undefined> {
    const rows = await this.db.query<R<DeviceGrantRow>>("SELECT * FROM oauth_device_grants WHERE user_code_hash = $1", [userCodeHash]);
    return rows[0];
  }

  async getDeviceGrantForUpdate(deviceCodeHash: string, db: SqlQueryable): Promise<DeviceGrantRow | undefined> {
    const rows = await db.query<R<DeviceGrantRow>>("SELECT * FROM oauth_device_grants WHERE device_code_hash = $1 FOR UPDATE", [deviceCodeHash]);
    return rows[0];
  }

  /** Approves or denies a pending grant; false when it was no longer pending. */
  async decideDeviceGrant(id: number, status: "approved" | "denied", userId: string): Promise<boolean> {
    const rows = await this.db.query(
      "UPDATE oauth_device_grants SET status = $2, user_id = $3 WHERE id = $1 AND status = 'pending' RETURNING id",
      [id, status, userId],
    );
    return rows.length > 0;
  }

  async updateDeviceGrantPoll(id: number, fields: { lastPollTs: number; intervalS: number; status?: DeviceGrantStatus }, db: SqlQueryable): Promise<void> {
    await db.query("UPDATE oauth_device_grants SET last_poll_ts = $2, interval_s = $3, status = COALESCE($4, status) WHERE id = $1", [
      id,
      fields.lastPollTs,
      fields.intervalS,
      fields.status ?? null,
    ]);
  }

  // --- sessions (devices created through OAuth) ---

  async upsertSession(s: OAuthSessionRow): Promise<void> {
    await this.db.query(
      `INSERT INTO oauth_sessions (user_id, device_id, client_id, scope, created_ts) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (user_id, device_id) DO UPDATE SET client_id = EXCLUDED.client_id, scope = EXCLUDED.scope, created_ts = EXCLUDED.created_ts`,
      [s.user_id, s.device_id, s.client_id, s.scope, s.created_ts],
    );
  }

  async getSession(userId: string, deviceId: string): Promise<OAuthSessionRow | undefined> {
    const rows = await this.db.query<R<OAuthSessionRow>>("SELECT * FROM oauth_sessions WHERE user_id = $1 AND device_id = $2", [userId, deviceId]);
    return rows[0];
  }

  async listSessions(userId: string): Promise<OAuthSessionRow[]> {
    return this.db.query<R<OAuthSessionRow>>("SELECT * FROM oauth_sessions WHERE user_id = $1", [userId]);
  }

  async deleteSessions(userId: string, deviceIds: readonly string[] | undefined): Promise<void> {
    if (deviceIds === undefined) await this.db.query("DELETE FROM oauth_sessions WHERE user_id = $1", [userId]);
    else await this.db.query("DELETE FROM oauth_sessions WHERE user_id = $1 AND device_id = ANY($2::text[])", [userId, deviceIds]);
  }

  // --- rotated-away refresh tokens ---

  async getRetiredRefreshToken(tokenHash: string): Promise<{ user_id: string; device_id: string; retired_ts: number } | undefined> {
    const rows = await this.db.query<{ user_id: string; device_id: string; retired_ts: number }>(
      "SELECT user_id, device_id, retired_ts FROM retired_refresh_tokens WHERE token_hash = $1",
      [tokenHash],
    );
    return rows[0];
  }

  async deleteRetiredRefreshTokens(userId: string, deviceIds: readonly string[]): Promise<void> {
    await this.db.query("DELETE FROM retired_refresh_tokens WHERE user_id = $1 AND device_id = ANY($2::text[])", [userId, deviceIds]);
  }

  // --- cross-signing reset approvals (m.oauth) ---

  async approveCrossSigningReset(userId: string, expiresTs: number): Promise<void> {
    await this.db.query(
      `INSERT INTO cross_signing_reset_approvals (user_id, expires_ts) VALUES ($1, $2)
       ON CONFLICT (user_id) DO UPDATE SET expires_ts = EXCLUDED.expires_ts`,
      [userId, expiresTs],
    );
  }

  /** Uses up a live approval; false when there is none. */
  async takeCrossSigningReset(userId: string, now: number): Promise<boolean> {
    const rows = await this.db.query("DELETE FROM cross_signing_reset_approvals WHERE user_id = $1 RETURNING expires_ts", [userId]);
    return rows.length > 0 && Number(rows[0]!.expires_ts) > now;
  }

  // --- browser sessions ---

  async insertBrowserSession(sessionHash: string, userId: string, createdTs: number, expiresTs: number): Promise<void> {
    await this.db.query("INSERT INTO oauth_browser_sessions (session_hash, user_id, created_ts, expires_ts) VALUES ($1, $2, $3, $4)", [
      sessionHash,
      userId,
      createdTs,
      expiresTs,
    ]);
  }

  async getBrowserSession(sessionHash: string): Promise<{ user_id: string; created_ts: number; expires_ts: number } | undefined> {
    const rows = await this.db.query<{ user_id: string; created_ts: number; expires_ts: number }>(
      "SELECT user_id, created_ts, expires_ts FROM oauth_browser_sessions WHERE session_hash = $1",
      [sessionHash],
    );
    return rows[0];
  }

  async deleteBrowserSession(sessionHash: string): Promise<void> {
    await this.db.query("DELETE FROM oauth_browser_sessions WHERE session_hash = $1", [sessionHash]);
  }

  async deleteBrowserSessionsOfUser(userId: string): Promise<void> {
    await this.db.query("DELETE FROM oauth_browser_sessions WHERE user_id = $1", [userId]);
  }

  /** Drops what can no longer be used. */
  async purgeExpired(now: number): Promise<void> {
    await this.db.query("DELETE FROM oauth_authorization_codes WHERE expires_ts < $1", [now]);
    await this.db.query("DELETE FROM oauth_device_grants WHERE expires_ts < $1", [now]);
    await this.db.query("DELETE FROM oauth_browser_sessions WHERE expires_ts < $1", [now]);
    await this.db.query("DELETE FROM retired_refresh_tokens WHERE retired_ts < $1", [now - RETIRED_REFRESH_KEPT_MS]);
    // "Dynamic client registration flow": registrations without an active session may go (never one with a session).
    await this.db.query(
      `DELETE FROM oauth_clients c WHERE c.created_ts < $1
         AND NOT EXISTS (SELECT 1 FROM oauth_sessions s WHERE s.client_id = c.client_id)
         AND NOT EXISTS (SELECT 1 FROM oauth_authorization_codes a WHERE a.client_id = c.client_id)
         AND NOT EXISTS (SELECT 1 FROM oauth_device_grants d WHERE d.client_id = c.client_id)`,
      [now - UNUSED_CLIENT_KEPT_MS],
    );
  }
}
