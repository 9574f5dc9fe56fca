/**
 * Event format checks (receipt check 1, "Is a valid event"): the PDU shape of
 * the room version (server-server pdu_v1 ... pdu_v12) and the client-server
 * "Size limits". Content schemas are deliberately NOT checked here: incoming
 * federation events only need what the auth rules read, and those rules
 * reject malformed auth-relevant content themselves.
 */
import { canonicalJsonBytes, findCanonicalJsonViolation } from "../canonical-json.js";
import { MAX_ID_BYTES, isValidEventId, isValidRoomId, isValidUserId, parseRoomId, utf8Length } from "../ids.js";
import { getOwn, isJsonObject, type JsonValue } from "../json.js";
import type { RoomVersion } from "../room-versions.js";
import type { Pdu } from "./pdu.js";

export const MAX_PDU_BYTES = 65536;
export const MAX_AUTH_EVENTS = 10;
export const MAX_PREV_EVENTS = 20;
/** v6+ depth limit is the canonical JSON maximum; earlier versions say 2^63-1, which JS cannot hold. */
export const MAX_DEPTH = Number.MAX_SAFE_INTEGER;

export type FormatCheck = { readonly ok: true } | { readonly ok: false; readonly reason: string };

const fail = (reason: string): FormatCheck => ({ ok: false, reason });

function isInt(v: JsonValue | undefined): v is number {
  return typeof v === "number" && Number.isInteger(v);
}

function checkIdList(value: JsonValue | undefined, name: string, max: number, rv: RoomVersion): string | undefined {
  if (!Array.isArray(value)) return `${name} must be an array`;
  if (value.length > max) return `${name} has more than ${max} entries`;
  for (const item of value) {
    if (rv.eventIdFormat === "v1") {
      // v1-v2: [event_id, {sha256: hash}] pairs
      if (!Array.isArray(item) || item.length !== 2 || typeof item[0] !== "string" || !isJsonObject(item[1])) {
        return `${name} entries must be [event_id, hashes] pairs`;
      }
      if (!isValidEventId(item[0], "v1")) return `${name} contains an invalid event id`;
    } else if (typeof item !== "string" || !isValidEventId(item, rv.eventIdFormat)) {
      return `${name} contains an invalid event id`;
    }
  }
  return undefined;
}

/** Checks a PDU against its room version's format; returns the first problem found. */
export function checkPduFormat(pdu: Pdu, rv: RoomVersion): FormatCheck {
  const type = getOwn(pdu, "type");
  if (typeof type !== "string") return fail("type must be a string");
  if (utf8Length(type) > 255) return fail("type exceeds 255 bytes");

  const sender = getOwn(pdu, "sender");
  if (typeof sender !== "string" || !isValidUserId(sender)) return fail("sender must be a valid user id");

  const roomId = getOwn(pdu, "room_id");
  if (rv.roomIdIsCreateEventHash && type === "m.room.create") {
    // v12: "Omitted from m.room.create events" (auth rule 1.2 rejects it too).
    if (roomId !== undefined) return fail("m.room.create must not have a room_id in this room version");
  } else {
    if (typeof roomId !== "string" || !isValidRoomId(roomId)) return fail("room_id must be a valid room id");
    const parsed = parseRoomId(roomId);
    if (rv.roomIdIsCreateEventHash && parsed?.serverName !== undefined) return fail("room_id must be a create event hash in this room version");
    if (!rv.roomIdIsCreateEventHash && parsed?.serverName === undefined) return fail("room_id must have a server name in this room version");
  }

  const stateKey = getOwn(pdu, "state_key");
  if (stateKey !== undefined) {
    if (typeof stateKey !== "string") return fail("state_key must be a string");
    if (utf8Length(stateKey) > 255) return fail("state_key exceeds 255 bytes");
  }

  if (!isJsonObject(getOwn(pdu, "content"))) return fail("content must be an object");

  const ts = getOwn(pdu, "origin_server_ts");
  if (!isInt(ts)) return fail("origin_server_ts must be an integer");

  const depth = getOwn(pdu, "depth");
  if (!isInt(depth) || depth < 0 || depth > MAX_DEPTH) return fail("depth must be a non-negative integer within range");

  const hashes = getOwn(pdu, "hashes");
  if (!isJsonObject(hashes) || typeof getOwn(hashes, "sha256") !== "string") return fail("hashes.sha256 must be a string");

  const signatures = getOwn(pdu, "signatures");
  if (!isJsonObject(signatures)) return fail("signatures must be an object");
  for (const server of Object.keys(signatures)) {
    const entity = signatures[server];
    if (!isJsonObject(entity) || Object.values(entity).some((s) => typeof s !== "string")) {
      return fail("signatures must map server names to key id -> signature");
    }
  }

  const unsigned = getOwn(pdu, "unsigned");
  if (unsigned !== undefined && !isJsonObject(unsigned)) return fail("unsigned must be an object");

  const authProblem = checkIdList(getOwn(pdu, "auth_events"), "auth_events", MAX_AUTH_EVENTS, rv);
  if (authProblem !== undefined) return fail(authProblem);
  const prevProblem = checkIdList(getOwn(pdu, "prev_events"), "prev_events", MAX_PREV_EVENTS, rv);
  if (prevProblem !== undefined) return fail(prevProblem);

  if (rv.eventIdFormat === "v1") {
    const id = getOwn(pdu, "event_id");
    if (typeof id !== "string" || !isValidEventId(id, "v1")) return fail("event_id must be a valid event id");
  }

  // Top-level `redacts` only in v1-v10 (v11 moved it into content).
  const redacts = rv.redactsInContent ? undefined : getOwn(pdu, "redacts");
  if (redacts !== undefined && (typeof redacts !== "string" || utf8Length(redacts) > MAX_ID_BYTES)) {
    return fail("redacts must be an event id");
  }

  if (rv.strictCanonicalJson) {
    const violation = findCanonicalJsonViolation(pdu);
    if (violation !== undefined) return fail(`not canonical JSON: ${violation}`);
  }

  // Size limits: the whole event as canonical JSON, signatures included.
  let size: number;
  try {
    size = canonicalJsonBytes(pdu, { strict: rv.strictCanonicalJson }).byteLength;
  } catch (e) {
    return fail(`not encodable as canonical JSON: ${(e as Error).message}`);
  }
  if (size > MAX_PDU_BYTES) return fail(`event is ${size} bytes, over the ${MAX_PDU_BYTES} byte limit`);
  return { ok: true };
}
