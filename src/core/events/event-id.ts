/**
 * Event ids per room version: v1-v2 carry `event_id` (`$opaque:domain`,
 * rooms "v1-event-ids"); v3 is `$` + unpadded base64 of the reference hash;
 * v4+ use URL-safe base64 ("v4-event-ids"). v12 room ids are the create
 * event's id with `!` for `$` (appendix "Room IDs").
 */
import { encodeBase64, encodeBase64Url } from "../crypto.js";
import { getOwn } from "../json.js";
import type { RoomVersion } from "../room-versions.js";
import { computeReferenceHash } from "./hashes.js";
import type { Pdu } from "./pdu.js";

export class EventIdError extends Error {
  override readonly name = "EventIdError";
}

/**
 * The event id of a PDU. For hash-based formats any `event_id` property is
 * ignored before hashing: an id cannot be part of its own hash, and PDUs over
 * federation do not carry one from v3 on.
 */
export function computeEventId(pdu: Pdu, roomVersion: RoomVersion): string {
  if (roomVersion.eventIdFormat === "v1") {
    const id = getOwn(pdu, "event_id");
    if (typeof id !== "string") throw new EventIdError("room versions 1 and 2 require an event_id");
    return id;
  }
  const { event_id: _ignored, ...rest } = pdu;
  const hash = computeReferenceHash(rest, roomVersion);
  return `$${roomVersion.eventIdFormat === "v3" ? encodeBase64(hash) : encodeBase64Url(hash)}`;
}

/** Room id of a v12 room, from its create event. */
export function roomIdFromCreateEvent(createPdu: Pdu, roomVersion: RoomVersion): string {
  if (!roomVersion.roomIdIsCreateEventHash) throw new EventIdError(`room version ${roomVersion.id} room ids are not hashes`);
  return `!${computeEventId(createPdu, roomVersion).slice(1)}`;
}

/** The create event id a v12 room id stands for (auth rule 2). */
export function createEventIdFromRoomId(roomId: string): string {
  return `$${roomId.slice(1)}`;
}
