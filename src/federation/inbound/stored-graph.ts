import type { EventsRepo } from "../../storage/events-repo.js";
import type { GraphReads, StoredEventInfo } from "./graph-reads.js";

/** GraphReads over the events table. */
export function storedGraph(events: Pick<EventsRepo, "getMany" | "writerHead">): GraphReads {
  return {
    async stored(ids) {
      const out = new Map<string, StoredEventInfo>();
      if (ids.length === 0) return out;
      for (const r of await events.getMany([...new Set(ids)])) {
        out.set(r.eventId, {
          eventId: r.eventId,
          roomId: r.roomId,
          type: r.type,
          stateKey: r.stateKey,
          sender: r.sender,
          depth: r.depth,
          outlier: r.outlier,
          rejected: r.rejectedReason !== null,
        });
      }
      return out;
    },
    async forwardExtremities(roomId) {
      return (await events.writerHead(undefined, roomId, undefined)).extremities;
    },
  };
}
