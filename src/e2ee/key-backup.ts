import { isJsonObject, type JsonObject, type JsonValue } from "../core/index.js";
import { MatrixError, notFound } from "../http/errors.js";
import type { BackupVersionRow, E2eeBackupRepo, RoomKeyRow } from "../storage/e2ee-backup-repo.js";

export interface BackupKeyData {
  first_message_index: number;
  forwarded_count: number;
  is_verified: boolean;
  session_data: JsonObject;
}

export interface BackupInfo {
  algorithm: string;
  auth_data: JsonValue;
  count: number;
  etag: string;
  version: string;
}

/** Keys to store: room id -> session id -> key data. */
export type BackupKeys = Map<string, Map<string, BackupKeyData>>;

export interface RoomKeysUpdate {
  etag: string;
  count: number;
}

/**
 * "Server-side key backups": versions hold the encrypted room keys; only the
 * current (newest, not deleted) version accepts writes.
 */
export class KeyBackupService {
  constructor(private readonly repo: E2eeBackupRepo) {}

  async createVersion(userId: string, algorithm: string, authData: JsonValue): Promise<string> {
    return String(await this.repo.createVersion(userId, algorithm, JSON.stringify(authData)));
  }

  /** GET /room_keys/version[/{version}]. */
  async getVersion(userId: string, version?: string): Promise<BackupInfo> {
    const row = version === undefined ? await this.repo.currentVersion(userId) : await this.existing(userId, version);
    if (!row) throw notFound(version === undefined ? "No current backup version" : "Unknown backup version");
    return {
      algorithm: row.algorithm,
      auth_data: JSON.parse(row.auth_data) as JsonValue,
      count: await this.repo.countKeys(userId, row.version),
      etag: String(row.etag),
      version: String(row.version),
    };
  }

  /** PUT /room_keys/version/{version}: only `auth_data` may change. */
  async updateVersion(userId: string, version: string, body: { algorithm: string; auth_data: JsonValue; version?: string }): Promise<void> {
    if (body.version !== undefined && body.version !== version) {
      throw new MatrixError(400, "M_INVALID_PARAM", "The version in the body does not match the version in the path");
    }
    const row = await this.existing(userId, version);
    if (!row) throw notFound("Unknown backup version");
    if (row.algorithm !== body.algorithm) throw new MatrixError(400, "M_INVALID_PARAM", "The algorithm of a backup cannot be changed");
    await this.repo.updateAuthData(userId, row.version, JSON.stringify(body.auth_data));
  }

  /** DELETE /room_keys/version/{version}: also fine for an already deleted version. */
  async deleteVersion(userId: string, version: string): Promise<void> {
    const n = parseVersion(version);
    const row = n === undefined ? undefined : await this.repo.getVersion(userId, n);
    if (!row) throw notFound("Unknown backup version");
    if (!row.deleted) await this.repo.deleteVersion(userId, row.version);
  }

  /**
   * PUT /room_keys/keys[...]: stores keys under the spec's replacement rules
   * (keep the verified key; then the lower first_message_index; then the
   * lower forwarded_count). The etag moves only when something changed.
   */
  async putKeys(userId: string, version: string, keys: BackupKeys): Promise<RoomKeysUpdate> {
    return this.repo.transaction(async (tx) => {
      const row = await this.writable(userId, version, tx);
      const pairs: Array<[string, string]> = [];
      for (const [roomId, sessions] of keys) for (const sessionId of sessions.keys()) pairs.push([roomId, sessionId]);
      const existing = new Map((await this.repo.getKeysFor(tx, userId, row.version, pairs)).map((k) => [`${k.room_id}\u0000${k.session_id}`, k]));
      const updates: RoomKeyRow[] = [];
      for (const [roomId, sessions] of keys) {
        for (const [sessionId, data] of sessions) {
          const old = existing.get(`${roomId}\u0000${sessionId}`);
          if (old && !shouldReplace(old, data)) continue;
          updates.push({
            room_id: roomId,
            session_id: sessionId,
            first_message_index: data.first_message_index,
            forwarded_count: data.forwarded_count,
            is_verified: data.is_verified,
            session_data: JSON.stringify(data.session_data),
          });
        }
      }
      await this.repo.upsertKeys(tx, userId, row.version, updates);
      const etag = updates.length > 0 ? await this.repo.bumpEtag(tx, userId, row.version) : row.etag;
      return { etag: String(etag), count: await this.repo.countKeys(userId, row.version, tx) };
    });
  }

  /** GET /room_keys/keys[...]: any existing version may be read. */
  async getKeys(userId: string, version: string, roomId?: string, sessionId?: string): Promise<RoomKeyRow[]> {
    const row = await this.existing(userId, version);
    if (!row) throw notFound("Unknown backup version");
    return this.repo.getKeys(userId, row.version, roomId, sessionId);
  }

  /** DELETE /room_keys/keys[...]. */
  async deleteKeys(userId: string, version: string, roomId?: string, sessionId?: string): Promise<RoomKeysUpdate> {
    return this.repo.transaction(async (tx) => {
      const row = await this.existing(userId, version, tx);
      if (!row) throw notFound("Unknown backup version");
      await this.repo.lockVersion(tx, userId, row.version);
      const n = await this.repo.deleteKeys(tx, userId, row.version, roomId, sessionId);
      const etag = n > 0 ? await this.repo.bumpEtag(tx, userId, row.version) : row.etag;
      return { etag: String(etag), count: await this.repo.countKeys(userId, row.version, tx) };
    });
  }

  private async existing(userId: string, version: string, db?: Parameters<E2eeBackupRepo["getVersion"]>[2]): Promise<BackupVersionRow | undefined> {
    const n = parseVersion(version);
    if (n === undefined) return undefined;
    const row = await this.repo.getVersion(userId, n, db);
    return row && !row.deleted ? row : undefined;
  }

  /** The version must exist (404) and be the current one (403 M_WRONG_ROOM_KEYS_VERSION). */
  private async writable(userId: string, version: string, tx: Parameters<E2eeBackupRepo["lockVersion"]>[0]): Promise<BackupVersionRow> {
    const current = await this.repo.currentVersion(userId, tx);
    if (!current) throw notFound("No backup exists");
    if (String(current.version) !== version) {
      throw new MatrixError(403, "M_WRONG_ROOM_KEYS_VERSION", "Wrong backup version", { current_version: String(current.version) });
    }
    const locked = await this.repo.lockVersion(tx, userId, current.version);
    if (!locked || locked.deleted) throw notFound("Unknown backup version");
    return locked;
  }
}

/** Spec "Server-side key backups": whether `incoming` replaces the stored key. */
export function shouldReplace(stored: Pick<RoomKeyRow, "is_verified" | "first_message_index" | "forwarded_count">, incoming: Omit<BackupKeyData, "session_data">): boolean {
  if (stored.is_verified !== incoming.is_verified) return incoming.is_verified;
  if (stored.first_message_index !== incoming.first_message_index) return incoming.first_message_index < stored.first_message_index;
  return incoming.forwarded_count < stored.forwarded_count;
}

function parseVersion(version: string): number | undefined {
  return /^[1-9][0-9]{0,14}$/.test(version) ? Number(version) : undefined;
}

export function isKeyData(v: unknown): v is BackupKeyData {
  return (
    isJsonObject(v) &&
    Number.isSafeInteger(v.first_message_index) &&
    Number.isSafeInteger(v.forwarded_count) &&
    typeof v.is_verified === "boolean" &&
    isJsonObject(v.session_data)
  );
}
