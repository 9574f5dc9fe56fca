import type { Sql, SqlQueryable } from "./sql.js";

export interface BackupVersionRow {
  version: number;
  algorithm: string;
  auth_data: string;
  etag: number;
  deleted: boolean;
}

export interface RoomKeyRow {
  room_id: string;
  session_id: string;
  first_message_index: number;
  forwarded_count: number;
  is_verified: boolean;
  session_data: string;
}

/** Server-side key backups ("Server-side key backups"): versions and their room keys. */
export class E2eeBackupRepo {
  constructor(private readonly db: Sql) {}

  /** Creates the next version (numbers are never reused, deleted ones included). */
  async createVersion(userId: string, algorithm: string, authData: string): Promise<number> {
    // Two concurrent creates may pick the same number on PostgreSQL; the
    // primary key refuses the second, which then simply tries again.
    for (let attempt = 0; ; attempt++) {
      try {
        const rows = await this.db.query<{ version: number }>(
          `INSERT INTO e2e_room_key_versions (user_id, version, algorithm, auth_data)
           SELECT $1, coalesce(max(version), 0) + 1, $2, $3 FROM e2e_room_key_versions WHERE user_id = $1
           RETURNING version`,
          [userId, algorithm, authData],
        );
        return rows[0]!.version;
      } catch (err) {
        if (attempt >= 5 || !/duplicate key|unique/i.test(String((err as Error).message))) throw err;
      }
    }
  }

  async getVersion(userId: string, version: number, db: SqlQueryable = this.db): Promise<BackupVersionRow | undefined> {
    const rows = await db.query<BackupVersionRow & Record<string, unknown>>(
      "SELECT version, algorithm, auth_data, etag, deleted FROM e2e_room_key_versions WHERE user_id = $1 AND version = $2",
      [userId, version],
    );
    return rows[0];
  }

  /** The current backup: the newest version not deleted. */
  async currentVersion(userId: string, db: SqlQueryable = this.db): Promise<BackupVersionRow | undefined> {
    const rows = await db.query<BackupVersionRow & Record<string, unknown>>(
      `SELECT version, algorithm, auth_data, etag, deleted FROM e2e_room_key_versions
       WHERE user_id = $1 AND NOT deleted ORDER BY version DESC LIMIT 1`,
      [userId],
    );
    return rows[0];
  }

  async updateAuthData(userId: string, version: number, authData: string): Promise<void> {
    await this.db.query("UPDATE e2e_room_key_versions SET auth_data = $3 WHERE user_id = $1 AND version = $2", [userId, version, authData]);
  }

  /** Marks the version deleted and drops its keys. */
  async deleteVersion(userId: string, version: number): Promise<void> {
    await this.db.transaction(async (tx) => {
      await tx.query("UPDATE e2e_room_key_versions SET deleted = true WHERE user_id = $1 AND version = $2", [userId, version]);
      await tx.query("DELETE FROM e2e_room_keys WHERE user_id = $1 AND version = $2", [userId, version]);
    });
  }

  async countKeys(userId: string, version: number, db: SqlQueryable = this.db): Promise<number> {
    const rows = await db.query<{ n: number }>("SELECT count(*)::int8 AS n FROM e2e_room_keys WHERE user_id = $1 AND version = $2", [
      userId,
      version,
    ]);
    return rows[0]?.n ?? 0;
  }

  /** Keys of a version, optionally narrowed to a room or one session. */
  async getKeys(userId: string, version: number, roomId?: string, sessionId?: string): Promise<RoomKeyRow[]> {
    const params: unknown[] = [userId, version];
    let where = "user_id = $1 AND version = $2";
    if (roomId !== undefined) {
      params.push(roomId);
      where += ` AND room_id = $${params.length}`;
    }
    if (sessionId !== undefined) {
      params.push(sessionId);
      where += ` AND session_id = $${params.length}`;
    }
    return this.db.query<RoomKeyRow & Record<string, unknown>>(
      `SELECT room_id, session_id, first_message_index, forwarded_count, is_verified, session_data
       FROM e2e_room_keys WHERE ${where} ORDER BY room_id, session_id`,
      params,
    );
  }

  /** Existing keys for the given (room, session) pairs, inside a write transaction. */
  async getKeysFor(tx: SqlQueryable, userId: string, version: number, pairs: ReadonlyArray<readonly [string, string]>): Promise<RoomKeyRow[]> {
    if (pairs.length === 0) return [];
    return tx.query<RoomKeyRow & Record<string, unknown>>(
      `SELECT k.room_id, k.session_id, k.first_message_index, k.forwarded_count, k.is_verified, k.session_data
       FROM e2e_room_keys k JOIN unnest($3::text[], $4::text[]) AS p(r, s) ON k.room_id = p.r AND k.session_id = p.s
       WHERE k.user_id = $1 AND k.version = $2`,
      [userId, version, pairs.map((p) => p[0]), pairs.map((p) => p[1])],
    );
  }

  async upsertKeys(tx: SqlQueryable, userId: string, version: number, keys: readonly RoomKeyRow[]): Promise<void> {
    if (keys.length === 0) return;
    await tx.query(
      `INSERT INTO e2e_room_keys (user_id, version, room_id, session_id, first_message_index, forwarded_count, is_verified, session_data)
       SELECT $1, $2, r, s, f::int8, c::int8, v::boolean, d
       FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[]) AS t(r, s, f, c, v, d)
       ON CONFLICT (user_id, version, room_id, session_id) DO UPDATE SET
         first_message_index = excluded.first_message_index, forwarded_count = excluded.forwarded_count,
         is_verified = excluded.is_verified, session_data = excluded.session_data`,
      [
        userId,
        version,
        keys.map((k) => k.room_id),
        keys.map((k) => k.session_id),
        // Arrays go as text: postgres.js does not send boolean arrays as such.
        keys.map((k) => String(k.first_message_index)),
        keys.map((k) => String(k.forwarded_count)),
        keys.map((k) => String(k.is_verified)),
        keys.map((k) => k.session_data),
      ],
    );
  }

  async deleteKeys(tx: SqlQueryable, userId: string, version: number, roomId?: string, sessionId?: string): Promise<number> {
    const params: unknown[] = [userId, version];
    let where = "user_id = $1 AND version = $2";
    if (roomId !== undefined) {
      params.push(roomId);
      where += ` AND room_id = $${params.length}`;
    }
    if (sessionId !== undefined) {
      params.push(sessionId);
      where += ` AND session_id = $${params.length}`;
    }
    const rows = await tx.query(`DELETE FROM e2e_room_keys WHERE ${where} RETURNING session_id`, params);
    return rows.length;
  }

  /** Locks the version row for a write and returns it. */
  async lockVersion(tx: SqlQueryable, userId: string, version: number): Promise<BackupVersionRow | undefined> {
    const rows = await tx.query<BackupVersionRow & Record<string, unknown>>(
      "SELECT version, algorithm, auth_data, etag, deleted FROM e2e_room_key_versions WHERE user_id = $1 AND version = $2 FOR UPDATE",
      [userId, version],
    );
    return rows[0];
  }

  async bumpEtag(tx: SqlQueryable, userId: string, version: number): Promise<number> {
    const rows = await tx.query<{ etag: number }>(
      "UPDATE e2e_room_key_versions SET etag = etag + 1 WHERE user_id = $1 AND version = $2 RETURNING etag",
      [userId, version],
    );
    return rows[0]!.etag;
  }

  transaction<T>(fn: (tx: SqlQueryable) => Promise<T>): Promise<T> {
    return this.db.transaction(fn);
  }
}
