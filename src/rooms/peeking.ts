import type { JsonObject } from "../core/index.js";
import type { EventsRepo } from "../storage/events-repo.js";
import type { EventFormatter, Viewer } from "./client-format.js";
import type { RoomEventBus } from "./event-bus.js";
import type { EventStore } from "./event-store.js";
import type { RoomReader } from "./room-reader.js";
import type { PositionTracker } from "./stream-positions.js";
import { formatTopoToken, parseHistoryToken } from "./tokens.js";
import type { HistoryVisibility } from "./visibility.js";

export interface PeekingDeps {
  reader: RoomReader;
  events: EventsRepo;
  store: EventStore;
  visibility: HistoryVisibility;
  formatter: EventFormatter;
  positions: PositionTracker;
  bus: RoomEventBus;
}

const MAX_TIMEOUT_MS = 60_000;
const LIMIT = 100;

/**
 * GET /events?room_id= (client-server "Room Previews", deprecated but what
 * clients use to follow a world-readable room they peek into): new events
 * after `from`, waiting up to `timeout` ms for the first one.
 */
export class RoomPeeking {
  constructor(private readonly d: PeekingDeps) {}

  async events(viewer: Viewer, roomId: string, from: string | undefined, timeoutMs: number): Promise<JsonObject> {
    await this.d.reader.requireHistoryAccess(viewer.userId, roomId);
    let after: number;
    if (from === undefined) {
      after = this.d.positions.persistedUpTo;
    } else {
      const t = parseHistoryToken(from, "from");
      after = t.kind === "topo" ? t.key.stream : t.stream;
    }
    const start = from ?? formatTopoToken({ depth: 0, stream: after });
    let chunk = await this.read(viewer, roomId, after);
    if (chunk.events.length === 0 && chunk.last === undefined && timeoutMs > 0) {
      await this.waitForRoom(roomId, Math.min(timeoutMs, MAX_TIMEOUT_MS));
      chunk = await this.read(viewer, roomId, after);
    }
    const end = chunk.last ? formatTopoToken(chunk.last) : start;
    return { start, end, chunk: await this.d.formatter.format(chunk.events, viewer) };
  }

  /** Visible events after `after`; `last` is the key of the last event read (visible or not). */
  private async read(viewer: Viewer, roomId: string, after: number) {
    const rows = await this.d.events.afterStream(roomId, after, this.d.positions.persistedUpTo, LIMIT);
    const rv = await this.d.store.roomVersion(roomId);
    const loaded = rows.map((r) => this.d.store.load(r, rv!));
    const events = await this.d.visibility.filter(viewer.userId, roomId, loaded);
    const lastRow = rows[rows.length - 1];
    return { events, last: lastRow ? { depth: lastRow.depth, stream: lastRow.streamOrdering } : undefined };
  }

  private waitForRoom(roomId: string, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        off();
        resolve();
      };
      const timer = setTimeout(done, ms);
      const off = this.d.bus.onPersisted((n) => {
        if (n.roomId === roomId) done();
      });
    });
  }
}
