import { MatrixError } from "../http/errors.js";
import type { TopoKey } from "../storage/events-repo.js";

/**
 * Pagination tokens for /messages and /context: `t<depth>-<stream>` names the
 * gap just after the event at topological key (depth, stream). A /sync token
 * (`s1_<events>_...`, see src/sync/tokens.ts) is accepted as a stream position.
 */
export type HistoryToken = { kind: "topo"; key: TopoKey } | { kind: "stream"; stream: number };

export function formatTopoToken(key: TopoKey): string {
  return `t${key.depth}-${key.stream}`;
}

/** The gap just before an event (for backward pages: the next page starts there). */
export function gapBefore(key: TopoKey): TopoKey {
  return { depth: key.depth, stream: key.stream - 1 };
}

export function parseHistoryToken(value: string, param: string): HistoryToken {
  // Backfilled history has negative stream orderings, so the stream part may be negative.
  const topo = /^t(\d{1,15})-(-?\d{1,15})$/.exec(value);
  if (topo) return { kind: "topo", key: { depth: Number(topo[1]), stream: Number(topo[2]) } };
  const sync = /^s1_(\d{1,15})(_\d{1,15})*$/.exec(value);
  if (sync) return { kind: "stream", stream: Number(sync[1]) };
  throw new MatrixError(400, "M_INVALID_PARAM", `'${param}' is not a valid pagination token`);
}

export function compareTopo(a: TopoKey, b: TopoKey): number {
  return a.depth !== b.depth ? a.depth - b.depth : a.stream - b.stream;
}
