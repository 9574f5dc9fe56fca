import type { TopoKey } from "./events-repo.js";
import type { Sql, SqlQueryable } from "./sql.js";

/** One child event's relationship to its parent. */
export interface RelationRow {
  eventId: string;
  relatesToId: string;
  relType: string;
  roomId: string;
  type: string;
  sender: string;
  aggregationKey: string | null;
  depth: number;
  streamOrdering: number;
  originServerTs: number;
}

interface RawRelation extends Record<string, unknown> {
  event_id: string;
  relates_to_id: string;
  rel_type: string;
  room_id: string;
  type: string;
  sender: string;
  aggregation_key: string | null;
  depth: number;
  stream_ordering: number;
  origin_server_ts: number;
}

const COLUMNS = "event_id, relates_to_id, rel_type, room_id, type, sender, aggregation_key, depth, stream_ordering, origin_server_ts";

function toRow(r: RawRelation): RelationRow {
  return {
    eventId: r.event_id,
    relatesToId: r.relates_to_id,
    relType: r.rel_type,
    roomId: r.room_id,
    type: r.type,
    sender: r.sender,
    aggregationKey: r.aggregation_key,
    depth: Number(r.depth),
    streamOrdering: Number(r.stream_ordering),
    originServerTs: Number(r.origin_server_ts),
  };
}

export interface ThreadSummaryRow {
  rootId: string;
  count: number;
  participated: boolean;
  latestEventId: string;
}

export interface RelationsPageQuery {
  roomId: string;
  parentId: string;
  relType?: string;
  eventType?: string;
  dir: "b" | "f";
  /** Backward: rows at or before this key; forward: rows strictly after it. */
  from?: TopoKey;
  /** The page ends at this key (exclusive of rows beyond it). */
  to?: TopoKey;
  limit: number;
  maxStream: number;
  /** 1 = direct children only; more follows chains of relations. */
  levels: number;
}

/** Relationships between events (the `event_relations` table). */
export class RelationsRepo {
  constructor(private readonly sql: Sql) {}

  async insert(q: SqlQueryable, r: RelationRow): Promise<void> {
    await q.query(
      `INSERT INTO event_relations (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (event_id) DO NOTHING`,
      [r.eventId, r.relatesToId, r.relType, r.roomId, r.type, r.sender, r.aggregationKey, r.depth, r.streamOrdering, r.originServerTs],
    );
  }

  /** A redacted child breaks its relationship. */
  async delete(q: SqlQueryable, eventId: string): Promise<void> {
    await q.query("DELETE FROM event_relations WHERE event_id = $1", [eventId]);
  }

  async get(eventId: string, q: SqlQueryable = this.sql): Promise<RelationRow | undefined> {
    const rows = await q.query<RawRelation>(`SELECT ${COLUMNS} FROM event_relations WHERE event_id = $1`, [eventId]);
    return rows[0] ? toRow(rows[0]) : undefined;
  }

  /** An unredacted annotation of `parentId` by `sender` with this type and key (M_DUPLICATE_ANNOTATION). */
  async findAnnotation(q: SqlQueryable, parentId: string, sender: string, type: string, key: string): Promise<string | undefined> {
    const rows = await q.query<{ event_id: string }>(
      `SELECT event_id FROM event_relations
        WHERE relates_to_id = $1 AND rel_type = 'm.annotation' AND sender = $2 AND type = $3 AND aggregation_key = $4 LIMIT 1`,
      [parentId, sender, type, key],
    );
    return rows[0]?.event_id;
  }

  /** Which of the given events have children at all (one cheap query before building bundles). */
  async parentsWithChildren(parentIds: readonly string[], maxStream: number): Promise<Set<string>> {
    if (parentIds.length === 0) return new Set();
    const rows = await this.sql.query<{ id: string }>(
      `SELECT DISTINCT relates_to_id AS id FROM event_relations
        WHERE relates_to_id = ANY($1::text[]) AND rel_type <> 'm.annotation' AND stream_ordering <= $2`,
      [parentIds, maxStream],
    );
    return new Set(rows.map((r) => r.id));
  }

  /** Children of the given parents with the given relation types (for bundled aggregations). */
  async childrenOf(parentIds: readonly string[], relTypes: readonly string[], maxStream: number): Promise<RelationRow[]> {
    if (parentIds.length === 0) return [];
    const rows = await this.sql.query<RawRelation>(
      `SELECT ${COLUMNS} FROM event_relations
        WHERE relates_to_id = ANY($1::text[]) AND rel_type = ANY($2::text[]) AND stream_ordering <= $3
        ORDER BY depth, stream_ordering`,
      [parentIds, relTypes, maxStream],
    );
    return rows.map(toRow);
  }

