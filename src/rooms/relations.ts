import { getOwn, isJsonObject, type JsonObject } from "../core/index.js";
import { MatrixError, notFound } from "../http/errors.js";
import type { EventsRepo, TopoKey } from "../storage/events-repo.js";
import { isServedToClients } from "../storage/events-repo.js";
import type { RelationRow, RelationsRepo } from "../storage/relations-repo.js";
import type { EventFormatter, Viewer } from "./client-format.js";
import { relationOf } from "./event-indexer.js";
import type { EventStore, LoadedEvent } from "./event-store.js";
import { noIgnoredUsers, type IgnoredUsers } from "./ignored-users.js";
import type { PositionTracker } from "./stream-positions.js";
import { formatTopoToken, gapBefore, parseHistoryToken } from "./tokens.js";
import type { HistoryVisibility } from "./visibility.js";

export interface RelationsDeps {
  repo: RelationsRepo;
  events: EventsRepo;
  store: EventStore;
  visibility: HistoryVisibility;
  formatter: EventFormatter;
  positions: PositionTracker;
  ignored?: IgnoredUsers;
  /** Who may list a room's threads (members, past members, world-readable rooms). */
  requireHistoryAccess: (userId: string, roomId: string) => Promise<void>;
}

export interface RelationsQuery {
  relType?: string;
  eventType?: string;
  from?: string;
  to?: string;
  dir: "b" | "f";
  limit?: number;
  recurse?: boolean;
}

/** "Homeservers SHOULD traverse at least 3 levels of relationships." */
export const RECURSION_DEPTH = 3;
const MAX_LIMIT = 100;
const DEFAULT_LIMIT = 20;
/** Bundles nest once (a thread's latest event carries its own edits), never deeper. */
const MAX_BUNDLE_DEPTH = 1;

/**
 * Relationships between events: the /relations and /threads endpoints and
 * the bundled aggregations (`unsigned["m.relations"]`) added to every
 * non-state event served to a client (client-server "Aggregations of child events").
 */
export class RoomRelations {
  private readonly ignored: IgnoredUsers;

  constructor(private readonly d: RelationsDeps) {
    this.ignored = d.ignored ?? noIgnoredUsers;
  }

