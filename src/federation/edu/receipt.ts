import { getOwn, isJsonObject, isValidEventId } from "../../core/index.js";
import type { EduHandler } from "./context.js";
import { mayActInRoom } from "./room-check.js";

/** A room's m.receipt entries are bounded so that one EDU cannot make us write without end. */
const MAX_RECEIPTS_PER_EDU = 1000;

/**
 * m.receipt ("Receipts"): room id -> "m.read" -> user id -> {event_ids, data:
 * {ts, thread_id?}}. Only entries listed are updated; each user must belong
 * to the origin and be joined to the room.
 */
export const receiveReceipt: EduHandler = async (deps, origin, content) => {
  let budget = MAX_RECEIPTS_PER_EDU;
  for (const [roomId, byType] of Object.entries(content)) {
    if (!isJsonObject(byType)) continue;
    const reads = getOwn(byType, "m.read");
    if (!isJsonObject(reads)) continue;
    for (const [userId, receipt] of Object.entries(reads)) {
      if (budget-- <= 0) return;
      if (!isJsonObject(receipt)) continue;
      const ids = getOwn(receipt, "event_ids");
      const data = getOwn(receipt, "data");
      const eventId = Array.isArray(ids) ? ids[0] : undefined;
      if (typeof eventId !== "string" || !isValidEventId(eventId) || !isJsonObject(data)) continue;
      const ts = getOwn(data, "ts");
      const threadId = getOwn(data, "thread_id");
      if (typeof ts !== "number" || !Number.isSafeInteger(ts)) continue;
      // Threaded receipts (thread_id is "main" or a thread root's event id); any other value is malformed.
      if (threadId !== undefined && (typeof threadId !== "string" || (threadId !== "main" && !isValidEventId(threadId)))) continue;
      if (!(await mayActInRoom(deps, origin, userId, roomId))) {
        deps.log.info({ origin, room_id: roomId, user_id: userId }, "m.receipt refused: user not of origin or not in the room");
        continue;
      }
      await deps.receipts.receiveRemote({ roomId, userId, eventId, threadId: threadId as string | undefined, ts });
    }
  }
};
