/**
 * EDUs about local users, handed to the federation sender
 * (`FederationOutbound`) for the servers that should hear of them: typing
 * and read receipts go to the servers in the room; presence, device list and
 * signing key updates to the servers sharing a room with the user;
 * to-device messages to the recipients' servers. To-device, device list and
 * signing key updates are durable; the rest may be dropped when a server is
 * down ("EDUs" are not persistent by nature).
 */
import { createHash } from "node:crypto";
import type { JsonObject } from "../../core/index.js";
import type { DeviceListSnapshot } from "../../e2ee/device-keys.js";
import type { PresenceContent } from "../../ephemeral/presence.js";
import type { StoredReceipt } from "../../ephemeral/receipts.js";
import type { Logger } from "../../logging.js";
import type { DeviceListOutboundRepo } from "../../storage/device-list-outbound-repo.js";
import { serverOf, type Edu, type FederationOutbound } from "../outbound.js";

export interface EduSenderDeps {
  serverName: string;
  outbound: FederationOutbound;
  /** Servers with a joined member in the room (this server excluded). */
  roomServers(roomId: string): Promise<string[]>;
  /** Users who share a room with `userId`. */
  usersSharingRoomWith(userId: string): Promise<string[]>;
  /** A local user's devices, keys and signing keys as /user/devices answers them. */
  snapshot(userId: string): Promise<DeviceListSnapshot>;
  outboundRepo: Pick<DeviceListOutboundRepo, "streamId" | "state" | "save">;
  log: Logger;
}

function digest(value: unknown): string {
  return createHash("sha256").update(JSON.stringify(value)).digest("base64");
}

export class EduSender {
  /** Per user, the tail of the device list queue: one user's updates are numbered one after another. */
  private readonly deviceQueues = new Map<string, Promise<void>>();

  constructor(private readonly d: EduSenderDeps) {}

  private isLocal(userId: string): boolean {
    return serverOf(userId) === this.d.serverName;
  }

  private async send(destinations: readonly string[], edu: Edu, durable: boolean): Promise<void> {
    const to = destinations.filter((s) => s !== this.d.serverName);
    if (to.length === 0) return;
    await this.d.outbound.sendEdu(to, edu, durable ? { durable: true } : undefined);
  }

  private async sharingServers(userId: string): Promise<string[]> {
    const servers = new Set((await this.d.usersSharingRoomWith(userId)).map(serverOf));
    servers.delete(this.d.serverName);
    return [...servers].sort();
  }

  /** Logs instead of throwing: a failure to queue an ephemeral EDU must not fail the local request. */
  private detach(what: string, p: Promise<void>): void {
    p.catch((err: unknown) => this.d.log.warn({ err: (err as Error).message }, `queueing ${what} for federation failed`));
  }

  /** "Typing Notifications": m.typing to the servers in the room. */
  typingChanged(roomId: string, userId: string, typing: boolean): void {
    if (!this.isLocal(userId)) return;
    this.detach(
      "m.typing",
      (async () => this.send(await this.d.roomServers(roomId), { edu_type: "m.typing", content: { room_id: roomId, user_id: userId, typing } }, false))(),
    );
  }

  /** "Receipts": a public read receipt (threaded ones with their thread_id) to the servers in the room. */
  receiptStored(r: StoredReceipt): void {
    if (!this.isLocal(r.userId)) return;
    const data: JsonObject = { ts: r.ts };
    if (r.threadId !== undefined) data.thread_id = r.threadId;
    const content: JsonObject = { [r.roomId]: { "m.read": { [r.userId]: { event_ids: [r.eventId], data } } } };
    this.detach("m.receipt", (async () => this.send(await this.d.roomServers(r.roomId), { edu_type: "m.receipt", content }, false))());
  }

