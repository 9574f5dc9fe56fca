import {
  authTypesForEvent,
  buildPdu,
  computeReferenceHash,
  encodeBase64,
  hashAndSign,
  MAX_PREV_EVENTS,
  nextDepth,
  type JsonObject,
  type Pdu,
  type RoomVersion,
  type SigningKey,
} from "../core/index.js";
import type { LoadedEvent } from "./event-store.js";

/** What a local client asks to add to a room. */
export interface EventDraft {
  type: string;
  stateKey?: string;
  sender: string;
  content: JsonObject;
  /** Target of an m.room.redaction (placed top-level or in content per room version). */
  redacts?: string;
  /** An appservice's `ts` (application service API "Timestamp massaging"); now when absent. */
  originServerTs?: number;
}

export class BuildError extends Error {}

/**
 * The prev_events of a new local event: the forward extremities, at most
 * MAX_PREV_EVENTS of them (server-server "PDUs": "prev_events ... should not
 * exceed 20"), the deepest first; the rest stay forward extremities.
 */
export function choosePrevEvents(extremities: readonly LoadedEvent[]): LoadedEvent[] {
  return [...extremities]
    .sort((a, b) => b.row.depth - a.row.depth || (a.row.eventId < b.row.eventId ? -1 : 1))
    .slice(0, MAX_PREV_EVENTS);
}

/**
 * Turns a draft into a signed PDU in the room version's format: prev_events
 * and auth_events (server-server "Auth events selection", from the state
 * before the event), depth, and for v1-v2 the [event_id, {sha256: reference
 * hash}] pairs the format needs.
 */
export function buildLocalPdu(args: {
  roomId: string;
  rv: RoomVersion;
  draft: EventDraft;
  prevs: readonly LoadedEvent[];
  /** The state before the event's events, by (type, state_key) as selected. */
  stateEvent: (type: string, stateKey: string) => LoadedEvent | undefined;
  now: number;
  serverName: string;
  signingKey: SigningKey;
  /** v1-v2: the event id's opaque part. */
  eventIdLocalpart: string;
}): Pdu {
  const { rv, draft } = args;
  const skeleton = { type: draft.type, sender: draft.sender, stateKey: draft.stateKey, content: draft.content };
  const auth: LoadedEvent[] = [];
  for (const p of authTypesForEvent(skeleton, rv)) {
    const e = args.stateEvent(p.type, p.stateKey);
    if (e) auth.push(e);
  }
  const known = new Map<string, LoadedEvent>();
  for (const e of [...args.prevs, ...auth]) known.set(e.row.eventId, e);
  const pdu = buildPdu(
    {
      roomId: args.roomId,
      sender: draft.sender,
      type: draft.type,
      stateKey: draft.stateKey,
      content: draft.content,
      prevEvents: args.prevs.map((p) => p.row.eventId),
      authEvents: auth.map((a) => a.row.eventId),
      depth: nextDepth(args.prevs.map((p) => p.event.depth)),
      originServerTs: draft.originServerTs ?? args.now,
      redacts: draft.redacts,
    },
    rv,
    {
      eventIdLocalpart: args.eventIdLocalpart,
      serverName: args.serverName,
      // Room versions 1 and 2 cite events with their reference hash (appendices, "Reference hashes").
      referenceHashOf: (id) => {
        const e = known.get(id);
        return e ? encodeBase64(computeReferenceHash(e.pdu, rv)) : undefined;
      },
    },
  );
  return signPdu(pdu, args.serverName, args.signingKey, rv);
}

export function signPdu(pdu: Pdu, serverName: string, key: SigningKey, rv: RoomVersion): Pdu {
  try {
    return hashAndSign(pdu, serverName, key, rv);
  } catch (err) {
    // e.g. floats or unsafe integers in content, which canonical JSON refuses.
    throw new BuildError(`Content is not valid canonical JSON: ${(err as Error).message}`);
  }
}
