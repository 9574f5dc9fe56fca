import { createHash } from "node:crypto";
import { getOwn, isJsonObject, isValidUserId, serverNameOf, type JsonObject, type JsonValue } from "../core/index.js";
import { MatrixError } from "../http/errors.js";
import type { ToDeviceRepo, ToDeviceRow } from "../storage/to-device-repo.js";
import type { Clock, DeviceDirectory, StreamNotifier } from "./deps.js";
import { Lru } from "../rooms/lru.js";
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

/**
 * Messages for other servers' users, grouped by server, handed to federation
 * as `m.direct_to_device` EDUs (durably queued before this resolves).
 */
export type RemoteToDeviceSender = (
  sender: string,
  eventType: string,
  messageId: string,
  byServer: ReadonlyMap<string, Record<string, Record<string, JsonObject>>>,
) => Promise<void>;

/** Transaction ids are kept this long: retransmissions come within minutes. */
export const TXN_RETENTION_MS = 24 * 60 * 60 * 1000;
const PRUNE_EVERY_MS = 60 * 60 * 1000;

/** "Send-to-Device messaging": store per device until acknowledged, in order, exactly once. */
export class ToDeviceService {
  /** Per device, the position its inbox was last emptied up to by this process. */
  private readonly acked = new Lru<string, number>(50_000);
  private lastPrune = 0;
  private remote: RemoteToDeviceSender | undefined;

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

  /** Scale-out: another process committed messages at `position`. */
  observeCommitted(position: number): void {
    this.writer.observe(position);
  }

  /** The highest position in storage, whoever wrote it (scale-out catch-up). */
  storedPosition(): Promise<number> {
    return this.repo.maxPosition();
  }

  /** Federation is wired after the e2ee area: messages for other servers' users then go out as EDUs. */
  setRemote(remote: RemoteToDeviceSender): void {
    this.remote = remote;
  }

  /**
   * PUT /sendToDevice/{eventType}/{txnId}. `*` means every device of the
   * user; a device named explicitly as well gets its explicit message only.
   * Unknown devices are skipped. Other servers' users get theirs through
   * federation ("Send-to-device messaging"), queued durably before the local
   * inboxes are written; the EDU's message_id is derived from the client's
   * transaction, so a retransmission is recognised by the receiving server too.
   */
  async send(sender: ToDeviceSender, eventType: string, txnId: string, messages: JsonValue): Promise<void> {
    if (!isJsonObject(messages)) throw new MatrixError(400, "M_BAD_JSON", "Invalid value for 'messages': must be an object");
    const local: Record<string, JsonObject> = {};
    const remote = new Map<string, Record<string, Record<string, JsonObject>>>();
    for (const [userId, byDevice] of Object.entries(messages)) {
      if (!isValidUserId(userId)) throw new MatrixError(400, "M_INVALID_PARAM", `'${userId.slice(0, 100)}' is not a user id`);
      if (!isJsonObject(byDevice)) throw new MatrixError(400, "M_BAD_JSON", `Invalid value for 'messages.${userId}': must be an object`);
      for (const [deviceId, content] of Object.entries(byDevice)) {
        if (!isJsonObject(content)) throw new MatrixError(400, "M_BAD_JSON", `Invalid value for 'messages.${userId}.${deviceId}': must be an object`);
      }
      const server = serverNameOf(userId)!;
      if (server === this.serverName) local[userId] = byDevice;
      else if (this.remote) {
        let forServer = remote.get(server);
        if (!forServer) remote.set(server, (forServer = {}));
        forServer[userId] = byDevice as Record<string, JsonObject>;
      }
    }
    if (this.remote && remote.size > 0) {
      const messageId = createHash("sha256")
        .update(JSON.stringify([sender.userId, sender.deviceId ?? "", eventType, txnId]))
        .digest("base64url")
        .slice(0, 32);
      await this.remote(sender.userId, eventType, messageId, remote);
    }
    const rows = await this.rowsFor(sender.userId, eventType, local);
    await this.store(rows, { userId: sender.userId, deviceId: sender.deviceId ?? "", eventType, txnId });
  }

  /**
   * An `m.direct_to_device` EDU from another server (its sender's server,
   * checked by the caller), for local users only. Exactly once per
   * `message_id`: the id is kept like a client's transaction id (scoped to
   * the remote sender, who has no local device), so a retried EDU is stored
   * once.
   */
  async receiveRemote(sender: string, eventType: string, messageId: string, messages: JsonObject): Promise<void> {
    const local: Record<string, JsonObject> = {};
    for (const [userId, byDevice] of Object.entries(messages)) {
      if (serverNameOf(userId) !== this.serverName || !isJsonObject(byDevice)) continue;
      const ok: JsonObject = {};
      for (const [deviceId, content] of Object.entries(byDevice)) if (isJsonObject(content)) ok[deviceId] = content;
      local[userId] = ok;
    }
    const rows = await this.rowsFor(sender, eventType, local);
    await this.store(rows, { userId: sender, deviceId: "", eventType, txnId: messageId });
  }

  private async rowsFor(sender: string, eventType: string, messages: Record<string, JsonObject>): Promise<ToDeviceRow[]> {
    const rows: ToDeviceRow[] = [];
    for (const [userId, byDevice] of Object.entries(messages)) {
      const known = new Set((await this.devices.listDevices(userId)).map((d) => d.deviceId));
      const targets = new Map<string, JsonObject>();
      const wildcard = getOwn(byDevice, "*");
      if (isJsonObject(wildcard)) for (const d of known) targets.set(d, wildcard);
      for (const [deviceId, content] of Object.entries(byDevice)) {
        if (deviceId !== "*" && known.has(deviceId)) targets.set(deviceId, content as JsonObject);
      }
      for (const [deviceId, content] of targets) {
        rows.push({ user_id: userId, device_id: deviceId, sender, type: eventType, content: JSON.stringify(content) });
      }
    }
    return rows;
  }

  private async store(rows: ToDeviceRow[], txn: { userId: string; deviceId: string; eventType: string; txnId: string }): Promise<void> {
    const now = this.clock.now();
    if (now - this.lastPrune >= PRUNE_EVERY_MS) {
      this.lastPrune = now;
      await this.repo.pruneTxns(now - TXN_RETENTION_MS);
    }
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
    // Each /sync acknowledges its token's position: once deleted up to it, nothing at or below it can
    // arrive later (a token only covers committed positions), so a sync with the same token skips the DELETE.
    const key = `${userId}\u0000${deviceId}`;
    if ((this.acked.get(key) ?? 0) >= pos) return 0;
    const n = await this.repo.deleteUpTo(userId, deviceId, pos);
    this.acked.set(key, pos);
    return n;
  }

  /** Called when devices are deleted: their inboxes go. */
  async onDevicesDeleted(userId: string, deviceIds: readonly string[]): Promise<void> {
    for (const d of deviceIds) this.acked.delete(`${userId}\u0000${d}`);
    await this.repo.deleteDevices(userId, deviceIds);
  }
}
