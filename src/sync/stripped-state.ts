import { stateMapKey, type JsonObject } from "../core/index.js";
import { strippedState } from "../rooms/client-format.js";
import type { EventStore, LoadedEvent } from "../rooms/event-store.js";
import { STRIPPED_STATE_TYPES } from "./room-state.js";

/**
 * invite_state / knock_state ("Stripped state"): the room's stripped state at
 * the user's membership event, and that event itself, so clients know who
 * invited them and when. Shared by /sync and sliding sync.
 */
export async function strippedStateAt(store: EventStore, membershipEventId: string): Promise<JsonObject[]> {
  const own = await store.getEvent(membershipEventId);
  if (!own) return [];
  const state = await store.stateGroup(own.row.stateAfter);
  const keys = STRIPPED_STATE_TYPES.map((t) => stateMapKey(t, ""));
  keys.push(stateMapKey("m.room.member", own.row.sender));
  const events = await store.stateEvents(state, keys);
  const list: LoadedEvent[] = [...events.values()].filter((e) => e.row.eventId !== own.row.eventId);
  const out = list.map((e) => strippedState(e));
  out.push({ ...strippedState(own), event_id: own.row.eventId, origin_server_ts: own.row.originServerTs });
  return out;
}
