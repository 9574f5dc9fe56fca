/**
 * Building new PDUs in the room version's format, then hashing and signing
 * them. Randomness (v1-v2 event id localparts) and the clock
 * (origin_server_ts) come from the caller.
 */
import type { SigningKey } from "../crypto.js";
import type { JsonObject, JsonValue } from "../json.js";
import type { RoomVersion } from "../room-versions.js";
import { computeEventId } from "./event-id.js";
import { MAX_DEPTH } from "./format.js";
import type { Pdu } from "./pdu.js";
import { hashAndSign } from "./signatures.js";

export interface NewEventFields {
  /** Omitted only for a v12 m.room.create event. */
  readonly roomId: string | undefined;
  readonly sender: string;
  readonly type: string;
  readonly stateKey?: string;
  readonly content: JsonObject;
  readonly prevEvents: readonly string[];
  readonly authEvents: readonly string[];
  readonly depth: number;
  readonly originServerTs: number;
  /** For m.room.redaction: top-level in v1-v10, `content.redacts` from v11. */
  readonly redacts?: string;
}

export interface BuildOptions {
  /** v1-v2: the opaque part of the new `$opaque:server` event id (random, injected). */
  readonly eventIdLocalpart?: string;
  /** v1-v2: our server name, the event id's domain. */
  readonly serverName?: string;
  /** v1-v2: reference hash (unpadded base64) of a prev/auth event, for the [id, {sha256}] pairs. */
  readonly referenceHashOf?: (eventId: string) => string | undefined;
}

/** "The maximum depth of the prev_events, plus one", capped at the limit. */
export function nextDepth(prevDepths: readonly number[]): number {
  const max = prevDepths.length === 0 ? 0 : Math.max(...prevDepths);
  return Math.min(max + 1, MAX_DEPTH);
}

export function buildPdu(fields: NewEventFields, rv: RoomVersion, options: BuildOptions = {}): Pdu {
  const v1 = rv.eventIdFormat === "v1";
  const ref = (id: string): JsonValue => {
    if (!v1) return id;
    const hash = options.referenceHashOf?.(id);
    if (hash === undefined) throw new Error(`no reference hash for ${id}`);
    return [id, { sha256: hash }];
  };
  const content: JsonObject = { ...fields.content };
  if (fields.redacts !== undefined && rv.redactsInContent) content.redacts = fields.redacts;
  const pdu: Pdu = {
    type: fields.type,
    sender: fields.sender,
    content,
    origin_server_ts: fields.originServerTs,
    depth: fields.depth,
    prev_events: fields.prevEvents.map(ref),
    auth_events: fields.authEvents.map(ref),
    hashes: {},
    signatures: {},
  };
  if (fields.roomId !== undefined) pdu.room_id = fields.roomId;
  if (fields.stateKey !== undefined) pdu.state_key = fields.stateKey;
  if (fields.redacts !== undefined && !rv.redactsInContent) pdu.redacts = fields.redacts;
  if (v1) {
    if (options.eventIdLocalpart === undefined || options.serverName === undefined) {
      throw new Error("room versions 1 and 2 need an event id localpart and server name");
    }
    pdu.event_id = `$${options.eventIdLocalpart}:${options.serverName}`;
  }
  return pdu;
}

/** Builds, hashes and signs a new event; returns it with its event id. */
export function createSignedPdu(
  fields: NewEventFields,
  rv: RoomVersion,
  serverName: string,
  key: SigningKey,
  options: BuildOptions = {},
): { pdu: Pdu; eventId: string } {
  const pdu = hashAndSign(buildPdu(fields, rv, { serverName, ...options }), serverName, key, rv);
  return { pdu, eventId: computeEventId(pdu, rv) };
}
