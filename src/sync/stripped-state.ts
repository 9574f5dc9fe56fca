import { stateMapKey, type JsonObject } from "../core/index.js";
import { strippedState } from "../rooms/client-format.js";
import type { EventStore, LoadedEvent } from "../rooms/event-store.js";
import { STRIPPED_STATE_TYPES } from "./room-state.js";

/**
 * invite_state / knock_state ("Stripped state"): the room's stripped state at
 * the user's membership event, and that event itself, so clients know who
 * invited them and when. Shared by /sync and sliding sync.
 */
export async function strippedStateAt(
  store: EventStore,
  membershipEventId: string,
  /** The stripped state stored with a membership held out of band (a remote invite or knock). */
  outOfBand?: (eventId: string) => Promise<JsonObject[] | undefined>,
): Promise<JsonObject[]> {
  const own = await store.getEvent(membershipEventId);
  if (!own) return [];
  if (own.row.outlier) {
    // A room this server is not in: the stripped state the other server sent.
    const given = ((await outOfBand?.(own.row.eventId)) ?? []).filter((e) => !(e.type === "m.room.member" && e.state_key === own.row.stateKey));
    return [...given, { ...strippedState(own), event_id: own.row.eventId, origin_server_ts: own.row.originServerTs }];
  }
  const state = await store.stateGroup(own.row.stateAfter);
  const keys = STRIPPED_STATE_TYPES.map((t) => stateMapKey(t, ""));
  keys.push(stateMapKey("m.room.member", own.row.sender));
  const events = await store.stateEvents(state, keys);
  const list: LoadedEvent[] = [...events.values()].filter((e) => e.row.eventId !== own.row.eventId);
  const out = list.map((e) => strippedState(e));
  out.push({ ...strippedState(own), event_id: own.row.eventId, origin_server_ts: own.row.originServerTs });
  return out;
}
