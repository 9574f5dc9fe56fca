import {
  canonicalJsonBytes,
  checkPduFormat,
  checkReceivedPdu,
  computeEventId,
  getOwn,
  MAX_PDU_BYTES,
  toRoomEvent,
  type EventKeyLookup,
  type Pdu,
  type RoomEvent,
  type RoomVersion,
} from "../core/index.js";
import { MatrixError } from "../http/errors.js";

/** A membership event of a room this server is not in, checked and ready to store. */
export interface OutOfBandMembership {
  pdu: Pdu;
  eventId: string;
  event: RoomEvent;
  membership: string;
  userId: string;
}

/**
 * Checks a membership event held out of band (an invite, knock or leave of a
 * room this server is not in): size, then receipt checks 1-3 with `keys` or
 * the format alone when the caller vouches for the signatures, then that it
 * is an `m.room.member` event of `roomId`. Throws 400 M_INVALID_PARAM.
 */
export function checkOutOfBandMembership(roomId: string, input: Pdu, rv: RoomVersion, keys?: EventKeyLookup): OutOfBandMembership {
  const invalid = (why: string) => new MatrixError(400, "M_INVALID_PARAM", why);
  if (canonicalJsonBytes(input).byteLength > MAX_PDU_BYTES) throw invalid(`Event is over ${MAX_PDU_BYTES} bytes`);
  let pdu = input;
  let eventId: string;
  try {
    if (keys) {
      const r = checkReceivedPdu(input, rv, keys);
      if (!r.ok) throw invalid(`Invalid event (check ${r.step}): ${r.reason}`);
      pdu = r.pdu;
      eventId = r.eventId;
    } else {
      const format = checkPduFormat(input, rv);
      if (!format.ok) throw invalid(`Invalid event: ${format.reason}`);
      eventId = computeEventId(input, rv);
    }
  } catch (err) {
    if (err instanceof MatrixError) throw err;
    throw invalid((err as Error).message);
  }
  const event = toRoomEvent(pdu, eventId, rv);
  const membership = getOwn(event.content, "membership");
  if (event.roomId !== roomId || event.type !== "m.room.member" || event.stateKey === undefined || typeof membership !== "string") {
    throw invalid("Not a membership event of this room");
  }
  return { pdu, eventId, event, membership, userId: event.stateKey };
}
