import type { Sql, SqlQueryable } from "./sql.js";

/** The text search configuration (stemming, stop words) used for indexing and queries alike. */
const CONFIG = "english";

export interface SearchHit {
  eventId: string;
  roomId: string;
  rank: number;
  streamOrdering: number;
}

export interface SearchQuery {
  /** A tsquery built by `toPrefixQuery`. */
  tsquery: string;
  roomIds: readonly string[];
  keys: readonly string[];
  senders?: readonly string[];
  notSenders?: readonly string[];
  orderBy: "rank" | "recent";
  offset: number;
  limit: number;
  maxStream: number;
  /** Only hits older than this stream position (pagination in recent order). */
  beforeStream?: number;
}

/**
 * A tsquery matching every word of the user's search term as a prefix
 * ("hel" finds "hello"); words are reduced to letters and digits, so the
 * term can never be tsquery syntax. Undefined when no word is left.
 */
export function toPrefixQuery(term: string): string | undefined {
  const words = term.toLowerCase().match(/[\p{L}\p{N}_]+/gu) ?? [];
  if (words.length === 0) return undefined;
  return [...new Set(words)].slice(0, 20).map((w) => `'${w}':*`).join(" & ");
}

/** Full-text index of room events (PostgreSQL tsvector + GIN, both engines). */
export class SearchRepo {
  constructor(private readonly sql: Sql) {}

  async insert(q: SqlQueryable, e: { eventId: string; roomId: string; sender: string; key: string; text: string; streamOrdering: number; originServerTs: number }): Promise<void> {
    await q.query(
      `INSERT INTO event_search (event_id, room_id, sender, key, vector, stream_ordering, origin_server_ts)
       VALUES ($1, $2, $3, $4, to_tsvector('${CONFIG}', $5), $6, $7) ON CONFLICT (event_id) DO NOTHING`,
      [e.eventId, e.roomId, e.sender, e.key, e.text, e.streamOrdering, e.originServerTs],
    );
  }

  async delete(q: SqlQueryable, eventId: string): Promise<void> {
    await q.query("DELETE FROM event_search WHERE event_id = $1", [eventId]);
  }

  private where(s: SearchQuery, params: unknown[]): string {
    params.push(s.tsquery, s.roomIds, s.keys, s.maxStream);
    let cond = `vector @@ to_tsquery('${CONFIG}', $1) AND room_id = ANY($2::text[]) AND key = ANY($3::text[]) AND stream_ordering <= $4`;
    if (s.senders) {
      params.push(s.senders);
      cond += ` AND sender = ANY($${params.length}::text[])`;
    }
    if (s.beforeStream !== undefined) {
      params.push(s.beforeStream);
      cond += ` AND stream_ordering < $${params.length}`;
    }
    if (s.notSenders?.length) {
      params.push(s.notSenders);
      cond += ` AND NOT (sender = ANY($${params.length}::text[]))`;
    }
    return cond;
  }

  async search(s: SearchQuery): Promise<SearchHit[]> {
    const params: unknown[] = [];
    const cond = this.where(s, params);
    params.push(s.limit, s.offset);
    const order = s.orderBy === "rank" ? "rank DESC, stream_ordering DESC" : "stream_ordering DESC";
    const rows = await this.sql.query<{ event_id: string; room_id: string; rank: number; stream_ordering: number }>(
      `SELECT event_id, room_id, ts_rank_cd(vector, to_tsquery('${CONFIG}', $1)) AS rank, stream_ordering
         FROM event_search WHERE ${cond}
        ORDER BY ${order} LIMIT $${params.length - 1} OFFSET $${params.length}`,
      params,
    );
    return rows.map((r) => ({ eventId: r.event_id, roomId: r.room_id, rank: Number(r.rank), streamOrdering: Number(r.stream_ordering) }));
  }

  async count(s: SearchQuery): Promise<number> {
    const params: unknown[] = [];
    const cond = this.where(s, params);
    const [row] = await this.sql.query<{ n: number }>(`SELECT count(*)::int8 AS n FROM event_search WHERE ${cond}`, params);
    return Number(row?.n ?? 0);
  }
}
