import type { ChangeKeys, Notifier } from "../sync/notifier.js";
import type { StreamName } from "../sync/tokens.js";
import { chunks, type ClusterBus } from "./bus.js";

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
      const stream = m.s as StreamName;
      const position = m.p as number;
      for (const fn of this.heads.get(stream) ?? []) fn(position);
      const keys: ChangeKeys = { userIds: m.u as string[], roomIds: m.r as string[] };
      this.replaying = true;
      try {
        this.notifier.notify(stream, position, keys);
      } finally {
        this.replaying = false;
      }
    });
  }

  /** Streams whose head lives outside the notifier (to-device, device lists) follow the others' positions through `fn`. */
  onRemotePosition(stream: StreamName, fn: (position: number) => void): void {
    let list = this.heads.get(stream);
    if (!list) this.heads.set(stream, (list = []));
    list.push(fn);
  }
}
