import type { JsonObject } from "../core/json.js";
import { MatrixError } from "../http/errors.js";
import type { NotificationRow } from "../storage/push-actions-repo.js";

export interface NotificationsListDeps {
  repo: { notifications(userId: string, before: number | undefined, limit: number, onlyHighlight: boolean): Promise<NotificationRow[]> };
  /** Client-format events for the viewer (events that no longer exist are left out). */
  formatEvents(eventIds: readonly string[], viewer: { userId: string; deviceId: string | null }): Promise<Map<string, JsonObject>>;
}

export const DEFAULT_NOTIFICATIONS_LIMIT = 20;
export const MAX_NOTIFICATIONS_LIMIT = 100;

/**
 * GET /notifications ("Listing Notifications"): the events the user was
 * notified about, newest first, each with its actions and whether it is read.
 * The pagination token is the stream position of the last one returned.
 */
export class NotificationsList {
  constructor(private readonly d: NotificationsListDeps) {}

  async list(viewer: { userId: string; deviceId: string | null }, q: { from?: string; limit?: number; only?: string }): Promise<JsonObject> {
    let before: number | undefined;
    if (q.from !== undefined) {
      if (!/^[0-9]{1,15}$/.test(q.from)) throw new MatrixError(400, "M_INVALID_PARAM", "from is not a token of this endpoint");
      before = Number(q.from);
    }
    const limit = Math.min(Math.max(q.limit ?? DEFAULT_NOTIFICATIONS_LIMIT, 1), MAX_NOTIFICATIONS_LIMIT);
    const rows = await this.d.repo.notifications(viewer.userId, before, limit, q.only === "highlight");
    const events = await this.d.formatEvents(
      rows.map((r) => r.eventId),
      viewer,
    );
    const notifications: JsonObject[] = [];
    for (const r of rows) {
      const event = events.get(r.eventId);
      if (!event) continue;
      notifications.push({ actions: r.actions as JsonObject[], event, profile_tag: null, read: r.read, room_id: r.roomId, ts: r.ts });
    }
    const out: JsonObject = { notifications };
    // "If this is absent, there are no more results."
    if (rows.length === limit) out.next_token = String(rows[rows.length - 1]!.streamOrdering);
    return out;
  }
}