  /** Per thread root: number of replies, whether `userId` replied, the latest reply (ignored senders left out). */
  async threadSummaries(rootIds: readonly string[], userId: string, ignored: readonly string[], maxStream: number): Promise<ThreadSummaryRow[]> {
    if (rootIds.length === 0) return [];
    const rows = await this.sql.query<{ root: string; n: number; participated: boolean; latest: string }>(
      `SELECT relates_to_id AS root, count(*)::int8 AS n, bool_or(sender = $2) AS participated,
              (array_agg(event_id ORDER BY depth DESC, stream_ordering DESC))[1] AS latest
         FROM event_relations
        WHERE relates_to_id = ANY($1::text[]) AND rel_type = 'm.thread' AND stream_ordering <= $4
          AND NOT (sender = ANY($3::text[]))
        GROUP BY relates_to_id`,
      [rootIds, userId, ignored, maxStream],
    );
    return rows.map((r) => ({ rootId: r.root, count: Number(r.n), participated: r.participated, latestEventId: r.latest }));
  }

  /**
   * A page of the children of `parentId` in topological order, following
   * chains of relations up to `levels` deep; the type filters apply to every
   * link of a chain (client-server "Relationships API").
   */
  async page(p: RelationsPageQuery): Promise<RelationRow[]> {
    const params: unknown[] = [p.parentId, p.roomId, p.relType ?? null, p.eventType ?? null, p.levels, p.maxStream, p.limit];
    const conds: string[] = [];
    const order = p.dir === "b" ? "DESC" : "ASC";
    if (p.from) {
      params.push(p.from.depth, p.from.stream);
      conds.push(p.dir === "b" ? `(r.depth, r.stream_ordering) <= ($8, $9)` : `(r.depth, r.stream_ordering) > ($8, $9)`);
    }
    if (p.to) {
      const i = params.length;
      params.push(p.to.depth, p.to.stream);
      conds.push(p.dir === "b" ? `(r.depth, r.stream_ordering) > ($${i + 1}, $${i + 2})` : `(r.depth, r.stream_ordering) <= ($${i + 1}, $${i + 2})`);
    }
    const filter = `room_id = $2 AND ($3::text IS NULL OR rel_type = $3) AND ($4::text IS NULL OR type = $4)`;
    const rows = await this.sql.query<RawRelation>(
      `WITH RECURSIVE chain(event_id, lvl) AS (
         SELECT event_id, 1 FROM event_relations WHERE relates_to_id = $1 AND ${filter}
         UNION
         SELECT c.event_id, chain.lvl + 1 FROM event_relations c JOIN chain ON c.relates_to_id = chain.event_id
          WHERE chain.lvl < $5 AND c.room_id = $2 AND ($3::text IS NULL OR c.rel_type = $3) AND ($4::text IS NULL OR c.type = $4)
       )
       SELECT ${COLUMNS.split(", ").map((c) => `r.${c}`).join(", ")} FROM event_relations r
        WHERE r.event_id IN (SELECT event_id FROM chain) AND r.stream_ordering <= $6 ${conds.map((c) => `AND ${c}`).join(" ")}
        ORDER BY r.depth ${order}, r.stream_ordering ${order} LIMIT $7`,
      params,
    );
    return rows.map(toRow);
  }

  /**
   * Thread roots of a room ordered by their latest reply (newest first), for
   * GET /threads. `before`: only threads whose latest reply is older than it.
   */
  async threadRoots(q: {
    roomId: string;
    maxStream: number;
    before?: number;
    participatedBy?: string;
    ignored: readonly string[];
    limit: number;
  }): Promise<{ rootId: string; latest: number }[]> {
    const rows = await this.sql.query<{ root: string; latest: number }>(
      `SELECT r.relates_to_id AS root, max(r.stream_ordering)::int8 AS latest
         FROM event_relations r JOIN events e ON e.event_id = r.relates_to_id AND e.room_id = $1
        WHERE r.room_id = $1 AND r.rel_type = 'm.thread' AND r.stream_ordering <= $2 AND NOT (r.sender = ANY($5::text[]))
        GROUP BY r.relates_to_id, e.sender
       HAVING ($3::int8 IS NULL OR max(r.stream_ordering) < $3)
          AND ($4::text IS NULL OR e.sender = $4 OR bool_or(r.sender = $4))
        ORDER BY latest DESC LIMIT $6`,
      [q.roomId, q.maxStream, q.before ?? null, q.participatedBy ?? null, q.ignored, q.limit],
    );
    return rows.map((r) => ({ rootId: r.root, latest: Number(r.latest) }));
  }
}
