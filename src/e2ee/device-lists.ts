import type { E2eeDeviceListsRepo } from "../storage/e2ee-device-lists-repo.js";
import type { RoomAudience, StreamNotifier } from "./deps.js";
import { StreamWriter } from "./stream-writer.js";

export interface DeviceListChanges {
  changed: string[];
  left: string[];
}

/**
 * The `device_lists` stream ("Tracking the device list for a user"): a
 * user's entry moves on a new or deleted device, a device key upload, a
 * device rename and a cross-signing change. Readers (/sync, /keys/changes)
 * see the users who share a room with them.
 */
export class DeviceListService {
  private readonly listeners: Array<(userId: string, opts: { selfOnly: boolean }) => void> = [];

  private constructor(
    private readonly repo: E2eeDeviceListsRepo,
    private readonly writer: StreamWriter,
    private readonly notifier: StreamNotifier,
    private readonly audience: RoomAudience,
  ) {}

  static async open(repo: E2eeDeviceListsRepo, notifier: StreamNotifier, audience: RoomAudience): Promise<DeviceListService> {
    return new DeviceListService(repo, new StreamWriter(await repo.maxPosition()), notifier, audience);
  }

  /** The highest committed position: the `device_lists` part of a new sync token. */
  currentPosition(): number {
    return this.writer.current;
  }

  /** Scale-out: another process committed a change at `position`. */
  observeCommitted(position: number): void {
    this.writer.observe(position);
  }

  /** The highest position in storage, whoever wrote it (scale-out catch-up). */
  storedPosition(): Promise<number> {
    return this.repo.maxPosition();
  }

  /**
   * Records that `userId`'s devices or keys changed and wakes everyone who tracks
   * them; with `selfOnly` (a change only the user may see) only the user.
   */
  async markChanged(userId: string, opts: { selfOnly?: boolean } = {}): Promise<number> {
    const pos = (await this.writer.run(() => this.repo.recordChange([userId], opts)))!;
    const watchers = new Set(opts.selfOnly ? [] : await this.audience.usersSharingRoomWith(userId));
    watchers.add(userId);
    this.notifier.notify("device_lists", pos, { userIds: [...watchers] });
    for (const fn of this.listeners) fn(userId, { selfOnly: opts.selfOnly === true });
    return pos;
  }

  /** Called after each committed change (federation tells other servers of local users' changes). */
  onChanged(fn: (userId: string, opts: { selfOnly: boolean }) => void): void {
    this.listeners.push(fn);
  }

  /**
   * For /sync's `device_lists` and /keys/changes: users who share a room with
   * `userId` (and the user themself) whose devices changed in (sincePos,
   * uptoPos]. `left` comes from membership changes, which the /sync work
   * derives from the room event stream; this stream alone never yields one.
   */
  async getDeviceListChanges(userId: string, sincePos: number, uptoPos: number): Promise<DeviceListChanges> {
    const upto = Math.min(uptoPos, this.writer.current);
    if (upto <= sincePos) return { changed: [], left: [] };
    const audience = new Set(await this.audience.usersSharingRoomWith(userId));
    audience.add(userId);
    return { changed: await this.repo.changedBetween([...audience], sincePos, upto, undefined, userId), left: [] };
  }
}
