import {
  authTypesForEvent,
  buildPdu,
  checkAuth,
  computeReferenceHash,
  encodeBase64,
  nextDepth,
  stateMapKey,
  toRoomEvent,
  type AuthResult,
  type Pdu,
  type RoomVersion,
} from "../core/index.js";
import type { EventsRepo } from "../storage/events-repo.js";
import type { RoomStateRepo } from "../storage/room-state-repo.js";
import type { EventStore, LoadedEvent, StateIds } from "./event-store.js";
import { GraphState } from "./graph-state.js";
import { choosePrevEvents, type EventDraft } from "./local-builder.js";

export interface EventTemplate {
  rv: RoomVersion;
  /** The unsigned event: prev_events, auth_events, depth and the draft's fields; no hashes or signatures. */
  pdu: Pdu;
  /** The state before the event (the room's current state when it cites every forward extremity). */
  state: StateIds;
  /** The authorization rules against that state, assuming any signature the event needs will be there. */
  auth: AuthResult;
}

/**
 * Event templates for another server to sign (server-server "Joining Rooms":
 * make_join, and likewise make_leave and make_knock): an event on the
 * room's forward extremities with its auth events selected from the state
 * before it, as the local builder would build it, left unsigned. Reads only;
 * the event enters the room later through the room input like any PDU.
 */
export class EventTemplates {
  private readonly graph: GraphState;

  constructor(
    private readonly d: {
      store: EventStore;
      events: EventsRepo;
      state: RoomStateRepo;
      serverName: string;
      now: () => number;
      randomString: (n: number) => string;
    },
  ) {
    this.graph = new GraphState(d.store, d.events, d.state);
  }

  /** Undefined when this server has no forward extremities in the room (it is not in it). */
  async build(roomId: string, draft: EventDraft): Promise<EventTemplate | undefined> {
    const rv = await this.d.store.roomVersion(roomId);
    if (!rv) return undefined;
    const head = await this.d.events.writerHead(undefined, roomId, undefined);
    if (head.extremities.length === 0) return undefined;
    const extremities = [...(await this.d.store.getEvents(head.extremities)).values()];
    const prevs = choosePrevEvents(extremities);
    const current = await this.d.store.stateGroup(head.currentGroup);
    const before = prevs.length === extremities.length ? current : (await this.graph.resolve(rv, await this.graph.statesAfter(prevs))).state;
    const skeleton = { type: draft.type, sender: draft.sender, stateKey: draft.stateKey, content: draft.content };
    const { events, auth: authState } = await this.graph.authEventsFor(skeleton, rv, before);
    // "Auth events selection": the keys the auth rules read for this event.
    const authEvents: LoadedEvent[] = [];
    for (const p of authTypesForEvent(skeleton, rv)) {
      const e = events.get(stateMapKey(p.type, p.stateKey));
      if (e) authEvents.push(e);
    }
    const known = new Map<string, LoadedEvent>([...prevs, ...authEvents].map((e) => [e.row.eventId, e]));
    const built = buildPdu(
      {
        roomId,
        sender: draft.sender,
        type: draft.type,
        stateKey: draft.stateKey,
        content: draft.content,
        prevEvents: prevs.map((p) => p.row.eventId),
        authEvents: authEvents.map((a) => a.row.eventId),
        depth: nextDepth(prevs.map((p) => p.event.depth)),
        originServerTs: this.d.now(),
      },
      rv,
      {
        eventIdLocalpart: this.d.randomString(18),
        serverName: this.d.serverName,
        referenceHashOf: (id) => {
          const e = known.get(id);
          return e ? encodeBase64(computeReferenceHash(e.pdu, rv)) : undefined;
        },
      },
    );
    const { hashes: _h, signatures: _s, ...unsigned } = built;
    const pdu: Pdu = { ...unsigned, origin: this.d.serverName };
    const createEvent = events.get(stateMapKey("m.room.create", ""))?.event;
    const event = toRoomEvent(pdu, "$template", rv);
    const auth = checkAuth(event, authState, rv, { ...(createEvent ? { createEvent } : {}), hasServerSignature: () => true });
    return { rv, pdu, state: before, auth };
  }
}
