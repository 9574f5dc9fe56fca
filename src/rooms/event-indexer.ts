import { getOwn, isJsonObject, type JsonObject } from "../core/index.js";
import type { RelationsRepo } from "../storage/relations-repo.js";
import type { SearchRepo } from "../storage/search-repo.js";
import type { SqlQueryable } from "../storage/sql.js";

/** What the writer hands to the indexes for every event it persists. */
export interface IndexedEvent {
  eventId: string;
  roomId: string;
  type: string;
  stateKey: string | undefined;
  sender: string;
  depth: number;
  streamOrdering: number;
  originServerTs: number;
  content: JsonObject;
  /** Whether the room's current state moved with this event (a state event, or a resolution of forks). */
  currentStateChanged?: boolean;
}

/** Secondary indexes the writer keeps in step with the DAG, inside its transaction. */
export interface EventIndexer {
  onPersist(tx: SqlQueryable, e: IndexedEvent): Promise<void>;
  /** A redaction of `eventId` was applied. */
  onRedacted(tx: SqlQueryable, eventId: string): Promise<void>;
}

export interface Relation {
  relType: string;
  eventId: string;
  key?: string;
}

/** The cleartext `m.relates_to` with a `rel_type` (client-server "Forming relationships between events"). */
export function relationOf(content: JsonObject): Relation | undefined {
  const rel = getOwn(content, "m.relates_to");
  if (!isJsonObject(rel)) return undefined;
  const relType = getOwn(rel, "rel_type");
  const eventId = getOwn(rel, "event_id");
  if (typeof relType !== "string" || typeof eventId !== "string" || relType === "" || !eventId.startsWith("$")) return undefined;
  const key = getOwn(rel, "key");
  if (relType === "m.annotation" && typeof key !== "string") return undefined;
  return typeof key === "string" ? { relType, eventId, key } : { relType, eventId };
}

/** Several indexes behind one hook. */
export class IndexerChain implements EventIndexer {
  constructor(private readonly parts: EventIndexer[]) {}

  /**
   * The indexes are independent of each other: their statements are issued
   * together, so PostgreSQL receives them pipelined in one round trip (PGlite
   * runs them one after another on its single session).
   */
  async onPersist(tx: SqlQueryable, e: IndexedEvent): Promise<void> {
    await Promise.all(this.parts.map((p) => p.onPersist(tx, e)));
  }

  async onRedacted(tx: SqlQueryable, eventId: string): Promise<void> {
    for (const p of this.parts) await p.onRedacted(tx, eventId);
  }
}

/** Keeps `event_relations` current: a row per related event, dropped once the child is redacted. */
export class RelationsIndexer implements EventIndexer {
  constructor(private readonly repo: RelationsRepo) {}

  async onPersist(tx: SqlQueryable, e: IndexedEvent): Promise<void> {
    const rel = relationOf(e.content);
    if (!rel || rel.eventId === e.eventId) return;
    await this.repo.insert(tx, {
      eventId: e.eventId,
      relatesToId: rel.eventId,
      relType: rel.relType,
      roomId: e.roomId,
      type: e.type,
      sender: e.sender,
      aggregationKey: rel.key ?? null,
      depth: e.depth,
      streamOrdering: e.streamOrdering,
      originServerTs: e.originServerTs,
    });
  }

  onRedacted(tx: SqlQueryable, eventId: string): Promise<void> {
    return this.repo.delete(tx, eventId);
  }
}

/** Which field of which event type is searchable (client-server "Server Side Search" `keys`). */
const SEARCHABLE: Record<string, { key: string; field: string }> = {
  "m.room.message": { key: "content.body", field: "body" },
  "m.room.name": { key: "content.name", field: "name" },
  "m.room.topic": { key: "content.topic", field: "topic" },
};

/** Keeps the full-text index (`event_search`) current; redacted events leave it. */
export class SearchIndexer implements EventIndexer {
  constructor(private readonly repo: SearchRepo) {}

  async onPersist(tx: SqlQueryable, e: IndexedEvent): Promise<void> {
    const s = SEARCHABLE[e.type];
    if (!s) return;
    // State events only when they are room state (state_key ""); messages only when not state.
    if ((e.type === "m.room.message") !== (e.stateKey === undefined)) return;
    if (e.stateKey !== undefined && e.stateKey !== "") return;
    const text = getOwn(e.content, s.field);
    if (typeof text !== "string" || text.trim() === "") return;
    await this.repo.insert(tx, {
      eventId: e.eventId,
      roomId: e.roomId,
      sender: e.sender,
      key: s.key,
      text,
      streamOrdering: e.streamOrdering,
      originServerTs: e.originServerTs,
    });
  }

  onRedacted(tx: SqlQueryable, eventId: string): Promise<void> {
    return this.repo.delete(tx, eventId);
  }
}
