import { isJsonObject, serverNameOf, type JsonObject, type JsonValue } from "../core/index.js";
import { MatrixError } from "../http/errors.js";
import type { E2eeCrossSigningRepo } from "../storage/e2ee-cross-signing-repo.js";
import type { E2eeKeysRepo, OneTimeKeyInput } from "../storage/e2ee-keys-repo.js";
import type { Sql } from "../storage/sql.js";
import type { Clock, DeviceDirectory } from "./deps.js";
import type { DeviceListService } from "./device-lists.js";
import { checkDeviceKeys, invalidParam, parseKeyMap, sameSignedContent, withSignatures } from "./key-objects.js";

export interface UploadKeysBody {
  device_keys?: JsonValue;
  one_time_keys?: JsonValue;
  fallback_keys?: JsonValue;
}

export interface KeysRequester {
  userId: string;
  deviceId: string | null;
}

export interface QueryResult {
  device_keys: Record<string, Record<string, JsonObject>>;
  master_keys: Record<string, JsonObject>;
  self_signing_keys: Record<string, JsonObject>;
  user_signing_keys: Record<string, JsonObject>;
  failures: Record<string, JsonObject>;
}

export interface ClaimResult {
  one_time_keys: Record<string, Record<string, Record<string, JsonValue>>>;
  failures: Record<string, JsonObject>;
}

const REMOTE_FAILURE: JsonObject = { status: 503, message: "Federation is not available on this server" };

/** "Key management API": the `timeout` a client may give /keys/query and /keys/claim, default 10 s. */
export const DEFAULT_KEYS_TIMEOUT_MS = 10_000;
const MAX_KEYS_TIMEOUT_MS = 60_000;

/** Other servers' users' keys: the federation fan-out (src/e2ee/remote-keys.ts). */
export interface RemoteKeyQueries {
  query(wanted: Record<string, string[]>, timeoutMs: number): Promise<Omit<QueryResult, "user_signing_keys">>;
  claim(wanted: Record<string, Record<string, string>>, timeoutMs: number): Promise<ClaimResult>;
}

/** A local user's devices as other servers see them (server-server `GET /user/devices/{userId}`). */
export interface DeviceListSnapshot {
  devices: Array<{ device_id: string; keys?: JsonObject; device_display_name?: string }>;
  master_key?: JsonObject;
  self_signing_key?: JsonObject;
}

function clampTimeout(ms: number | undefined): number {
  if (ms === undefined || !Number.isFinite(ms)) return DEFAULT_KEYS_TIMEOUT_MS;
  return Math.min(Math.max(ms, 0), MAX_KEYS_TIMEOUT_MS);
}

/** Device identity keys, one-time keys and fallback keys ("Key Distribution"). */
export class DeviceKeysService {
  private remote: RemoteKeyQueries | undefined;

  constructor(
    private readonly deps: {
      sql: Sql;
      keys: E2eeKeysRepo;
      crossSigning: E2eeCrossSigningRepo;
      devices: DeviceDirectory;
      deviceLists: DeviceListService;
      clock: Clock;
      serverName: string;
    },
  ) {}

  /** POST /keys/upload. Everything is checked before anything is stored. */
  async upload(requester: KeysRequester, body: UploadKeysBody): Promise<{ one_time_key_counts: Record<string, number> }> {
    const { userId } = requester;
    const deviceId = requester.deviceId;
    if (deviceId === null) throw new MatrixError(400, "M_MISSING_PARAM", "Uploading keys needs a device; this access token has none");
    const deviceKeys = body.device_keys === undefined || body.device_keys === null ? undefined : checkDeviceKeys(body.device_keys, userId, deviceId);
    const otks: OneTimeKeyInput[] = (body.one_time_keys == null ? [] : parseKeyMap(body.one_time_keys, "one_time_keys")).map(toInput);
    const fallbacks: OneTimeKeyInput[] = (body.fallback_keys == null ? [] : parseKeyMap(body.fallback_keys, "fallback_keys")).map(toInput);
    const algs = new Set<string>();
    for (const f of fallbacks) {
      if (algs.has(f.algorithm)) throw invalidParam(`fallback_keys: at most one key per algorithm ('${f.algorithm}')`);
      algs.add(f.algorithm);
    }

    const { keys } = this.deps;
    const deviceKeysChanged = await this.deps.sql.transaction(async (tx) => {
      let changed = false;
      if (deviceKeys) {
        const existing = await keys.getDeviceKeys(userId, deviceId, tx);
        const stored = existing ? (JSON.parse(existing.key_json) as JsonObject) : undefined;
        // "Conflicting re-upload": a device's identity keys never change; a
        // client that lost them must log in as a new device.
        if (stored && !sameSignedContent(stored, deviceKeys.json)) {
          throw invalidParam(`Device ${deviceId} already has different identity keys; log in as a new device to use new keys`);
        }
        const text = JSON.stringify(deviceKeys.json);
        if (!existing || existing.key_json !== text) {
          await keys.putDeviceKeys({ userId, deviceId, keyJson: text, ed25519Key: deviceKeys.ed25519, ts: this.deps.clock.now() }, tx);
          changed = true;
        }
      }
      if (otks.length > 0) {
        const existing = await keys.existingOneTimeKeys(userId, deviceId, otks, tx);
        for (const k of otks) {
          const old = existing.get(`${k.algorithm}:${k.keyId}`);
          if (old !== undefined && old !== k.keyJson) throw invalidParam(`One-time key ${k.algorithm}:${k.keyId} already exists with a different value`);
        }
        await keys.addOneTimeKeys(userId, deviceId, otks, tx);
      }
      for (const f of fallbacks) {
        const old = await keys.getFallbackKey(userId, deviceId, f.algorithm, tx);
        // Re-sending the current fallback key must not mark a used key unused again.
        if (old && old.key_id === f.keyId && old.key_json === f.keyJson) continue;
        await keys.putFallbackKey(userId, deviceId, f, tx);
      }
      return changed;
    });
    if (deviceKeysChanged) await this.deps.deviceLists.markChanged(userId);
    return { one_time_key_counts: await keys.countOneTimeKeys(userId, deviceId) };
  }

