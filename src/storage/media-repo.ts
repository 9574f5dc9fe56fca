import type { Sql, SqlQueryable } from "./sql.js";

/** All SQL of the media repository (migrations/0030_media.sql). */

export type MediaRow = {
  origin: string;
  media_id: string;
  user_id: string | null;
  content_type: string | null;
  upload_name: string | null;
  size_bytes: number | null;
  sha256: string | null;
  created_ts: number;
  uploaded_ts: number | null;
  unused_expires_ts: number | null;
  authenticated_only: boolean;
  quarantined_by: string | null;
  last_access_ts: number | null;
};

export type ThumbnailRow = {
  origin: string;
  media_id: string;
  target_width: number;
  target_height: number;
  method: string;
  animated: boolean;
  width: number;
  height: number;
  content_type: string;
  sha256: string;
  size_bytes: number;
  created_ts: number;
};

export type StoredContent = {
  contentType: string;
  uploadName: string | null;
  sizeBytes: number;
  sha256: string;
  uploadedTs: number;
};

export type UserMediaStats = {
  user_id: string;
  media_count: number;
  media_length: number;
};

const MEDIA_COLUMNS =
  "origin, media_id, user_id, content_type, upload_name, size_bytes, sha256, created_ts, uploaded_ts, unused_expires_ts, authenticated_only, quarantined_by, last_access_ts";

export class MediaRepo {
  constructor(private readonly db: Sql) {}

  async insertUploaded(
    origin: string,
    mediaId: string,
    userId: string | null,
    content: StoredContent,
    authenticatedOnly: boolean,
  ): Promise<void> {
    await this.db.query(
      `INSERT INTO media (origin, media_id, user_id, content_type, upload_name, size_bytes, sha256, created_ts, uploaded_ts, authenticated_only)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9)`,
      [origin, mediaId, userId, content.contentType, content.uploadName, content.sizeBytes, content.sha256, content.uploadedTs, authenticatedOnly],
    );
  }

  /**
   * Caches another server's media under its origin and id. A concurrent fetch
   * (another process) may have stored it first; that row is kept.
   */
  async insertRemote(origin: string, mediaId: string, content: StoredContent, authenticatedOnly: boolean): Promise<void> {
    await this.db.query(
      `INSERT INTO media (origin, media_id, user_id, content_type, upload_name, size_bytes, sha256, created_ts, uploaded_ts, authenticated_only, last_access_ts)
       VALUES ($1, $2, NULL, $3, $4, $5, $6, $7, $7, $8, $7) ON CONFLICT (origin, media_id) DO NOTHING`,
      [origin, mediaId, content.contentType, content.uploadName, content.sizeBytes, content.sha256, content.uploadedTs, authenticatedOnly],
    );
  }

  async insertPending(origin: string, mediaId: string, userId: string, createdTs: number, expiresTs: number, authenticatedOnly: boolean): Promise<void> {
    await this.db.query(
      `INSERT INTO media (origin, media_id, user_id, created_ts, unused_expires_ts, authenticated_only) VALUES ($1, $2, $3, $4, $5, $6)`,
      [origin, mediaId, userId, createdTs, expiresTs, authenticatedOnly],
    );
  }

