/**
 * Other servers' users' device lists ("Device Management", server-server
 * API): a local cache filled from `GET /user/devices/{userId}` and kept
 * current by `m.device_list_update` EDUs, each naming the `stream_id`s it
 * follows in `prev_id`. An update whose prev_id we do not recognise means one
 * was lost: the cache is marked stale and fetched again. Every change moves
 * the user on the device_lists stream, so local clients re-query.
 */
import { getOwn, isJsonObject, serverNameOf, type JsonObject } from "../core/index.js";
import type { Logger } from "../logging.js";
import type { RemoteDeviceListSnapshot, RemoteDeviceListsRepo } from "../storage/remote-device-lists-repo.js";
import type { Clock } from "./deps.js";
import type { DeviceListService } from "./device-lists.js";

/** A parsed m.device_list_update. */
export interface DeviceListUpdate {
  userId: string;
  deviceId: string;
  streamId: number;
  prevIds: number[];
  deleted: boolean;
  displayName: string | null;
  keys: JsonObject | null;
}

export interface RemoteDeviceListsDeps {
  repo: RemoteDeviceListsRepo;
  deviceLists: Pick<DeviceListService, "markChanged">;
  /** `GET /_matrix/federation/v1/user/devices/{userId}` on the user's server. */
  fetchDevices(server: string, userId: string): Promise<JsonObject>;
  /** Whether a local user shares a room with `userId`: only then is their list worth caching. */
  isTracked(userId: string): Promise<boolean>;
  clock: Clock;
  log: Logger;
}

/** At most this many devices are cached per remote user (a hostile server could send millions). */
const MAX_DEVICES = 1000;

export class RemoteDeviceLists {
  /** Per user, the tail of its serial queue: updates and resyncs of one user never interleave. */
  private readonly queues = new Map<string, Promise<void>>();
  private readonly pendingResyncs = new Map<string, Promise<boolean>>();

  constructor(private readonly d: RemoteDeviceListsDeps) {}

  /** Those of `userIds` whose cached list can be trusted now. */
  fresh(userIds: readonly string[]): Promise<Set<string>> {
    return this.d.repo.fresh(userIds);
  }

  /** The cached keys of `wanted` users (all cached devices when a list is empty), in /keys/query's shape. */
  async cachedKeys(wanted: Record<string, readonly string[]>): Promise<{
    device_keys: Record<string, Record<string, JsonObject>>;
    master_keys: Record<string, JsonObject>;
    self_signing_keys: Record<string, JsonObject>;
  }> {
    const users = Object.keys(wanted);
    const [devices, signing] = await Promise.all([this.d.repo.devices(users), this.d.repo.signingKeys(users)]);
    const out = {
      device_keys: {} as Record<string, Record<string, JsonObject>>,
      master_keys: {} as Record<string, JsonObject>,
      self_signing_keys: {} as Record<string, JsonObject>,
    };
    for (const u of users) out.device_keys[u] = {};
    for (const d of devices) {
      const filter = wanted[d.user_id] ?? [];
      if (d.key_json === null || (filter.length > 0 && !filter.includes(d.device_id))) continue;
      const keys = JSON.parse(d.key_json) as JsonObject;
      const unsigned: JsonObject = isJsonObject(keys.unsigned) ? { ...keys.unsigned } : {};
      if (d.display_name !== null) unsigned.device_display_name = d.display_name;
      out.device_keys[d.user_id]![d.device_id] = { ...keys, unsigned };
    }
    for (const k of signing) (k.key_type === "master" ? out.master_keys : out.self_signing_keys)[k.user_id] = JSON.parse(k.key_json) as JsonObject;
    return out;
  }

  /**
   * An m.device_list_update from `origin` (already checked to be the user's
   * server). Applied when it follows the cached stream_id; otherwise the list
   * is fetched again. Resolves once the update is queued, not when a resync
   * it caused has finished (that would hold up the sender's transaction).
   */
  async onUpdate(u: DeviceListUpdate): Promise<void> {
    if (!(await this.d.isTracked(u.userId))) {
      // Nobody here shares a room with them: nothing is kept, and what is cached can no longer be trusted.
      if (await this.d.repo.get(u.userId)) await this.d.repo.markStale(u.userId);
      return;
    }
    const done = this.enqueue(u.userId, async () => {
      const cached = await this.d.repo.get(u.userId);
      if (cached && !cached.stale) {
        if (u.streamId <= cached.stream_id) return; // already reflected (a retry, or older than our snapshot)
        // "If a server receives an EDU which refers to a prev_id it does not recognise, it must resynchronise."
        if (u.prevIds.includes(cached.stream_id) || (u.prevIds.length > 0 && u.prevIds.every((p) => p <= cached.stream_id))) {
          const applied = await this.d.repo.applyUpdate(
            {
              userId: u.userId,
              deviceId: u.deviceId,
              displayName: u.displayName,
              keyJson: u.keys ? JSON.stringify(u.keys) : null,
              deleted: u.deleted,
              streamId: u.streamId,
              expectStreamId: cached.stream_id,
            },
            this.d.clock.now(),
            MAX_DEVICES,
          );
          if (applied) {
            await this.d.deviceLists.markChanged(u.userId);
            return;
          }
        }
        await this.d.repo.markStale(u.userId);
      }
      await this.d.deviceLists.markChanged(u.userId);
      await this.resyncNow(u.userId);
    });
    // The EDU is acknowledged once it is queued; failures are logged, and a stale list is fetched again on the next query.
    done.catch((err: unknown) => this.d.log.info({ user_id: u.userId, err: (err as Error).message }, "applying a device list update failed"));
  }