  /** Federation is wired after the e2ee area: other servers' users are then asked over federation. */
  setRemote(remote: RemoteKeyQueries): void {
    this.remote = remote;
  }

  /**
   * POST /keys/query: local users from the database, other servers' users
   * from the remote device list cache or over federation, all servers in
   * parallel within `timeoutMs`; a server that fails is listed in `failures`.
   */
  async query(requester: KeysRequester, wanted: Record<string, string[]>, timeoutMs?: number): Promise<QueryResult> {
    const local: Record<string, string[]> = {};
    const remote: Record<string, string[]> = {};
    const failures: Record<string, JsonObject> = {};
    for (const [userId, devices] of Object.entries(wanted)) {
      const server = serverNameOf(userId);
      if (server === this.deps.serverName) local[userId] = devices;
      else if (server && this.remote) remote[userId] = devices;
      else if (server) failures[server] = REMOTE_FAILURE;
    }
    const [result, fromRemote] = await Promise.all([
      this.queryLocal(requester.userId, local),
      Object.keys(remote).length > 0 && this.remote ? this.remote.query(remote, clampTimeout(timeoutMs)) : undefined,
    ]);
    Object.assign(result.failures, failures);
    if (fromRemote) {
      Object.assign(result.device_keys, fromRemote.device_keys);
      Object.assign(result.master_keys, fromRemote.master_keys);
      Object.assign(result.self_signing_keys, fromRemote.self_signing_keys);
      Object.assign(result.failures, fromRemote.failures);
    }
    return result;
  }

  /**
   * Keys of local users only: for /keys/query, and for the server-server
   * `POST /user/keys/query` (`viewerId` "" there: no user-signing keys and
   * only the users' own signatures).
   */
  async queryLocal(viewerId: string, wanted: Record<string, string[]>): Promise<QueryResult> {
    const result: QueryResult = { device_keys: {}, master_keys: {}, self_signing_keys: {}, user_signing_keys: {}, failures: {} };
    const local = Object.keys(wanted).filter((u) => serverNameOf(u) === this.deps.serverName);
    if (local.length === 0) return result;
    const requester = { userId: viewerId };

    const [stored, csKeys, sigs] = await Promise.all([
      this.deps.keys.listDeviceKeys(local),
      this.deps.crossSigning.getKeys(local),
      // Visible signatures: a user's own (on their devices and master key) and
      // the requester's (their user-signing key on others' master keys).
      this.deps.crossSigning.getSignatures(local, [...new Set([...local, requester.userId])]),
    ]);
    const sigsOn = new Map<string, Array<{ userId: string; keyId: string; signature: string }>>();
    for (const s of sigs) {
      // Only the signer sees signatures others made with their user-signing key.
      if (s.signer_user_id !== s.target_user_id && s.signer_user_id !== requester.userId) continue;
      const k = `${s.target_user_id}\u0000${s.target_key_id}`;
      const list = sigsOn.get(k) ?? [];
      list.push({ userId: s.signer_user_id, keyId: s.signer_key_id, signature: s.signature });
      sigsOn.set(k, list);
    }

    for (const userId of local) {
      const deviceFilter = new Set(wanted[userId]);
      const devices = new Map((await this.deps.devices.listDevices(userId)).map((d) => [d.deviceId, d]));
      const out: Record<string, JsonObject> = {};
      for (const row of stored) {
        if (row.user_id !== userId) continue;
        const device = devices.get(row.device_id);
        if (!device) continue; // keys of a device that is gone
        if (deviceFilter.size > 0 && !deviceFilter.has(row.device_id)) continue;
        const json = withSignatures(JSON.parse(row.key_json) as JsonObject, sigsOn.get(`${userId}\u0000${row.device_id}`) ?? []);
        const unsigned: JsonObject = isJsonObject(json.unsigned) ? { ...json.unsigned } : {};
        if (device.displayName !== null) unsigned.device_display_name = device.displayName;
        out[row.device_id] = { ...json, unsigned };
      }
      result.device_keys[userId] = out;
    }
    for (const k of csKeys) {
      const json = withSignatures(JSON.parse(k.key_json) as JsonObject, sigsOn.get(`${k.user_id}\u0000${k.public_key}`) ?? []);
      if (k.key_type === "master") result.master_keys[k.user_id] = json;
      else if (k.key_type === "self_signing") result.self_signing_keys[k.user_id] = json;
      else if (k.user_id === requester.userId) result.user_signing_keys[k.user_id] = json;
    }
    return result;
  }

