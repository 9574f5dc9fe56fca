import { MatrixError } from "../http/errors.js";
import type { PresenceRepo, PresenceRow } from "../storage/presence-repo.js";
import type { Notifier } from "../sync/notifier.js";
import type { Clock } from "./typing.js";

export const PRESENCE_STATES = ["online", "unavailable", "offline"] as const;
export type PresenceState = (typeof PRESENCE_STATES)[number];

/** Who may see whose presence: users who share a room (narrow interface onto rooms). */
export interface PresenceAudience {
  usersSharingRoomWith(userId: string): Promise<string[]>;
}

export interface PresenceOptions {
  enabled: boolean;
  /** An online user inactive this long is shown as unavailable. */
  idleTimeoutMs: number;
}

/** The content of an m.presence event / GET /presence/{userId}/status. */
export interface PresenceContent {
  presence: PresenceState;
  last_active_ago?: number;
  currently_active?: boolean;
  status_msg?: string;
}

// Presence module: "currently_active" means active within the last minute or so.
const CURRENTLY_ACTIVE_MS = 60_000;
export const MAX_STATUS_MSG_LENGTH = 1024;

export class PresenceService {
  private readonly listeners: Array<(userId: string, content: PresenceContent) => void> = [];

  constructor(
    private readonly repo: PresenceRepo,
    private readonly audience: PresenceAudience,
    private readonly notifier: Notifier,
    private readonly opts: PresenceOptions,
    private readonly clock: Clock = { now: () => Date.now() },
  ) {}

  get enabled(): boolean {
    return this.opts.enabled;
  }

  async setPresence(userId: string, state: PresenceState, statusMsg?: string | null): Promise<void> {
    if (statusMsg && statusMsg.length > MAX_STATUS_MSG_LENGTH) {
      throw new MatrixError(400, "M_INVALID_PARAM", `status_msg is longer than ${MAX_STATUS_MSG_LENGTH} characters`);
    }
    if (!this.opts.enabled) return;
    const previous = await this.repo.get(userId);
    const now = this.clock.now();
    const status = statusMsg === undefined ? (previous?.status_msg ?? null) : statusMsg;
    const lastActive = state === "online" ? now : (previous?.last_active_ts ?? now);
    await this.publish({ user_id: userId, state, status_msg: status, last_active_ts: lastActive });
  }

  /**
   * Called on each /sync with its `set_presence` (default online): marks the
   * user active. Writes only when something others see would change, so a busy
   * sync loop does not flood the stream.
   */
  async touch(userId: string, state: PresenceState = "online"): Promise<void> {
    if (!this.opts.enabled) return;
    const previous = await this.repo.get(userId);
    const now = this.clock.now();
    if (state === "offline") {
      if (previous && previous.state !== "offline") return; // set_presence=offline: do not mark active
      if (!previous) return;
    }
    if (previous && previous.state === state && now - previous.last_active_ts < CURRENTLY_ACTIVE_MS / 2) return;
    await this.publish({
      user_id: userId,
      state,
      status_msg: previous?.status_msg ?? null,
      last_active_ts: state === "online" ? now : (previous?.last_active_ts ?? now),
    });
  }

  /** GET /presence/{userId}/status. */
  async getPresence(viewerId: string, userId: string): Promise<PresenceContent> {
    if (viewerId !== userId) {
      const shared = await this.audience.usersSharingRoomWith(viewerId);
      if (!shared.includes(userId)) throw new MatrixError(403, "M_FORBIDDEN", "You are not allowed to see their presence");
    }
    const row = this.opts.enabled ? await this.repo.get(userId) : undefined;
    if (!row) return { presence: "offline" };
    return this.content(row);
  }

  currentPosition(): Promise<number> {
    return this.repo.currentPosition();
  }

  /** m.presence events for /sync: users sharing a room with the viewer (and the viewer) changed in (since, upto]. */
  async forSync(viewerId: string, since: number, upto: number): Promise<Array<{ type: "m.presence"; sender: string; content: PresenceContent }>> {
    if (!this.opts.enabled) return [];
    const users = new Set(await this.audience.usersSharingRoomWith(viewerId));
    users.add(viewerId);
    const rows = await this.repo.changedFor([...users], since, upto);
    return rows.map((row) => ({ type: "m.presence", sender: row.user_id, content: this.content(row) }));
  }

  /**
   * The current presence of `userIds` as of stream position `upto`, for users a
   * client starts sharing a room with; users never seen are offline.
   */
  async currentOf(userIds: readonly string[], upto: number): Promise<Array<{ type: "m.presence"; sender: string; content: PresenceContent }>> {
    if (!this.opts.enabled || userIds.length === 0) return [];
    const rows = new Map((await this.repo.changedFor(userIds, 0, upto)).map((r) => [r.user_id, r]));
    return userIds.map((u) => {
      const row = rows.get(u);
      return { type: "m.presence" as const, sender: u, content: row ? this.content(row) : { presence: "offline" as const } };
    });
  }

  /**
   * m.presence events of every user changed in (since, upto], at most `limit`,
   * with the position of the last one (appservice "Pushing ephemeral data").
   */
  async changedSince(since: number, upto: number, limit: number): Promise<{ events: Array<{ type: "m.presence"; sender: string; content: PresenceContent }>; last: number | undefined }> {
    if (!this.opts.enabled || upto <= since) return { events: [], last: undefined };
    const rows = await this.repo.changedAll(since, upto, limit);
    return {
      events: rows.map((row) => ({ type: "m.presence" as const, sender: row.user_id, content: this.content(row) })),
      last: rows.length ? Number(rows[rows.length - 1]!.stream_id) : undefined,
    };
  }

  /** Called after each stored presence change (federation sends local users' on as m.presence). */
  onPublished(fn: (userId: string, content: PresenceContent) => void): void {
    this.listeners.push(fn);
  }

  /**
   * A presence update received over federation (one entry of m.presence's
   * `push`). `last_active_ago` is relative to when the sender sent it.
   */
  async receiveRemote(userId: string, state: PresenceState, statusMsg: string | null, lastActiveAgo: number): Promise<void> {
    if (!this.opts.enabled) return;
    const msg = statusMsg === null ? null : statusMsg.slice(0, MAX_STATUS_MSG_LENGTH);
    await this.publish({ user_id: userId, state, status_msg: msg, last_active_ts: this.clock.now() - Math.max(0, lastActiveAgo) });
  }

  private async publish(row: Omit<PresenceRow, "stream_id">): Promise<void> {
    const position = await this.repo.upsert(row);
    const audience = await this.audience.usersSharingRoomWith(row.user_id);
    this.notifier.notify("presence", position, { userIds: [row.user_id, ...audience] });
    if (this.listeners.length > 0) {
      const content = this.content({ ...row, stream_id: position });
      for (const fn of this.listeners) fn(row.user_id, content);
    }
  }

  private content(row: PresenceRow): PresenceContent {
    const ago = Math.max(0, this.clock.now() - row.last_active_ts);
    let state = row.state as PresenceState;
    if (state === "online" && ago > this.opts.idleTimeoutMs) state = "unavailable";
    const out: PresenceContent = { presence: state, last_active_ago: ago };
    if (state === "online") out.currently_active = ago < CURRENTLY_ACTIVE_MS;
    if (row.status_msg) out.status_msg = row.status_msg;
    return out;
  }
}