  /** m.signing_key_update: the user's master and/or self-signing key changed. */
  async onSigningKeyUpdate(userId: string, keys: { master?: JsonObject; selfSigning?: JsonObject }): Promise<void> {
    if (!(await this.d.isTracked(userId))) return;
    await this.enqueue(userId, async () => {
      const cached = await this.d.repo.get(userId);
      if (!cached) return; // nothing cached: the next query asks the server anyway
      if (keys.master) await this.d.repo.putSigningKey(userId, "master", JSON.stringify(keys.master));
      if (keys.selfSigning) await this.d.repo.putSigningKey(userId, "self_signing", JSON.stringify(keys.selfSigning));
      await this.d.deviceLists.markChanged(userId);
    });
  }

  /**
   * Fetches the user's list again (serialised with their updates); true when
   * the cache is fresh afterwards. A resync already waiting is not queued twice.
   */
  resync(userId: string): Promise<boolean> {
    const pending = this.pendingResyncs.get(userId);
    if (pending) return pending;
    let ok = false;
    const run = this.enqueue(userId, async () => {
      this.pendingResyncs.delete(userId);
      ok = await this.resyncNow(userId);
    }).then(() => ok);
    this.pendingResyncs.set(userId, run);
    return run;
  }

  private async resyncNow(userId: string): Promise<boolean> {
    const server = serverNameOf(userId);
    if (!server) return false;
    let snapshot: RemoteDeviceListSnapshot | undefined;
    try {
      snapshot = parseUserDevices(userId, await this.d.fetchDevices(server, userId));
    } catch (err) {
      this.d.log.info({ user_id: userId, err: (err as Error).message }, "device list resync failed");
      return false;
    }
    if (!snapshot) {
      this.d.log.info({ user_id: userId }, "device list resync: malformed answer");
      return false;
    }
    await this.d.repo.replace(snapshot, this.d.clock.now());
    await this.d.deviceLists.markChanged(userId);
    return true;
  }

  private enqueue(userId: string, job: () => Promise<void>): Promise<void> {
    const tail = this.queues.get(userId) ?? Promise.resolve();
    const run = tail.then(job);
    const settled = run.catch(() => undefined);
    this.queues.set(userId, settled);
    void settled.then(() => {
      if (this.queues.get(userId) === settled) this.queues.delete(userId);
    });
    return run;
  }
}

/** Device keys received for `userId`/`deviceId` must say so (a server must not pass off keys as another device's). */
export function deviceKeysFor(value: unknown, userId: string, deviceId: string): JsonObject | null {
  if (!isJsonObject(value)) return null;
  if (getOwn(value, "user_id") !== userId || getOwn(value, "device_id") !== deviceId) return null;
  if (!isJsonObject(getOwn(value, "keys"))) return null;
  return value;
}

/** A cross-signing key of `userId` with `usage`, or undefined. */
export function signingKeyFor(value: unknown, userId: string, usage: string): JsonObject | undefined {
  if (!isJsonObject(value) || getOwn(value, "user_id") !== userId) return undefined;
  const u = getOwn(value, "usage");
  if (!Array.isArray(u) || !u.includes(usage) || !isJsonObject(getOwn(value, "keys"))) return undefined;
  return value;
}

/** The answer of `GET /user/devices/{userId}`, checked; undefined when it is not usable. */
export function parseUserDevices(userId: string, body: JsonObject): RemoteDeviceListSnapshot | undefined {
  const streamId = getOwn(body, "stream_id");
  const devices = getOwn(body, "devices");
  if (getOwn(body, "user_id") !== userId || typeof streamId !== "number" || !Number.isSafeInteger(streamId) || !Array.isArray(devices)) return undefined;
  const out: RemoteDeviceListSnapshot = { userId, streamId, devices: [] };
  const seen = new Set<string>();
  for (const d of devices.slice(0, MAX_DEVICES)) {
    if (!isJsonObject(d)) continue;
    const deviceId = getOwn(d, "device_id");
    if (typeof deviceId !== "string" || deviceId === "" || deviceId.length > 255 || seen.has(deviceId)) continue;
    seen.add(deviceId);
    const name = getOwn(d, "device_display_name");
    const keys = deviceKeysFor(getOwn(d, "keys"), userId, deviceId);
    out.devices.push({ deviceId, displayName: typeof name === "string" ? name.slice(0, 1000) : null, keyJson: keys ? JSON.stringify(keys) : null });
  }
  const master = signingKeyFor(getOwn(body, "master_key"), userId, "master");
  const selfSigning = signingKeyFor(getOwn(body, "self_signing_key"), userId, "self_signing");
  if (master) out.master = JSON.stringify(master);
  if (selfSigning) out.selfSigning = JSON.stringify(selfSigning);
  return out;
}