  /** "Presence": to the servers sharing a room with the user. */
  presenceChanged(userId: string, p: PresenceContent): void {
    if (!this.isLocal(userId)) return;
    const entry: JsonObject = { user_id: userId, presence: p.presence, last_active_ago: p.last_active_ago ?? 0 };
    if (p.currently_active !== undefined) entry.currently_active = p.currently_active;
    if (p.status_msg !== undefined) entry.status_msg = p.status_msg;
    this.detach("m.presence", (async () => this.send(await this.sharingServers(userId), { edu_type: "m.presence", content: { push: [entry] } }, false))());
  }

  /** "Send-to-device messaging": one durable m.direct_to_device per recipient server. */
  async toDevice(
    sender: string,
    eventType: string,
    messageId: string,
    byServer: ReadonlyMap<string, Record<string, Record<string, JsonObject>>>,
  ): Promise<void> {
    for (const [server, messages] of byServer) {
      await this.send([server], { edu_type: "m.direct_to_device", content: { sender, type: eventType, message_id: messageId, messages } }, true);
    }
  }

  /** The stream_id /user/devices answers: that of the last m.device_list_update sent for the user. */
  deviceListStreamId(userId: string): Promise<number> {
    return this.d.outboundRepo.streamId(userId);
  }

  /**
   * "Device Management": a local user's devices or keys changed. Compares
   * the user's devices with what was last sent, and sends one durable
   * m.device_list_update per device that differs (numbered in sequence,
   * each naming the previous in `prev_id`), and an m.signing_key_update when
   * the master or self-signing key changed.
   */
  deviceListChanged(userId: string): void {
    if (!this.isLocal(userId)) return;
    const tail = this.deviceQueues.get(userId) ?? Promise.resolve();
    const run = tail.then(() => this.sendDeviceChanges(userId));
    const settled = run.catch((err: unknown) => this.d.log.warn({ user_id: userId, err: (err as Error).message }, "sending device list updates failed"));
    this.deviceQueues.set(userId, settled);
    void settled.then(() => {
      if (this.deviceQueues.get(userId) === settled) this.deviceQueues.delete(userId);
    });
  }

  /** Resolves when the device list updates queued so far for `userId` are handed over. */
  async flushDeviceList(userId: string): Promise<void> {
    await this.deviceQueues.get(userId);
  }

  private async sendDeviceChanges(userId: string): Promise<void> {
    const [state, snap] = await Promise.all([this.d.outboundRepo.state(userId), this.d.snapshot(userId)]);
    const edus: Edu[] = [];
    const digests = new Map<string, string | null>();
    let streamId = state.streamId;
    const next = (content: JsonObject): void => {
      const prev = streamId;
      streamId += 1;
      edus.push({ edu_type: "m.device_list_update", content: { user_id: userId, ...content, stream_id: streamId, prev_id: prev > 0 ? [prev] : [] } });
    };
    const current = new Set<string>();
    for (const dev of snap.devices) {
      current.add(dev.device_id);
      const dg = digest(dev);
      if (state.devices.get(dev.device_id) === dg) continue;
      digests.set(dev.device_id, dg);
      next({ ...dev });
    }
    for (const deviceId of state.devices.keys()) {
      if (current.has(deviceId)) continue;
      digests.set(deviceId, null);
      next({ device_id: deviceId, deleted: true });
    }
    const signing = { master_key: snap.master_key ?? null, self_signing_key: snap.self_signing_key ?? null };
    const signingDigest = snap.master_key || snap.self_signing_key ? digest(signing) : null;
    const signingChanged = signingDigest !== null && signingDigest !== state.signingDigest;
    if (edus.length === 0 && !signingChanged) return;
    // Numbered and recorded first: if queueing fails, the next update's prev_id names the lost one and the receiver resyncs.
    await this.d.outboundRepo.save(userId, streamId, signingDigest, digests);
    const destinations = await this.sharingServers(userId);
    if (destinations.length === 0) return;
    if (signingChanged) {
      const content: JsonObject = { user_id: userId };
      if (snap.master_key) content.master_key = snap.master_key;
      if (snap.self_signing_key) content.self_signing_key = snap.self_signing_key;
      await this.send(destinations, { edu_type: "m.signing_key_update", content }, true);
    }
    for (const edu of edus) await this.send(destinations, edu, true);
  }
}
