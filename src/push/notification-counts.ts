import { MAIN_THREAD, type CounterRow } from "../storage/push-actions-repo.js";

export interface UnreadCounts {
  notification_count: number;
  highlight_count: number;
}

export interface RoomUnreadCounts extends UnreadCounts {
  /** Per thread root, when asked for (`unread_thread_notifications`); the room's counts are then the main timeline's. */
  threads?: Record<string, UnreadCounts>;
}

/**
 * Unread notification counts for /sync ("Receiving notifications"): derived
 * from the numbered verdicts and the read marks, so a sync costs a few index
 * reads per room and thread whatever the room's backlog. With
 * `unread_thread_notifications` ("Threaded read receipts"), counts are
 * partitioned per thread, the main timeline being its own thread.
 */
export class NotificationCounter {
  constructor(private readonly repo: { counters(userId: string, roomIds: readonly string[]): Promise<CounterRow[]> }) {}

  async counts(
    userId: string,
    roomIds: readonly string[],
    _uptoEvents?: number,
    _rulesAt?: number,
    opts: { threads?: boolean } = {},
  ): Promise<Map<string, RoomUnreadCounts>> {
    const out = new Map<string, RoomUnreadCounts>();
    for (const roomId of roomIds)
      out.set(roomId, opts.threads ? { notification_count: 0, highlight_count: 0, threads: {} } : { notification_count: 0, highlight_count: 0 });
    for (const c of await this.repo.counters(userId, roomIds)) {
      const room = out.get(c.roomId);
      if (!room) continue;
      if (opts.threads && c.threadId !== MAIN_THREAD) {
        if (c.notificationCount > 0 || c.highlightCount > 0)
          room.threads![c.threadId] = { notification_count: c.notificationCount, highlight_count: c.highlightCount };
        continue;
      }
      room.notification_count += c.notificationCount;
      room.highlight_count += c.highlightCount;
    }
    return out;
  }
}
