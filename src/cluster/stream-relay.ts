import type { ChangeKeys, Notifier } from "../sync/notifier.js";
import type { StreamName } from "../sync/tokens.js";
import { chunks, type ClusterBus } from "./bus.js";

/** How often the streams' heads are compared with storage. */
const CATCH_UP_MS = 10_000;

/**
 * The streams other than room events and typing, across the processes of a
 * cluster. Their writers already commit in position order cluster-wide (an
 * advisory lock around allocate-and-commit, src/storage/stream-writer.ts), so
 * hearing of position N means everything up to N is readable. Every local
 * announcement goes out; every one heard is announced here as if written here,
 * which moves the stream's head and wakes the waiting /sync requests.
 */
export class StreamRelay {
  private replaying = false;
  private readonly heads = new Map<StreamName, Array<(position: number) => void>>();
  private readonly stored = new Map<StreamName, { read: () => Promise<number>; head: () => number }>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly bus: ClusterBus,
    private readonly notifier: Notifier,
  ) {
    notifier.tap((stream, position, keys) => {
      if (this.replaying || stream === "events" || stream === "typing") return;
      const users = keys.userIds ?? [];
      const rooms = keys.roomIds ?? [];
      const parts =
        users.length + rooms.length > 50
          ? [...chunks(users, 200).map((u) => ({ u, r: [] as string[] })), ...chunks(rooms, 200).map((r) => ({ u: [] as string[], r }))]
          : [{ u: users, r: rooms }];
      for (const part of parts) void bus.publish("n", { s: stream, p: position, ...part });
    });
    bus.on("n", (m, fromSelf) => {
      if (fromSelf) return;
      this.heard(m.s as StreamName, m.p as number, { userIds: m.u as string[], roomIds: m.r as string[] });
    });
    // A notification is lost when its writer dies between commit and sending, or while
    // this process's listening connection is down: the heads then catch up from storage.
    bus.onReconnect(() => void this.catchUp());
    this.timer = setInterval(() => void this.catchUp(), CATCH_UP_MS);
    this.timer.unref();
  }

  /** Where a stream's committed head can be read from storage, for the catch-up; `head` is this process's. */
  follow(stream: StreamName, read: () => Promise<number>, head: () => number = () => this.notifier.head(stream)): void {
    this.stored.set(stream, { read, head });
  }

  close(): void {
    clearInterval(this.timer);
  }

  private heard(stream: StreamName, position: number, keys: ChangeKeys): void {
    for (const fn of this.heads.get(stream) ?? []) fn(position);
    this.replaying = true;
    try {
      this.notifier.notify(stream, position, keys);
    } finally {
      this.replaying = false;
    }
  }

  private async catchUp(): Promise<void> {
    for (const [stream, { read, head }] of this.stored) {
      try {
        const position = await read();
        // No keys: nobody is woken, but the next /sync reads up to it.
        if (position > head()) this.heard(stream, position, {});
      } catch {
        // The database is away: the next round tries again.
      }
    }
  }

  /** Streams whose head lives outside the notifier (to-device, device lists) follow the others' positions through `fn`. */
  onRemotePosition(stream: StreamName, fn: (position: number) => void): void {
    let list = this.heads.get(stream);
    if (!list) this.heads.set(stream, (list = []));
    list.push(fn);
  }
}
