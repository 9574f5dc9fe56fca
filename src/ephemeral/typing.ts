import type { Notifier } from "../sync/notifier.js";

export interface Clock {
  now(): number;
}

/** The m.typing EDU content for one room: the full list of who is typing. */
export interface TypingContent {
  user_ids: string[];
}

// Typing notifications module: a client's `timeout` is honoured but capped, so
// a client that crashes mid-sentence does not appear to type for an hour.
export const MAX_TYPING_TIMEOUT_MS = 120_000;
export const DEFAULT_TYPING_TIMEOUT_MS = 30_000;

/** One change as the processes of a cluster share it (see `TypingService.setShared`). */
export interface SharedTypingChange {
  roomId: string;
  userId: string;
  typing: boolean;
  /** Expiry of a start; for a stop from a timer, the expiry it ends (a newer start wins). */
  until: number;
}

interface RoomTyping {
  /** user id -> expiry (ms since epoch) */
  users: Map<string, number>;
  /** typing stream position of the room's last change */
  position: number;
}

/**
 * Who is typing where. Held in memory only (typing is ephemeral by design). A
 * /sync token ahead of the current position (clock stepped back between runs)
 * is read as "from 0": the client gets every room's full current list.
 */
export class TypingService {
  private readonly rooms = new Map<string, RoomTyping>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private position: number;
  private readonly listeners: Array<(roomId: string, userId: string, typing: boolean) => void> = [];
  private share: ((c: SharedTypingChange) => void) | undefined;

  constructor(
    private readonly notifier: Notifier,
    private readonly clock: Clock = { now: () => Date.now() },
  ) {
    // Starting from the clock keeps positions increasing across restarts, so a
    // client's token from the previous run stays behind the new positions.
    this.position = clock.now();
  }

  get currentPosition(): number {
    return this.position;
  }

  /**
   * Called on each typing notification (refreshes included, so other servers
   * keep showing a long typist) and when a typist stops or times out.
   */
  onChange(fn: (roomId: string, userId: string, typing: boolean) => void): void {
    this.listeners.push(fn);
  }

  /**
   * Scale-out: changes go to `send`, which delivers them to every process of
   * the cluster (this one too) in one order with cluster-wide positions; each
   * process applies them through `applyShared`. Positions then start from `position`.
   */
  setShared(send: (c: SharedTypingChange) => void, position: number): void {
    this.share = send;
    this.position = position;
  }

  /** A change from the cluster, at its cluster-wide `position`. */
  applyShared(c: SharedTypingChange, position: number): void {
    const room = this.room(c.roomId);
    const key = `${c.roomId}\u0000${c.userId}`;
    const had = room.users.get(c.userId);
    // Every process moves to every position, changes or not, so tokens compare alike everywhere.
    if (position > this.position) this.position = position;
    if (c.typing) {
      clearTimeout(this.timers.get(key));
      room.users.set(c.userId, c.until);
      const timer = setTimeout(() => this.expire(c.roomId, c.userId), Math.max(0, c.until - this.clock.now()));
      timer.unref();
      this.timers.set(key, timer);
      if (had !== undefined) return;
    } else {
      // A stop from a timer ends only the start it timed.
      if (had === undefined || (c.until !== 0 && had !== c.until)) return;
      clearTimeout(this.timers.get(key));
      this.timers.delete(key);
      room.users.delete(c.userId);
    }
    room.position = position;
    this.notifier.notify("typing", room.position, { roomIds: [c.roomId] });
  }

  setTyping(roomId: string, userId: string, typing: boolean, timeoutMs = DEFAULT_TYPING_TIMEOUT_MS): void {
    if (this.share) {
      const ms = Math.min(Math.max(timeoutMs, 0), MAX_TYPING_TIMEOUT_MS);
      // Other servers hear of it from the process that was told.
      this.emit(roomId, userId, typing);
      this.share({ roomId, userId, typing, until: typing ? this.clock.now() + ms : 0 });
      return;
    }
    const room = this.room(roomId);
    const key = `${roomId}\u0000${userId}`;
    clearTimeout(this.timers.get(key));
    this.timers.delete(key);
    const wasTyping = room.users.has(userId);
    if (typing) {
      const ms = Math.min(Math.max(timeoutMs, 0), MAX_TYPING_TIMEOUT_MS);
      room.users.set(userId, this.clock.now() + ms);
      const timer = setTimeout(() => this.expire(roomId, userId), ms);
      timer.unref();
      this.timers.set(key, timer);
      this.emit(roomId, userId, true);
      if (wasTyping) return; // a refresh changes nothing local clients can see
    } else {
      if (!wasTyping) return;
      room.users.delete(userId);
      this.emit(roomId, userId, false);
    }
    this.bump(roomId, room);
  }

  /** Rooms among `roomIds` whose typing list changed after `since`, with their current lists. */
  changesSince(roomIds: Iterable<string>, since: number): Map<string, TypingContent> {
    const effectiveSince = since > this.position ? 0 : since;
    const out = new Map<string, TypingContent>();
    for (const roomId of roomIds) {
      const room = this.rooms.get(roomId);
      if (!room || room.position <= effectiveSince) continue;
      out.set(roomId, { user_ids: this.live(room) });
    }
    return out;
  }

  /** Every room whose typing list changed after `since`, with its current list (appservice transactions). */
  allChangesSince(since: number): Map<string, TypingContent> {
    return this.changesSince(this.rooms.keys(), since);
  }

  /** Current typists of a room (initial sync). */
  typingIn(roomId: string): string[] {
    const room = this.rooms.get(roomId);
    return room ? this.live(room) : [];
  }

  close(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }

  private live(room: RoomTyping): string[] {
    const now = this.clock.now();
    return [...room.users].filter(([, until]) => until > now).map(([u]) => u).sort();
  }

  private expire(roomId: string, userId: string): void {
    this.timers.delete(`${roomId}\u0000${userId}`);
    const room = this.rooms.get(roomId);
    if (this.share) {
      // Every process times the start; the first stop through the cluster ends it, the rest are no-ops.
      const until = room?.users.get(userId);
      if (until !== undefined) this.share({ roomId, userId, typing: false, until });
      return;
    }
    if (!room?.users.delete(userId)) return;
    this.emit(roomId, userId, false);
    this.bump(roomId, room);
  }

  private emit(roomId: string, userId: string, typing: boolean): void {
    for (const fn of this.listeners) fn(roomId, userId, typing);
  }

  private bump(roomId: string, room: RoomTyping): void {
    room.position = ++this.position;
    this.notifier.notify("typing", room.position, { roomIds: [roomId] });
  }

  private room(roomId: string): RoomTyping {
    let room = this.rooms.get(roomId);
    if (!room) this.rooms.set(roomId, (room = { users: new Map(), position: 0 }));
    return room;
  }
}
