import type { SqlQueryable } from "./sql.js";

export interface ThreepidRow {
  medium: string;
  address: string;
  user_id: string;
  validated_ts: number;
  added_ts: number;
}

export interface ValidationSessionRow {
  session_id: string;
  client_secret: string;
  medium: string;
  address: string;
  token_hash: string;
  send_attempt: number;
  next_link: string | null;
  validated_ts: number | null;
  created_ts: number;
}

/** Third-party identifiers of accounts and their validation sessions. */
export class ThreepidRepo {
  constructor(private readonly db: SqlQueryable) {}

  async userFor(medium: string, address: string): Promise<string | undefined> {
    const rows = await this.db.query<{ user_id: string }>("SELECT user_id FROM user_threepids WHERE medium = $1 AND address = $2", [medium, address]);
    return rows[0]?.user_id;
  }

  async list(userId: string): Promise<ThreepidRow[]> {
    return this.db.query<ThreepidRow & Record<string, unknown>>("SELECT * FROM user_threepids WHERE user_id = $1 ORDER BY medium, address", [userId]);
  }

  /** Adds a 3PID; false when another account holds it. */
  async add(t: { userId: string; medium: string; address: string; validatedTs: number; addedTs: number }): Promise<boolean> {
    const rows = await this.db.query(
      `INSERT INTO user_threepids (medium, address, user_id, validated_ts, added_ts) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (medium, address) DO UPDATE SET validated_ts = $4 WHERE user_threepids.user_id = $3
       RETURNING user_id`,
      [t.medium, t.address, t.userId, t.validatedTs, t.addedTs],
    );
    return rows.length > 0;
  }

  async delete(userId: string, medium: string, address: string): Promise<boolean> {
    const rows = await this.db.query(
      "DELETE FROM user_threepids WHERE user_id = $1 AND medium = $2 AND address = $3 RETURNING address",
      [userId, medium, address],
    );
    return rows.length > 0;
  }

  async deleteAllForUser(userId: string, db: SqlQueryable = this.db): Promise<void> {
    await db.query("DELETE FROM user_threepids WHERE user_id = $1", [userId]);
  }

  // --- identity server bindings ---

  async addBinding(userId: string, medium: string, address: string, idServer: string): Promise<void> {
    await this.db.query(
      "INSERT INTO threepid_id_server_bindings (user_id, medium, address, id_server) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
      [userId, medium, address, idServer],
    );
  }

  async bindings(userId: string, medium?: string, address?: string): Promise<Array<{ medium: string; address: string; id_server: string }>> {
    return this.db.query(
      `SELECT medium, address, id_server FROM threepid_id_server_bindings
        WHERE user_id = $1 AND ($2::text IS NULL OR medium = $2) AND ($3::text IS NULL OR address = $3)`,
      [userId, medium ?? null, address ?? null],
    );
  }

  async removeBinding(userId: string, medium: string, address: string, idServer: string): Promise<void> {
    await this.db.query(
      "DELETE FROM threepid_id_server_bindings WHERE user_id = $1 AND medium = $2 AND address = $3 AND id_server = $4",
      [userId, medium, address, idServer],
    );
  }

  // --- validation sessions ---

  async findSession(clientSecret: string, medium: string, address: string): Promise<ValidationSessionRow | undefined> {
    const rows = await this.db.query<ValidationSessionRow & Record<string, unknown>>(
      "SELECT * FROM threepid_validation_sessions WHERE client_secret = $1 AND medium = $2 AND address = $3 ORDER BY created_ts DESC LIMIT 1",
      [clientSecret, medium, address],
    );
    return rows[0];
  }

  async getSession(sessionId: string): Promise<ValidationSessionRow | undefined> {
    const rows = await this.db.query<ValidationSessionRow & Record<string, unknown>>(
      "SELECT * FROM threepid_validation_sessions WHERE session_id = $1",
      [sessionId],
    );
    return rows[0];
  }

  async createSession(s: Omit<ValidationSessionRow, "validated_ts">): Promise<void> {
    await this.db.query(
      `INSERT INTO threepid_validation_sessions
         (session_id, client_secret, medium, address, token_hash, send_attempt, next_link, created_ts)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
      [s.session_id, s.client_secret, s.medium, s.address, s.token_hash, s.send_attempt, s.next_link, s.created_ts],
    );
  }

  async updateSendAttempt(sessionId: string, sendAttempt: number, tokenHash: string, nextLink: string | null, createdTs: number): Promise<void> {
    await this.db.query(
      "UPDATE threepid_validation_sessions SET send_attempt = $2, token_hash = $3, next_link = $4, created_ts = $5 WHERE session_id = $1",
      [sessionId, sendAttempt, tokenHash, nextLink, createdTs],
    );
  }

  async markValidated(sessionId: string, ts: number): Promise<void> {
    await this.db.query("UPDATE threepid_validation_sessions SET validated_ts = $2 WHERE session_id = $1", [sessionId, ts]);
  }

  async deleteSession(sessionId: string): Promise<void> {
    await this.db.query("DELETE FROM threepid_validation_sessions WHERE session_id = $1", [sessionId]);
  }
}