  /**
   * POST /keys/claim: each one-time key is handed out at most once (the
   * repository deletes it in the statement that reads it); when a device has
   * none left, its fallback key is returned and marked used.
   */
  async claim(wanted: Record<string, Record<string, string>>, timeoutMs?: number): Promise<ClaimResult> {
    const remote: Record<string, Record<string, string>> = {};
    const local: Record<string, Record<string, string>> = {};
    const failures: Record<string, JsonObject> = {};
    for (const [userId, byDevice] of Object.entries(wanted)) {
      const server = serverNameOf(userId);
      if (server === this.deps.serverName) local[userId] = byDevice;
      else if (server && this.remote) remote[userId] = byDevice;
      else if (server) failures[server] = REMOTE_FAILURE;
    }
    const [result, fromRemote] = await Promise.all([
      this.claimLocal(local),
      Object.keys(remote).length > 0 && this.remote ? this.remote.claim(remote, clampTimeout(timeoutMs)) : undefined,
    ]);
    Object.assign(result.failures, failures);
    if (fromRemote) {
      Object.assign(result.one_time_keys, fromRemote.one_time_keys);
      Object.assign(result.failures, fromRemote.failures);
    }
    return result;
  }

  /** One-time keys of local users only (also the server-server `POST /user/keys/claim`). */
  async claimLocal(wanted: Record<string, Record<string, string>>): Promise<ClaimResult> {
    const result: ClaimResult = { one_time_keys: {}, failures: {} };
    const jobs: Array<Promise<void>> = [];
    for (const [userId, byDevice] of Object.entries(wanted)) {
      if (serverNameOf(userId) !== this.deps.serverName) continue;
      for (const [deviceId, algorithm] of Object.entries(byDevice)) {
        jobs.push(
          (async () => {
            const key =
              (await this.deps.keys.claimOneTimeKey(userId, deviceId, algorithm)) ??
              (await this.deps.keys.claimFallbackKey(userId, deviceId, algorithm));
            if (!key) return;
            const forUser = (result.one_time_keys[userId] ??= {});
            const forDevice = (forUser[deviceId] ??= {});
            forDevice[`${key.algorithm}:${key.key_id}`] = JSON.parse(key.key_json) as JsonValue;
          })(),
        );
      }
    }
    await Promise.all(jobs);
    return result;
  }

  /** Every device of a local user, with its keys when it has uploaded some, and the user's master and self-signing keys. */
  async deviceListSnapshot(userId: string): Promise<DeviceListSnapshot> {
    const [devices, keys] = await Promise.all([this.deps.devices.listDevices(userId), this.queryLocal("", { [userId]: [] })]);
    const withKeys = keys.device_keys[userId] ?? {};
    const out: DeviceListSnapshot = {
      devices: devices.map((d) => {
        const k = withKeys[d.deviceId];
        return {
          device_id: d.deviceId,
          ...(k ? { keys: k } : {}),
          ...(d.displayName !== null ? { device_display_name: d.displayName } : {}),
        };
      }),
    };
    if (keys.master_keys[userId]) out.master_key = keys.master_keys[userId];
    if (keys.self_signing_keys[userId]) out.self_signing_key = keys.self_signing_keys[userId];
    return out;
  }

  /** Reader for /sync's `device_one_time_keys_count`. */
  getOneTimeKeyCounts(userId: string, deviceId: string): Promise<Record<string, number>> {
    return this.deps.keys.countOneTimeKeys(userId, deviceId);
  }

  /** Reader for /sync's `device_unused_fallback_key_types`. */
  getUnusedFallbackKeyTypes(userId: string, deviceId: string): Promise<string[]> {
    return this.deps.keys.unusedFallbackKeyTypes(userId, deviceId);
  }

  /** Called when devices are deleted: their keys and the signatures on them go. */
  async onDevicesDeleted(userId: string, deviceIds: readonly string[]): Promise<void> {
    await this.deps.sql.transaction(async (tx) => {
      await this.deps.keys.deleteDevices(userId, deviceIds, tx);
      await this.deps.crossSigning.deleteSignaturesOn(userId, deviceIds, tx);
    });
  }
}

function toInput(k: { algorithm: string; keyId: string; json: JsonValue }): OneTimeKeyInput {
  return { algorithm: k.algorithm, keyId: k.keyId, keyJson: JSON.stringify(k.json) };
}