  /**
   * Bundled aggregations for events about to be served to `viewer`: event id
   * -> the `m.relations` object (`m.thread`, `m.replace`, `m.reference`).
   * Annotations are not aggregated by the server (spec "Server-side
   * aggregation of m.annotation relationships"); ignored senders are left out.
   */
  async bundle(list: readonly LoadedEvent[], viewer: Viewer, depth = 0): Promise<Map<string, JsonObject>> {
    const out = new Map<string, JsonObject>();
    const parents = list.filter((e) => e.row.stateKey === null);
    if (parents.length === 0 || depth > MAX_BUNDLE_DEPTH) return out;
    const maxStream = this.d.positions.persistedUpTo;
    const withChildren = await this.d.repo.parentsWithChildren(
      parents.map((e) => e.row.eventId),
      maxStream,
    );
    if (withChildren.size === 0) return out;
    const ids = [...withChildren];
    const ignored = await this.ignored.ignoredBy(viewer.userId);
    const [children, threads] = await Promise.all([
      this.d.repo.childrenOf(ids, ["m.replace", "m.reference"], maxStream),
      this.d.repo.threadSummaries(ids, viewer.userId, [...ignored], maxStream),
    ]);
    if (children.length === 0 && threads.length === 0) return out;
    const byId = new Map(parents.map((e) => [e.row.eventId, e]));

    const wanted = new Set<string>();
    const edits = new Map<string, RelationRow[]>();
    const refs = new Map<string, RelationRow[]>();
    for (const c of children) {
      const parent = byId.get(c.relatesToId);
      if (!parent || parent.row.roomId !== c.roomId || ignored.has(c.sender)) continue;
      if (c.relType === "m.replace") {
        if (!replaceable(parent, c)) continue;
        push(edits, c.relatesToId, c);
        wanted.add(c.eventId);
      } else {
        push(refs, c.relatesToId, c);
        wanted.add(c.eventId);
      }
    }
    for (const t of threads) wanted.add(t.latestEventId);
    const loaded = await this.d.store.getEvents([...wanted]);
    const visible = new Set((await this.visibleTo(viewer.userId, [...loaded.values()])).map((e) => e.row.eventId));

    // m.replace: the most recent valid replacement (origin_server_ts, then the largest event id).
    const editEvents = new Map<string, LoadedEvent>();
    for (const [parentId, rows] of edits) {
      let best: LoadedEvent | undefined;
      for (const r of rows) {
        const e = loaded.get(r.eventId);
        if (!e || !visible.has(r.eventId) || !hasNewContent(e)) continue;
        if (!best || e.row.originServerTs > best.row.originServerTs || (e.row.originServerTs === best.row.originServerTs && e.row.eventId > best.row.eventId)) {
          best = e;
        }
      }
      if (best) editEvents.set(parentId, best);
    }
    const latest = threads.map((t) => loaded.get(t.latestEventId)).filter((e): e is LoadedEvent => !!e && visible.has(e.row.eventId));
    const formatted = await this.d.formatter.format([...editEvents.values(), ...latest], viewer, { depth: depth + 1 });
    const formattedById = new Map(formatted.map((f) => [f.event_id as string, f]));

    const rel = (id: string): JsonObject => {
      let r = out.get(id);
      if (!r) out.set(id, (r = {}));
      return r;
    };
    for (const [parentId, e] of editEvents) {
      const f = formattedById.get(e.row.eventId);
      if (f) rel(parentId)["m.replace"] = f;
    }
    for (const [parentId, rows] of refs) {
      const chunk = rows.filter((r) => visible.has(r.eventId)).map((r) => ({ event_id: r.eventId }));
      if (chunk.length) rel(parentId)["m.reference"] = { chunk };
    }
    for (const t of threads) {
      const f = formattedById.get(t.latestEventId);
      const root = byId.get(t.rootId);
      if (!f || !root) continue;
      rel(t.rootId)["m.thread"] = {
        latest_event: f,
        count: t.count,
        current_user_participated: t.participated || root.row.sender === viewer.userId,
      };
    }
    return out;
  }

  private async visibleTo(userId: string, events: readonly LoadedEvent[]): Promise<LoadedEvent[]> {
    const byRoom = new Map<string, LoadedEvent[]>();
    for (const e of events) push(byRoom, e.row.roomId, e);
    const out: LoadedEvent[] = [];
    for (const [roomId, list] of byRoom) out.push(...(await this.d.visibility.filter(userId, roomId, list)));
    return out;
  }

  /** The parent, when it is in the room and the viewer may see it; 404 otherwise (spec: do not reveal it). */
  private async visibleParent(viewer: Viewer, roomId: string, eventId: string): Promise<LoadedEvent> {
    const e = await this.d.store.getEvent(eventId);
    if (!e || e.row.roomId !== roomId || !isServedToClients(e.row) || e.row.streamOrdering > this.d.positions.persistedUpTo) throw notFound("Event not found");
    if (!(await this.d.visibility.canSee(viewer.userId, e))) throw notFound("Event not found");
    return e;
  }

  private async topo(roomId: string, token: string, param: string): Promise<TopoKey> {
    const t = parseHistoryToken(token, param);
    if (t.kind === "topo") return t.key;
    return (await this.d.events.topoAtStream(roomId, t.stream)) ?? { depth: 0, stream: 0 };
  }

