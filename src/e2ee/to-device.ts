import { getOwn, isJsonObject, isValidUserId, serverNameOf, type JsonObject, type JsonValue } from "../core/index.js";
import { MatrixError } from "../http/errors.js";
import type { ToDeviceRepo, ToDeviceRow } from "../storage/to-device-repo.js";
import type { Clock, DeviceDirectory, StreamNotifier } from "./deps.js";
import { StreamWriter } from "./stream-writer.js";

export interface ToDeviceEvent {
  sender: string;
  type: string;
  content: JsonObject;
}

export interface ToDeviceBatch {
  events: ToDeviceEvent[];
  /**
   * The position up to which the batch is complete: the last message's
   * position when `limit` cut the batch short, else `uptoPos`. The next sync
   * token carries it, and acknowledging it deletes exactly what was delivered.
   */
  position: number;
}

export interface ToDeviceSender {
  userId: string;
  /** Null for an application service without a device; the transaction scope is then the user. */
  deviceId: string | null;
}

/** Transaction ids are kept this long: retransmissions come within minutes. */
export const TXN_RETENTION_MS = 24 * 60 * 60 * 1000;
const PRUNE_EVERY_MS = 60 * 60 * 1000;

/** "Send-to-Device messaging": store per device until acknowledged, in order, exactly once. */
export class ToDeviceService {
  private lastPrune = 0;

  private constructor(
    private readonly repo: ToDeviceRepo,
    private readonly writer: StreamWriter,
    private readonly devices: DeviceDirectory,
    private readonly notifier: StreamNotifier,
    private readonly clock: Clock,
    private readonly serverName: string,
  ) {}

  static async open(deps: {
    repo: ToDeviceRepo;
    devices: DeviceDirectory;
    notifier: StreamNotifier;
    clock: Clock;
    serverName: string;
  }): Promise<ToDeviceService> {
    return new ToDeviceService(deps.repo, new StreamWriter(await deps.repo.maxPosition()), deps.devices, deps.notifier, deps.clock, deps.serverName);
  }

  currentPosition(): number {
    return this.writer.current;
  }

  /**
   * PUT /sendToDevice/{eventType}/{txnId}. `*` means every device of the
   * user; a device named explicitly as well gets its explicit message only.
   * Unknown devices are skipped. Remote users need federation (not yet).
   */
  async send(sender: ToDeviceSender, eventType: string, txnId: string, messages: JsonValue): Promise<void> {
    if (!isJsonObject(messages)) throw new MatrixError(400, "M_BAD_JSON", "Invalid value for 'messages': must be an object");
    const rows: ToDeviceRow[] = [];
    for (const [userId, byDevice] of Object.entries(messages)) {
      if (!isValidUserId(userId)) throw new MatrixError(400, "M_INVALID_PARAM", `'${userId.slice(0, 100)}' is not a user id`);
      if (!isJsonObject(byDevice)) throw new MatrixError(400, "M_BAD_JSON", `Invalid value for 'messages.${userId}': must be an object`);
      for (const [deviceId, content] of Object.entries(byDevice)) {
        if (!isJsonObject(content)) throw new MatrixError(400, "M_BAD_JSON", `Invalid value for 'messages.${userId}.${deviceId}': must be an object`);
      }
      if (serverNameOf(userId) !== this.serverName) continue;
      const known = new Set((await this.devices.listDevices(userId)).map((d) => d.deviceId));
      const targets = new Map<string, JsonObject>();
      const wildcard = getOwn(byDevice, "*");
      if (isJsonObject(wildcard)) for (const d of known) targets.set(d, wildcard);
      for (const [deviceId, content] of Object.entries(byDevice)) {
        if (deviceId !== "*" && known.has(deviceId)) targets.set(deviceId, content as JsonObject);
      }
      for (const [deviceId, content] of targets) {
        rows.push({ user_id: userId, device_id: deviceId, sender: sender.userId, type: eventType, content: JSON.stringify(content) });
      }
    }
    const now = this.clock.now();
    if (now - this.lastPrune >= PRUNE_EVERY_MS) {
      this.lastPrune = now;
      await this.repo.pruneTxns(now - TXN_RETENTION_MS);
    }
    const txn = { userId: sender.userId, deviceId: sender.deviceId ?? "", eventType, txnId };
    const pos = await this.writer.run(() => this.repo.insert(rows, txn, now));
    if (pos !== null && rows.length > 0) {
      this.notifier.notify("to_device", pos, { userIds: [...new Set(rows.map((r) => r.user_id))] });
    }
  }

  /** Reader for /sync: pending messages of one device in (sincePos, uptoPos], oldest first. */
  async getToDeviceMessages(userId: string, deviceId: string, sincePos: number, uptoPos: number, limit = 100): Promise<ToDeviceBatch> {
    const upto = Math.min(uptoPos, this.writer.current);
    const rows = await this.repo.list(userId, deviceId, sincePos, upto, limit);
    const events = rows.map((r) => ({ sender: r.sender, type: r.type, content: JSON.parse(r.content) as JsonObject }));
    const position = rows.length >= limit && rows.length > 0 ? rows[rows.length - 1]!.stream_pos : Math.max(upto, sincePos);
    return { events, position };
  }

  /** Acknowledgement: the client synced with a token at `pos`, so everything up to it was delivered. */
  async deleteToDeviceUpTo(userId: string, deviceId: string, pos: number): Promise<number> {
    return this.repo.deleteUpTo(userId, deviceId, pos);
  }

  /** Called when devices are deleted: their inboxes go. */
  async onDevicesDeleted(userId: string, deviceIds: readonly string[]): Promise<void> {
    await this.repo.deleteDevices(userId, deviceIds);
  }

}
