/**
 * The walks over `prev_events` behind GET /backfill and POST
 * /get_missing_events (server-server "Backfilling and retrieving missing
 * events"). They take their reads through `load`, which returns only events
 * that may be walked: in the room, neither rejected nor outliers. Events it
 * does not return are neither served nor walked through.
 */

export interface WalkNode {
  eventId: string;
  depth: number;
  /** Tie-break between events of one depth: the later stored is the newer. */
  stream: number;
  prevEvents: readonly string[];
}

export type LoadNodes = (eventIds: readonly string[]) => Promise<ReadonlyMap<string, WalkNode>>;

/** Newest first: greater depth, then greater stream position. */
function newer(a: WalkNode, b: WalkNode): number {
  return b.depth - a.depth || b.stream - a.stream;
}

/**
 * /backfill: "the PDUs given in `v` and the PDUs that preceded them ... up
 * to the total number given by the `limit`". The walk always takes the
 * newest event of its frontier next, so the answer is the `limit` latest
 * events at or before `v`, newest first, whatever the shape of the graph.
 */
export async function backfillWalk(start: readonly string[], limit: number, load: LoadNodes): Promise<WalkNode[]> {
  const out: WalkNode[] = [];
  if (limit <= 0) return out;
  const seen = new Set<string>(start);
  const frontier: WalkNode[] = [...(await load([...seen])).values()];
  while (frontier.length > 0 && out.length < limit) {
    frontier.sort(newer);
    const next = frontier.shift()!;
    out.push(next);
    const prevs = next.prevEvents.filter((id) => !seen.has(id));
    for (const id of prevs) seen.add(id);
    if (prevs.length > 0) frontier.push(...(await load(prevs)).values());
  }
  return out;
}

export interface MissingEventsQuery {
  earliest: readonly string[];
  latest: readonly string[];
  limit: number;
  minDepth: number;
}

/**
 * /get_missing_events: "a breadth-first walk of the `prev_events` for the
 * `latest_events`, ignoring any events in `earliest_events` and stopping at
 * the `limit`". The latest events themselves are not returned, nor events
 * below `min_depth` (the walk stops there too). The answer is oldest first
 * (ascending depth), the order in which the asker can persist it.
 */
export async function missingEventsWalk(q: MissingEventsQuery, load: LoadNodes): Promise<WalkNode[]> {
  const out: WalkNode[] = [];
  if (q.limit <= 0) return out;
  const seen = new Set<string>([...q.earliest, ...q.latest]);
  let front: WalkNode[] = [...(await load(q.latest.filter((id) => !q.earliest.includes(id)))).values()].sort(newer);
  while (front.length > 0 && out.length < q.limit) {
    const ids: string[] = [];
    for (const n of front) {
      for (const id of n.prevEvents) {
        if (seen.has(id)) continue;
        seen.add(id);
        ids.push(id);
      }
    }
    if (ids.length === 0) break;
    const loaded = await load(ids);
    const layer = ids.flatMap((id) => {
      const n = loaded.get(id);
      return n !== undefined && n.depth >= q.minDepth ? [n] : [];
    });
    layer.sort(newer);
    out.push(...layer.slice(0, q.limit - out.length));
    front = layer;
  }
  return out.sort((a, b) => newer(b, a));
}