  /** GET /rooms/{roomId}/relations/{eventId}[/{relType}[/{eventType}]]. */
  async relations(viewer: Viewer, roomId: string, eventId: string, q: RelationsQuery): Promise<JsonObject> {
    await this.visibleParent(viewer, roomId, eventId);
    const limit = Math.min(q.limit ?? DEFAULT_LIMIT, MAX_LIMIT);
    const from = q.from !== undefined ? await this.topo(roomId, q.from, "from") : undefined;
    const to = q.to !== undefined ? await this.topo(roomId, q.to, "to") : undefined;
    const rows =
      limit === 0
        ? []
        : await this.d.repo.page({
            roomId,
            parentId: eventId,
            relType: q.relType,
            eventType: q.eventType,
            dir: q.dir,
            from,
            to,
            limit,
            maxStream: this.d.positions.persistedUpTo,
            levels: q.recurse ? RECURSION_DEPTH : 1,
          });
    const ignored = await this.ignored.ignoredBy(viewer.userId);
    const loaded = await this.d.store.getEvents(rows.map((r) => r.eventId));
    const candidates = rows.map((r) => loaded.get(r.eventId)).filter((e): e is LoadedEvent => !!e && !ignored.has(e.row.sender));
    const kept = await this.d.visibility.filter(viewer.userId, roomId, candidates);
    const body: JsonObject = { chunk: await this.d.formatter.format(kept, viewer) };
    const last = rows[rows.length - 1];
    if (last && rows.length === limit) {
      const key = { depth: last.depth, stream: last.streamOrdering };
      body.next_batch = formatTopoToken(q.dir === "b" ? gapBefore(key) : key);
    }
    if (q.from !== undefined) body.prev_batch = q.from;
    if (q.recurse !== undefined) body.recursion_depth = q.recurse ? RECURSION_DEPTH : 1;
    return body;
  }

  /** GET /rooms/{roomId}/threads: thread roots ordered by their latest reply. */
  async threads(viewer: Viewer, roomId: string, q: { include: "all" | "participated"; limit?: number; from?: string }): Promise<JsonObject> {
    await this.d.requireHistoryAccess(viewer.userId, roomId);
    let before: number | undefined;
    if (q.from !== undefined) {
      if (!/^\d{1,15}$/.test(q.from)) throw new MatrixError(400, "M_INVALID_PARAM", "Unknown pagination token");
      before = Number(q.from);
    }
    const limit = Math.min(q.limit ?? DEFAULT_LIMIT, MAX_LIMIT);
    const ignored = await this.ignored.ignoredBy(viewer.userId);
    const rows = await this.d.repo.threadRoots({
      roomId,
      maxStream: this.d.positions.persistedUpTo,
      before,
      participatedBy: q.include === "participated" ? viewer.userId : undefined,
      ignored: [...ignored],
      limit,
    });
    const loaded = await this.d.store.getEvents(rows.map((r) => r.rootId));
    const roots = rows.map((r) => loaded.get(r.rootId)).filter((e): e is LoadedEvent => !!e);
    const visible = await this.d.visibility.filter(viewer.userId, roomId, roots);
    // "If the thread root event was sent by an ignored user, the event is returned redacted."
    const shown = visible.map((e) => (ignored.has(e.row.sender) && !e.row.redactedBy ? asRedacted(e) : e));
    const body: JsonObject = { chunk: await this.d.formatter.format(shown, viewer) };
    const last = rows[rows.length - 1];
    if (last && rows.length === limit) body.next_batch = String(last.latest);
    return body;
  }
}

function push<K, V>(m: Map<K, V[]>, k: K, v: V): void {
  const list = m.get(k);
  if (list) list.push(v);
  else m.set(k, [v]);
}

/** "Validity of replacement events": same sender and type, no state, the original is not itself an edit, not redacted. */
function replaceable(parent: LoadedEvent, edit: RelationRow): boolean {
  if (parent.row.redactedBy) return false;
  if (parent.row.sender !== edit.sender || parent.row.type !== edit.type || parent.row.stateKey !== null) return false;
  return relationOf(parent.event.content)?.relType !== "m.replace";
}

function hasNewContent(e: LoadedEvent): boolean {
  // Encrypted edits carry m.new_content inside the ciphertext.
  if (e.row.type === "m.room.encrypted") return true;
  return isJsonObject(getOwn(e.event.content, "m.new_content"));
}

function asRedacted(e: LoadedEvent): LoadedEvent {
  return { ...e, row: { ...e.row, redactedBy: "$ignored" } };
}
