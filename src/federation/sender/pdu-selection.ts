import type { StreamEventRef } from "../../delivery/index.js";

/** Server-server "Transactions": at most 50 PDUs and 100 EDUs in one. */
export const MAX_PDUS_PER_TXN = 50;
export const MAX_EDUS_PER_TXN = 100;

/** A room the destination is far behind in: only its newest events go, the receiver fetches the gap. */
export interface RoomCatchUp {
  /** The newest events of the room for the destination, oldest first (at most MAX_PDUS_PER_TXN). */
  events: readonly StreamEventRef[];
  /** Every event of the room up to here is dealt with once these are sent. */
  coverTo: number;
}

export interface Selection {
  pdus: StreamEventRef[];
  /** Set when the transaction is full: it covers the batch up to here, the rest waits for the next one. */
  through: number | undefined;
  /** Rooms caught up by this transaction, and up to where. */
  covered: Record<string, number>;
}

/**
 * The PDUs of one transaction from the batch's events that concern the
 * destination (stream order): each in turn, except that a room being caught
 * up contributes its newest events in place of its first event and nothing
 * else; a transaction never holds more than `max` PDUs.
 */
export function selectPdus(concerned: readonly StreamEventRef[], catchUps: ReadonlyMap<string, RoomCatchUp>, max = MAX_PDUS_PER_TXN): Selection {
  const pdus: StreamEventRef[] = [];
  const covered: Record<string, number> = {};
  for (const ref of concerned) {
    const cu = catchUps.get(ref.roomId);
    if (cu) {
      if (covered[ref.roomId] !== undefined) continue;
      if (pdus.length > 0 && pdus.length + cu.events.length > max) return { pdus, through: ref.streamOrdering - 1, covered };
      pdus.push(...cu.events.slice(-max));
      covered[ref.roomId] = cu.coverTo;
      continue;
    }
    if (pdus.length >= max) return { pdus, through: ref.streamOrdering - 1, covered };
    pdus.push(ref);
  }
  return { pdus, through: undefined, covered };
}
