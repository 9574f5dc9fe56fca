import { getOwn, isJsonObject, type JsonObject } from "../core/index.js";
import { forbidden, MatrixError } from "../http/errors.js";
import type { RoomStateRepo } from "../storage/room-state-repo.js";
import type { EventStore, LoadedEvent } from "./event-store.js";
import type { RoomSummaries } from "./room-summary.js";

export interface SpaceHierarchyDeps {
  state: RoomStateRepo;
  store: EventStore;
  summaries: RoomSummaries;
}

export interface HierarchyQuery {
  suggestedOnly: boolean;
  limit?: number;
  maxDepth?: number;
  from?: string;
}

const DEFAULT_LIMIT = 50;
const MAX_LIMIT = 100;
const MAX_DEPTH = 10;
/** Bounds the walk of one request, however the space is shaped. */
const MAX_ROOMS = 1000;

/**
 * GET /_matrix/client/v1/rooms/{roomId}/hierarchy (client-server "Spaces"):
 * a depth-first walk over m.space.child events of local rooms, listing the
 * rooms the user may see (the room summary's rules), children in the spec's
 * order (`order`, then origin_server_ts, then room id). Rooms on other
 * servers need federation and are left out.
 */
export class SpaceHierarchy {
  constructor(private readonly d: SpaceHierarchyDeps) {}

  async hierarchy(userId: string, roomId: string, q: HierarchyQuery): Promise<JsonObject> {
    const limit = Math.min(q.limit ?? DEFAULT_LIMIT, MAX_LIMIT);
    const maxDepth = Math.min(q.maxDepth ?? MAX_DEPTH, MAX_DEPTH);
    let offset = 0;
    if (q.from !== undefined) {
      const m = /^h(\d{1,6})$/.exec(q.from);
      if (!m) throw new MatrixError(400, "M_INVALID_PARAM", "Unknown pagination token");
      offset = Number(m[1]);
    }
    if (!(await this.d.summaries.summarize(userId, roomId))) throw forbidden("You cannot view this space");

    const rooms: JsonObject[] = [];
    const seen = new Set<string>();
    const stack: Array<{ roomId: string; depth: number }> = [{ roomId, depth: 0 }];
    let more = false;
    while (stack.length) {
      const next = stack.pop()!;
      if (seen.has(next.roomId)) continue;
      seen.add(next.roomId);
      const summary = await this.d.summaries.summarize(userId, next.roomId);
      if (!summary) continue;
      const children = await this.children(next.roomId, q.suggestedOnly);
      if (rooms.length >= offset + limit || seen.size > MAX_ROOMS) {
        more = true;
        break;
      }
      rooms.push({ ...summary, children_state: children.map(strippedChild) });
      if (next.depth < maxDepth) {
        for (let i = children.length - 1; i >= 0; i--) stack.push({ roomId: children[i]!.row.stateKey!, depth: next.depth + 1 });
      }
    }
    const body: JsonObject = { rooms: rooms.slice(offset, offset + limit) };
    if (more) body.next_batch = `h${offset + limit}`;
    return body;
  }

  /**
   * GET /_matrix/federation/v1/hierarchy/{roomId} (server-server "Spaces"):
   * the space and its direct children, unpaginated. `summarize` answers for
   * the asking server (undefined: it could not peek or join). Children this
   * server knows nothing of are left out; known ones the asker cannot reach
   * are listed in `inaccessible_children`. Undefined when the space itself
   * is unknown or out of reach.
   */
  async forServer(
    roomId: string,
    suggestedOnly: boolean,
    summarize: (roomId: string) => Promise<JsonObject | undefined>,
    isKnown: (roomId: string) => Promise<boolean>,
  ): Promise<JsonObject | undefined> {
    const room = await summarize(roomId);
    if (!room) return undefined;
    const childEvents = await this.children(roomId, suggestedOnly);
    const children: JsonObject[] = [];
    const inaccessible: string[] = [];
    for (const c of childEvents.slice(0, MAX_ROOMS)) {
      const childId = c.row.stateKey!;
      if (childId === roomId || !(await isKnown(childId))) continue;
      const summary = await summarize(childId);
      if (!summary) {
        inaccessible.push(childId);
        continue;
      }
      const grandChildren = await this.children(childId, suggestedOnly);
      children.push({ ...summary, children_state: grandChildren.map(strippedChild) });
    }
    return { room: { ...room, children_state: childEvents.map(strippedChild) }, children, inaccessible_children: inaccessible };
  }

  /** Valid m.space.child events (a `via` list), in the spec's "Ordering of children". */
  private async children(roomId: string, suggestedOnly: boolean): Promise<LoadedEvent[]> {
    const rows = await this.d.state.currentStateEventIds([roomId], ["m.space.child"]);
    const events = await this.d.store.getEvents(rows.map((r) => r.eventId));
    const out: LoadedEvent[] = [];
    for (const r of rows) {
      const e = events.get(r.eventId);
      if (!e || !r.stateKey.startsWith("!")) continue;
      const via = getOwn(e.event.content, "via");
      if (!Array.isArray(via) || via.length === 0) continue;
      if (suggestedOnly && getOwn(e.event.content, "suggested") !== true) continue;
      out.push(e);
    }
    const order = (e: LoadedEvent): string | undefined => {
      const o = getOwn(e.event.content, "order");
      return typeof o === "string" && o.length <= 50 && /^[\x20-\x7E]*$/.test(o) ? o : undefined;
    };
    return out.sort((a, b) => {
      const oa = order(a);
      const ob = order(b);
      if (oa !== undefined && ob === undefined) return -1;
      if (oa === undefined && ob !== undefined) return 1;
      if (oa !== undefined && ob !== undefined && oa !== ob) return oa < ob ? -1 : 1;
      if (a.row.originServerTs !== b.row.originServerTs) return a.row.originServerTs - b.row.originServerTs;
      return a.row.stateKey! < b.row.stateKey! ? -1 : 1;
    });
  }
}

function strippedChild(e: LoadedEvent): JsonObject {
  return {
    type: e.row.type,
    state_key: e.row.stateKey ?? "",
    content: isJsonObject(e.event.content) ? e.event.content : {},
    sender: e.row.sender,
    origin_server_ts: e.row.originServerTs,
  };
}