  async countPending(userId: string, now: number): Promise<number> {
    const rows = await this.db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM media WHERE user_id = $1 AND sha256 IS NULL AND unused_expires_ts > $2",
      [userId, now],
    );
    return rows[0]?.n ?? 0;
  }

  /**
   * Fills in the content of a pending async upload. Only the creator, only
   * once and only before expiry: false when any of that does not hold.
   */
  async completePending(origin: string, mediaId: string, userId: string, content: StoredContent, now: number): Promise<boolean> {
    const rows = await this.db.query(
      `UPDATE media SET content_type = $4, upload_name = $5, size_bytes = $6, sha256 = $7, uploaded_ts = $8, unused_expires_ts = NULL
       WHERE origin = $1 AND media_id = $2 AND user_id = $3 AND sha256 IS NULL AND unused_expires_ts > $9
       RETURNING media_id`,
      [origin, mediaId, userId, content.contentType, content.uploadName, content.sizeBytes, content.sha256, content.uploadedTs, now],
    );
    return rows.length === 1;
  }

  async get(origin: string, mediaId: string): Promise<MediaRow | undefined> {
    const rows = await this.db.query<MediaRow>(`SELECT ${MEDIA_COLUMNS} FROM media WHERE origin = $1 AND media_id = $2`, [origin, mediaId]);
    return rows[0];
  }

  async touch(origin: string, mediaId: string, now: number): Promise<void> {
    await this.db.query("UPDATE media SET last_access_ts = $3 WHERE origin = $1 AND media_id = $2", [origin, mediaId, now]);
  }

  /** Bytes a user has stored (for the quota). Each upload counts, even when its bytes are shared. */
  async usageBytes(userId: string): Promise<number> {
    const rows = await this.db.query<{ n: number }>(
      "SELECT coalesce(sum(size_bytes), 0)::int8 AS n FROM media WHERE user_id = $1",
      [userId],
    );
    return Number(rows[0]?.n ?? 0);
  }

  /** Drops async upload ids whose time ran out; returns how many. */
  async deleteExpiredPending(now: number): Promise<number> {
    const rows = await this.db.query("DELETE FROM media WHERE sha256 IS NULL AND unused_expires_ts <= $1 RETURNING media_id", [now]);
    return rows.length;
  }

  async getThumbnail(origin: string, mediaId: string, w: number, h: number, method: string, animated: boolean): Promise<ThumbnailRow | undefined> {
    const rows = await this.db.query<ThumbnailRow>(
      `SELECT * FROM media_thumbnails
       WHERE origin = $1 AND media_id = $2 AND target_width = $3 AND target_height = $4 AND method = $5 AND animated = $6`,
      [origin, mediaId, w, h, method, animated],
    );
    return rows[0];
  }

  async insertThumbnail(t: ThumbnailRow): Promise<void> {
    await this.db.query(
      `INSERT INTO media_thumbnails (origin, media_id, target_width, target_height, method, animated, width, height, content_type, sha256, size_bytes, created_ts)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT DO NOTHING`,
      [t.origin, t.media_id, t.target_width, t.target_height, t.method, t.animated, t.width, t.height, t.content_type, t.sha256, t.size_bytes, t.created_ts],
    );
  }

  async setQuarantine(origin: string, mediaId: string, by: string | null): Promise<boolean> {
    const rows = await this.db.query("UPDATE media SET quarantined_by = $3 WHERE origin = $1 AND media_id = $2 RETURNING media_id", [origin, mediaId, by]);
    return rows.length === 1;
  }

  /**
   * Deletes media rows (and their thumbnails) and returns the blob hashes that
   * nothing references any more, for the caller to remove from the blob store.
   */
  async deleteMany(keys: ReadonlyArray<{ origin: string; mediaId: string }>): Promise<{ deleted: string[]; orphanBlobs: string[] }> {
    if (keys.length === 0) return { deleted: [], orphanBlobs: [] };
    return this.db.transaction(async (tx) => {
      const origins = keys.map((k) => k.origin);
      const ids = keys.map((k) => k.mediaId);
      const thumbs = await tx.query<{ sha256: string }>(
        `DELETE FROM media_thumbnails t USING unnest($1::text[], $2::text[]) AS k(origin, media_id)
         WHERE t.origin = k.origin AND t.media_id = k.media_id RETURNING t.sha256`,
        [origins, ids],
      );
      const media = await tx.query<{ media_id: string; sha256: string | null }>(
        `DELETE FROM media m USING unnest($1::text[], $2::text[]) AS k(origin, media_id)
         WHERE m.origin = k.origin AND m.media_id = k.media_id RETURNING m.media_id, m.sha256`,
        [origins, ids],
      );
      const candidates = [...new Set([...thumbs.map((t) => t.sha256), ...media.map((m) => m.sha256).filter((s): s is string => !!s)])];
      const orphanBlobs = await orphans(tx, candidates);
      return { deleted: media.map((m) => m.media_id), orphanBlobs };
    });
  }

  /** Local media created before `beforeTs` (and larger than `sizeGt` bytes), oldest first. */
  async listLocalBefore(origin: string, beforeTs: number, sizeGt: number, limit: number): Promise<string[]> {
    const rows = await this.db.query<{ media_id: string }>(
      `SELECT media_id FROM media
       WHERE origin = $1 AND created_ts < $2 AND coalesce(size_bytes, 0) > $3 AND sha256 IS NOT NULL
       ORDER BY created_ts LIMIT $4`,
      [origin, beforeTs, sizeGt, limit],
    );
    return rows.map((r) => r.media_id);
  }

  /**
   * Cached remote media last used before `beforeTs`, and remote media of which
   * only thumbnails are cached (fetched from the origin's thumbnail endpoint)
   * made before then.
   */
  async listRemoteUnusedSince(localOrigin: string, beforeTs: number, limit: number): Promise<Array<{ origin: string; mediaId: string }>> {
    const rows = await this.db.query<{ origin: string; media_id: string }>(
      `(SELECT origin, media_id, created_ts FROM media
         WHERE origin <> $1 AND coalesce(last_access_ts, created_ts) < $2 ORDER BY created_ts LIMIT $3)
       UNION ALL
       (SELECT t.origin, t.media_id, max(t.created_ts) AS created_ts FROM media_thumbnails t
         WHERE t.origin <> $1 AND NOT EXISTS (SELECT 1 FROM media m WHERE m.origin = t.origin AND m.media_id = t.media_id)
         GROUP BY t.origin, t.media_id HAVING max(t.created_ts) < $2 ORDER BY 3 LIMIT $3)
       ORDER BY created_ts LIMIT $3`,
      [localOrigin, beforeTs, limit],
    );
    return rows.map((r) => ({ origin: r.origin, mediaId: r.media_id }));
  }

  async listByUser(userId: string, from: number, limit: number): Promise<{ rows: MediaRow[]; total: number }> {
    const rows = await this.db.query<MediaRow>(
      `SELECT ${MEDIA_COLUMNS} FROM media WHERE user_id = $1 ORDER BY created_ts DESC, media_id OFFSET $2 LIMIT $3`,
      [userId, from, limit],
    );
    const total = await this.db.query<{ n: number }>("SELECT count(*)::int AS n FROM media WHERE user_id = $1", [userId]);
    return { rows, total: total[0]?.n ?? 0 };
  }

  async userStats(from: number, limit: number): Promise<{ users: UserMediaStats[]; total: number }> {
    const users = await this.db.query<UserMediaStats>(
      `SELECT user_id, count(*)::int AS media_count, coalesce(sum(size_bytes), 0)::int8 AS media_length
       FROM media WHERE user_id IS NOT NULL GROUP BY user_id ORDER BY media_length DESC, user_id OFFSET $1 LIMIT $2`,
      [from, limit],
    );
    const total = await this.db.query<{ n: number }>("SELECT count(DISTINCT user_id)::int AS n FROM media WHERE user_id IS NOT NULL");
    return { users: users.map((u) => ({ ...u, media_length: Number(u.media_length) })), total: total[0]?.n ?? 0 };
  }

  async getPreview(url: string, now: number): Promise<Record<string, unknown> | undefined> {
    const rows = await this.db.query<{ og: Record<string, unknown> }>("SELECT og FROM media_url_previews WHERE url = $1 AND expires_ts > $2", [url, now]);
    return rows[0]?.og;
  }

  async putPreview(url: string, og: Record<string, unknown>, now: number, expiresTs: number): Promise<void> {
    await this.db.query(
      `INSERT INTO media_url_previews (url, og, fetched_ts, expires_ts) VALUES ($1, $2, $3, $4)
       ON CONFLICT (url) DO UPDATE SET og = EXCLUDED.og, fetched_ts = EXCLUDED.fetched_ts, expires_ts = EXCLUDED.expires_ts`,
      [url, og, now, expiresTs],
    );
  }

  async deleteExpiredPreviews(now: number): Promise<number> {
    const rows = await this.db.query("DELETE FROM media_url_previews WHERE expires_ts <= $1 RETURNING url", [now]);
    return rows.length;
  }
}

async function orphans(tx: SqlQueryable, hashes: string[]): Promise<string[]> {
  if (hashes.length === 0) return [];
  const still = await tx.query<{ sha256: string }>(
    `SELECT sha256 FROM media WHERE sha256 = ANY($1::text[])
     UNION SELECT sha256 FROM media_thumbnails WHERE sha256 = ANY($1::text[])`,
    [hashes],
  );
  const used = new Set(still.map((r) => r.sha256));
  return hashes.filter((h) => !used.has(h));
}
