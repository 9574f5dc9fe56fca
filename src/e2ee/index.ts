import { E2eeBackupRepo } from "../storage/e2ee-backup-repo.js";
import { E2eeCrossSigningRepo } from "../storage/e2ee-cross-signing-repo.js";
import { E2eeDehydratedRepo } from "../storage/e2ee-dehydrated-repo.js";
import { E2eeDeviceListsRepo } from "../storage/e2ee-device-lists-repo.js";
import { E2eeKeysRepo } from "../storage/e2ee-keys-repo.js";
import type { Sql } from "../storage/sql.js";
import { ToDeviceRepo } from "../storage/to-device-repo.js";
import { CrossSigningService } from "./cross-signing.js";
import { DehydratedDeviceService } from "./dehydrated-devices.js";
import {
  selfOnlyAudience,
  type Clock,
  type DeviceDirectory,
  type DeviceProvisioner,
  type ReauthGate,
  type RoomAudience,
  type StreamNotifier,
} from "./deps.js";
import { DeviceKeysService } from "./device-keys.js";
import { DeviceListService } from "./device-lists.js";
import { KeyBackupService } from "./key-backup.js";
import { ToDeviceService } from "./to-device.js";

export interface E2eeDeps {
  sql: Sql;
  serverName: string;
  devices: DeviceDirectory;
  /** Creates/deletes the device rows of dehydrated devices (accounts area). */
  provisioner: DeviceProvisioner;
  notifier: StreamNotifier;
  reauth: ReauthGate;
  clock: Clock;
  /** Who shares a room with whom; without it, only the user themself hears of their device changes. */
  audience?: RoomAudience;
}

/**
 * The end-to-end encryption area. Besides the endpoints' services it offers
 * the readers /sync needs (device-list changes, to-device inbox, one-time
 * key counts, unused fallback key types) and the hooks the accounts area
 * calls when devices change.
 */
export interface E2ee {
  deviceKeys: DeviceKeysService;
  crossSigning: CrossSigningService;
  deviceLists: DeviceListService;
  toDevice: ToDeviceService;
  keyBackup: KeyBackupService;
  dehydrated: DehydratedDeviceService;
  /** A device was added or renamed: users tracking its owner must re-query. */
  onDeviceChanged(userId: string): Promise<void>;
  /** Devices were deleted: their keys, one-time keys and pending to-device messages go. */
  onDevicesDeleted(userId: string, deviceIds: readonly string[]): Promise<void>;
}

export async function createE2ee(deps: E2eeDeps): Promise<E2ee> {
  const keys = new E2eeKeysRepo(deps.sql);
  const crossSigningRepo = new E2eeCrossSigningRepo(deps.sql);
  const deviceLists = await DeviceListService.open(new E2eeDeviceListsRepo(deps.sql), deps.notifier, deps.audience ?? selfOnlyAudience);
  const toDevice = await ToDeviceService.open({
    repo: new ToDeviceRepo(deps.sql),
    devices: deps.devices,
    notifier: deps.notifier,
    clock: deps.clock,
    serverName: deps.serverName,
  });
  const deviceKeys = new DeviceKeysService({
    sql: deps.sql,
    keys,
    crossSigning: crossSigningRepo,
    devices: deps.devices,
    deviceLists,
    clock: deps.clock,
    serverName: deps.serverName,
  });
  const crossSigning = new CrossSigningService({
    sql: deps.sql,
    crossSigning: crossSigningRepo,
    keys,
    devices: deps.devices,
    deviceLists,
    reauth: deps.reauth,
    clock: deps.clock,
    serverName: deps.serverName,
  });
  const dehydrated = new DehydratedDeviceService({
    repo: new E2eeDehydratedRepo(deps.sql),
    devices: deps.devices,
    provisioner: deps.provisioner,
    deviceKeys,
    toDevice,
    clock: deps.clock,
  });
  return {
    deviceKeys,
    crossSigning,
    deviceLists,
    toDevice,
    keyBackup: new KeyBackupService(new E2eeBackupRepo(deps.sql)),
    dehydrated,
    async onDeviceChanged(userId) {
      await deviceLists.markChanged(userId);
    },
    async onDevicesDeleted(userId, deviceIds) {
      if (deviceIds.length === 0) return;
      await deviceKeys.onDevicesDeleted(userId, deviceIds);
      await toDevice.onDevicesDeleted(userId, deviceIds);
      await dehydrated.onDevicesDeleted(userId, deviceIds);
      await deviceLists.markChanged(userId);
    },
  };
}

export type { DeviceDirectory, DeviceProvisioner, ReauthGate, RoomAudience, StreamNotifier } from "./deps.js";
