import type { JsonObject, JsonValue } from "../core/index.js";
import { MatrixError, notFound } from "../http/errors.js";
import type { E2eeDehydratedRepo } from "../storage/e2ee-dehydrated-repo.js";
import type { Clock, DeviceDirectory, DeviceProvisioner } from "./deps.js";
import type { DeviceKeysService } from "./device-keys.js";
import { checkDeviceKeys, parseKeyMap } from "./key-objects.js";
import type { ToDeviceEvent, ToDeviceService } from "./to-device.js";

export interface PutDehydratedBody {
  device_id: string;
  device_data: JsonObject;
  initial_device_display_name?: string;
  device_keys?: JsonValue;
  one_time_keys?: JsonValue;
  fallback_keys?: JsonValue;
}

/** Events handed out per call of the events endpoint. */
const EVENTS_LIMIT = 100;

/**
 * Dehydrated devices (MSC3814, unstable prefix org.matrix.msc3814.v1): a
 * device whose encrypted state the server keeps, so that to-device messages
 * (room keys) sent while the user has no online device can be picked up by
 * the next device that logs in and rehydrates it.
 */
export class DehydratedDeviceService {
  constructor(
    private readonly deps: {
      repo: E2eeDehydratedRepo;
      devices: DeviceDirectory;
      provisioner: DeviceProvisioner;
      deviceKeys: DeviceKeysService;
      toDevice: ToDeviceService;
      clock: Clock;
    },
  ) {}

  /** PUT /dehydrated_device: replaces the user's dehydrated device. */
  async put(userId: string, body: PutDehydratedBody): Promise<{ device_id: string }> {
    const deviceId = body.device_id;
    if (deviceId === "" || Buffer.byteLength(deviceId, "utf8") > 255) throw new MatrixError(400, "M_INVALID_PARAM", "device_id must be 1 to 255 bytes");
    // Check the keys before anything changes.
    if (body.device_keys != null) checkDeviceKeys(body.device_keys, userId, deviceId);
    if (body.one_time_keys != null) parseKeyMap(body.one_time_keys, "one_time_keys");
    if (body.fallback_keys != null) parseKeyMap(body.fallback_keys, "fallback_keys");
    const old = await this.deps.repo.get(userId);
    const existing = new Set((await this.deps.devices.listDevices(userId)).map((d) => d.deviceId));
    if (existing.has(deviceId) && old?.device_id !== deviceId) {
      throw new MatrixError(400, "M_INVALID_PARAM", "A device with this id already exists");
    }
    // The previous dehydrated device goes, with its keys and messages.
    if (old) await this.deps.provisioner.deleteDevices(userId, [old.device_id]);
    await this.deps.provisioner.createDevice(userId, deviceId, body.initial_device_display_name ?? null);
    await this.deps.repo.put(userId, deviceId, JSON.stringify(body.device_data), this.deps.clock.now());
    await this.deps.deviceKeys.upload(
      { userId, deviceId },
      { device_keys: body.device_keys, one_time_keys: body.one_time_keys, fallback_keys: body.fallback_keys },
    );
    return { device_id: deviceId };
  }

  /** GET /dehydrated_device. */
  async get(userId: string): Promise<{ device_id: string; device_data: JsonObject }> {
    const row = await this.deps.repo.get(userId);
    if (!row) throw notFound("No dehydrated device");
    return { device_id: row.device_id, device_data: JSON.parse(row.device_data) as JsonObject };
  }

  /** DELETE /dehydrated_device. */
  async delete(userId: string): Promise<{ device_id: string }> {
    const row = await this.deps.repo.get(userId);
    if (!row) throw notFound("No dehydrated device");
    await this.deps.provisioner.deleteDevices(userId, [row.device_id]);
    await this.deps.repo.deleteIfAmong(userId, [row.device_id]);
    return { device_id: row.device_id };
  }

  /**
   * POST /dehydrated_device/{deviceId}/events: the device's to-device inbox,
   * paged; passing a `next_batch` back acknowledges what came before it.
   */
  async events(userId: string, deviceId: string, nextBatch: string | undefined): Promise<{ events: ToDeviceEvent[]; next_batch: string }> {
    const row = await this.deps.repo.get(userId);
    if (!row || row.device_id !== deviceId) throw new MatrixError(403, "M_FORBIDDEN", "This is not your dehydrated device");
    let since = 0;
    if (nextBatch !== undefined) {
      if (!/^\d{1,15}$/.test(nextBatch)) throw new MatrixError(400, "M_INVALID_PARAM", "next_batch is not a token this server issued");
      since = Number(nextBatch);
      await this.deps.toDevice.deleteToDeviceUpTo(userId, deviceId, since);
    }
    const batch = await this.deps.toDevice.getToDeviceMessages(userId, deviceId, since, this.deps.toDevice.currentPosition(), EVENTS_LIMIT);
    return { events: batch.events, next_batch: String(batch.position) };
  }

  /** Called when devices are deleted: a deleted dehydrated device is forgotten. */
  async onDevicesDeleted(userId: string, deviceIds: readonly string[]): Promise<void> {
    await this.deps.repo.deleteIfAmong(userId, deviceIds);
  }
}
