/**
 * PDUs travel as plain JSON objects (federation format, per room version:
 * server-server definitions pdu_v1 ... pdu_v12). `RoomEvent` is the typed view
 * that auth rules and state resolution read, built once per event.
 */
import { getOwn, isJsonObject, type JsonObject, type JsonValue } from "../json.js";
import type { RoomVersion } from "../room-versions.js";

/** A PDU in federation format. Kept as raw JSON so hashes and signatures stay exact. */
export type Pdu = JsonObject;

export interface RoomEvent {
  readonly eventId: string;
  /** For a v12 create event (which has no room_id) this is the derived room id. */
  readonly roomId: string;
  readonly type: string;
  readonly stateKey: string | undefined;
  readonly sender: string;
  readonly content: JsonObject;
  readonly authEvents: readonly string[];
  readonly prevEvents: readonly string[];
  readonly originServerTs: number;
  readonly depth: number;
  /** Top-level `redacts` (v1-v10) or `content.redacts` (v11+). */
  readonly redacts: string | undefined;
  readonly pdu: Pdu;
}

export function isStateEvent(event: RoomEvent): boolean {
  return event.stateKey !== undefined;
}

function str(obj: JsonObject, key: string): string | undefined {
  const v = getOwn(obj, key);
  return typeof v === "string" ? v : undefined;
}

/**
 * Reads `prev_events` / `auth_events`: plain id lists from v3 on, and
 * `[event_id, {sha256: ...}]` pairs in v1-v2.
 */
export function eventIdList(value: JsonValue | undefined): string[] {
  if (!Array.isArray(value)) return [];
  const out: string[] = [];
  for (const item of value) {
    if (typeof item === "string") out.push(item);
    else if (Array.isArray(item) && typeof item[0] === "string") out.push(item[0]);
  }
  return out;
}

export function redactsOf(pdu: Pdu, roomVersion: RoomVersion): string | undefined {
  if (roomVersion.redactsInContent) {
    const content = getOwn(pdu, "content");
    return isJsonObject(content) ? str(content, "redacts") : undefined;
  }
  return str(pdu, "redacts");
}

/**
 * Builds the typed view. `eventId` must be the id computed for the room
 * version (see `computeEventId`); the PDU is assumed to have passed
 * `checkPduFormat`, missing fields fall back to neutral values.
 */
export function toRoomEvent(pdu: Pdu, eventId: string, roomVersion: RoomVersion): RoomEvent {
  const content = getOwn(pdu, "content");
  const type = str(pdu, "type") ?? "";
  let roomId = str(pdu, "room_id");
  if (roomId === undefined && roomVersion.roomIdIsCreateEventHash && type === "m.room.create") {
    roomId = `!${eventId.slice(1)}`;
  }
  const ts = getOwn(pdu, "origin_server_ts");
  const depth = getOwn(pdu, "depth");
  return {
    eventId,
    roomId: roomId ?? "",
    type,
    stateKey: str(pdu, "state_key"),
    sender: str(pdu, "sender") ?? "",
    content: isJsonObject(content) ? content : {},
    authEvents: eventIdList(getOwn(pdu, "auth_events")),
    prevEvents: eventIdList(getOwn(pdu, "prev_events")),
    originServerTs: typeof ts === "number" ? ts : 0,
    depth: typeof depth === "number" ? depth : 0,
    redacts: redactsOf(pdu, roomVersion),
    pdu,
  };
}
