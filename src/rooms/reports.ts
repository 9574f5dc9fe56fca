import { isValidUserId, serverNameOf } from "../core/index.js";
import { notFound } from "../http/errors.js";
import type { ContentReport, ReportsRepo } from "../storage/reports-repo.js";
import type { RoomStateRepo } from "../storage/room-state-repo.js";
import type { EventStore } from "./event-store.js";
import type { HistoryVisibility } from "./visibility.js";

export interface ReportsDeps {
  repo: ReportsRepo;
  store: EventStore;
  state: RoomStateRepo;
  visibility: HistoryVisibility;
  serverName: string;
  /** Whether a local user exists (accounts area). */
  userExists: (userId: string) => Promise<boolean>;
  now: () => number;
}

/**
 * Client-server "Reporting content": events (reporter joined, event visible),
 * rooms (v1.13, no membership needed) and users (v1.14). Reports are stored
 * for server admins; an unknown target is 404 M_NOT_FOUND.
 */
export class ContentReports {
  constructor(private readonly d: ReportsDeps) {}

  async reportEvent(reporter: string, roomId: string, eventId: string, reason: string | undefined): Promise<void> {
    const m = await this.d.state.membership(roomId, reporter);
    const e = await this.d.store.getEvent(eventId);
    // "The event was not found or you are not joined to the room where the event resides" (also when redacted).
    if (m?.membership !== "join" || !e || e.row.roomId !== roomId || e.row.redactedBy || !(await this.d.visibility.canSee(reporter, e))) {
      throw notFound("Event not found or you are not joined to its room");
    }
    await this.store("event", reporter, { roomId, eventId, reason });
  }

  async reportRoom(reporter: string, roomId: string, reason: string): Promise<void> {
    if (!(await this.d.store.roomVersion(roomId))) throw notFound("Room not found");
    await this.store("room", reporter, { roomId, reason });
  }

  async reportUser(reporter: string, userId: string, reason: string): Promise<void> {
    if (!isValidUserId(userId)) throw notFound("User not found");
    // Remote users cannot be checked without federation; they are accepted.
    if (serverNameOf(userId) === this.d.serverName && !(await this.d.userExists(userId))) throw notFound("User not found");
    await this.store("user", reporter, { targetUserId: userId, reason });
  }

  list(from: number, limit: number, filter: { dir?: "b" | "f"; roomId?: string; reporter?: string } = {}): Promise<{ reports: ContentReport[]; total: number }> {
    return this.d.repo.list(from, limit, filter);
  }

  get(id: number): Promise<ContentReport | undefined> {
    return this.d.repo.get(id);
  }

  delete(id: number): Promise<boolean> {
    return this.d.repo.delete(id);
  }

  private async store(kind: ContentReport["kind"], reporter: string, x: { roomId?: string; eventId?: string; targetUserId?: string; reason?: string }): Promise<void> {
    await this.d.repo.insert({
      kind,
      reporter,
      roomId: x.roomId ?? null,
      eventId: x.eventId ?? null,
      targetUserId: x.targetUserId ?? null,
      reason: x.reason ?? null,
      receivedTs: this.d.now(),
    });
  }
}
