import type { SqlQueryable } from "./sql.js";

export interface UiaSessionRow {
  session_id: string;
  operation: string;
  user_id: string | null;
  completed: string[];
  data: Record<string, unknown>;
  created_ts: number;
}

export interface RegistrationTokenRow {
  token: string;
  uses_allowed: number | null;
  pending: number;
  completed: number;
  expiry_time: number | null;
}

/** User-interactive authentication sessions and registration tokens. */
export class UiaRepo {
  constructor(private readonly db: SqlQueryable) {}

  async createSession(s: { sessionId: string; operation: string; userId: string | null; createdTs: number }): Promise<void> {
    await this.db.query(
      "INSERT INTO uia_sessions (session_id, operation, user_id, created_ts) VALUES ($1, $2, $3, $4)",
      [s.sessionId, s.operation, s.userId, s.createdTs],
    );
  }

  async getSession(sessionId: string): Promise<UiaSessionRow | undefined> {
    const rows = await this.db.query<UiaSessionRow & Record<string, unknown>>("SELECT * FROM uia_sessions WHERE session_id = $1", [sessionId]);
    return rows[0];
  }

  /** Marks a stage done and merges `data` into the session's data; returns the new state. */
  async completeStage(sessionId: string, stage: string, data: Record<string, unknown>): Promise<UiaSessionRow | undefined> {
    const rows = await this.db.query<UiaSessionRow & Record<string, unknown>>(
      `UPDATE uia_sessions
          SET completed = CASE WHEN completed @> $2::jsonb THEN completed ELSE completed || $2::jsonb END,
              data = data || $3::jsonb
        WHERE session_id = $1 RETURNING *`,
      [sessionId, JSON.stringify([stage]), JSON.stringify(data)],
    );
    return rows[0];
  }

  async setData(sessionId: string, data: Record<string, unknown>): Promise<void> {
    await this.db.query("UPDATE uia_sessions SET data = data || $2::jsonb WHERE session_id = $1", [sessionId, JSON.stringify(data)]);
  }

  async deleteSession(sessionId: string): Promise<UiaSessionRow | undefined> {
    const rows = await this.db.query<UiaSessionRow & Record<string, unknown>>("DELETE FROM uia_sessions WHERE session_id = $1 RETURNING *", [sessionId]);
    return rows[0];
  }

  /** Deletes sessions created before `before`, returning them so held resources can be released. */
  async deleteExpired(before: number): Promise<UiaSessionRow[]> {
    return this.db.query<UiaSessionRow & Record<string, unknown>>("DELETE FROM uia_sessions WHERE created_ts < $1 RETURNING *", [before]);
  }

  // --- registration tokens ---

  async createToken(t: { token: string; usesAllowed: number | null; expiryTime: number | null }): Promise<RegistrationTokenRow | undefined> {
    const rows = await this.db.query<RegistrationTokenRow & Record<string, unknown>>(
      `INSERT INTO registration_tokens (token, uses_allowed, expiry_time) VALUES ($1, $2, $3)
       ON CONFLICT (token) DO NOTHING RETURNING *`,
      [t.token, t.usesAllowed, t.expiryTime],
    );
    return rows[0];
  }

  async getToken(token: string): Promise<RegistrationTokenRow | undefined> {
    const rows = await this.db.query<RegistrationTokenRow & Record<string, unknown>>("SELECT * FROM registration_tokens WHERE token = $1", [token]);
    return rows[0];
  }

  async listTokens(): Promise<RegistrationTokenRow[]> {
    return this.db.query<RegistrationTokenRow & Record<string, unknown>>("SELECT * FROM registration_tokens ORDER BY token");
  }

  async updateToken(token: string, changes: { usesAllowed?: number | null; expiryTime?: number | null }): Promise<RegistrationTokenRow | undefined> {
    const rows = await this.db.query<RegistrationTokenRow & Record<string, unknown>>(
      `UPDATE registration_tokens
          SET uses_allowed = CASE WHEN $2 THEN $3::int ELSE uses_allowed END,
              expiry_time = CASE WHEN $4 THEN $5::int8 ELSE expiry_time END
        WHERE token = $1 RETURNING *`,
      [token, "usesAllowed" in changes, changes.usesAllowed ?? null, "expiryTime" in changes, changes.expiryTime ?? null],
    );
    return rows[0];
  }

  async deleteToken(token: string): Promise<boolean> {
    const rows = await this.db.query("DELETE FROM registration_tokens WHERE token = $1 RETURNING token", [token]);
    return rows.length > 0;
  }

  /** Reserves one use of a token if it is still valid at `now`; false otherwise. */
  async reserveToken(token: string, now: number): Promise<boolean> {
    const rows = await this.db.query(
      `UPDATE registration_tokens SET pending = pending + 1
        WHERE token = $1 AND (expiry_time IS NULL OR expiry_time > $2)
          AND (uses_allowed IS NULL OR pending + completed < uses_allowed)
        RETURNING token`,
      [token, now],
    );
    return rows.length > 0;
  }

  /** Turns a reserved use into a completed one (registration succeeded). */
  async completeToken(token: string): Promise<void> {
    await this.db.query(
      "UPDATE registration_tokens SET pending = greatest(pending - 1, 0), completed = completed + 1 WHERE token = $1",
      [token],
    );
  }

  /** Releases a reserved use (the session expired without registering). */
  async releaseToken(token: string): Promise<void> {
    await this.db.query("UPDATE registration_tokens SET pending = greatest(pending - 1, 0) WHERE token = $1", [token]);
  }

  // --- shared-secret registration nonces ---

  /** Stores a new nonce after dropping expired ones; false when `max` are outstanding. */
  async createNonce(nonce: string, now: number, ttlMs: number, max: number): Promise<boolean> {
    await this.db.query("DELETE FROM registration_nonces WHERE created_ts < $1", [now - ttlMs]);
    const rows = await this.db.query(
      `INSERT INTO registration_nonces (nonce, created_ts)
       SELECT $1, $2 WHERE (SELECT count(*) FROM registration_nonces) < $3
       RETURNING nonce`,
      [nonce, now, max],
    );
    return rows.length > 0;
  }

  /** Uses a nonce up; true when it existed and was issued after `notBefore`. */
  async takeNonce(nonce: string, notBefore: number): Promise<boolean> {
    const rows = await this.db.query<{ created_ts: number }>("DELETE FROM registration_nonces WHERE nonce = $1 RETURNING created_ts", [nonce]);
    return rows.length > 0 && rows[0]!.created_ts >= notBefore;
  }
}
