/**
 * "Iterative auth checks": apply each event in order to the state if the
 * auth rules allow it against that state, falling back to the event's own
 * (non-rejected) auth events for keys the state lacks.
 */
import type { RoomEvent } from "../events/pdu.js";
import { stateMapKey, type AuthState, type StateMapKey } from "../events/state-map.js";
import type { RoomVersion } from "../room-versions.js";
import { authTypesForEvent } from "../auth/auth-events-selection.js";
import { checkAuth } from "../auth/check-auth.js";
import type { EventLoader } from "./event-loader.js";

class OverlayAuthState implements AuthState {
  constructor(private readonly map: ReadonlyMap<StateMapKey, RoomEvent>) {}
  get(type: string, stateKey: string): RoomEvent | undefined {
    return this.map.get(stateMapKey(type, stateKey));
  }
}

export async function iterativeAuthChecks(
  ordered: readonly string[],
  initial: ReadonlyMap<StateMapKey, string>,
  loader: EventLoader,
  rv: RoomVersion,
  roomCreate: RoomEvent | undefined,
): Promise<Map<StateMapKey, string>> {
  const state = new Map(initial);
  await loader.load(ordered);
  for (const id of ordered) {
    const event = loader.get(id);
    if (event === undefined || event.stateKey === undefined) continue;
    await loader.load(event.authEvents);
    const authMap = new Map<StateMapKey, RoomEvent>();
    for (const a of event.authEvents) {
      const ae = loader.get(a);
      if (ae !== undefined && ae.stateKey !== undefined && !loader.isRejected(a)) authMap.set(stateMapKey(ae.type, ae.stateKey), ae);
    }
    const needed = authTypesForEvent(event, rv);
    if (!rv.createEventInAuthEvents) needed.push({ type: "m.room.create", stateKey: "" });
    const fromState: string[] = [];
    for (const { type, stateKey } of needed) {
      const sid = state.get(stateMapKey(type, stateKey));
      if (sid !== undefined) fromState.push(sid);
    }
    await loader.load(fromState);
    for (const sid of fromState) {
      const se = loader.get(sid);
      if (se !== undefined && se.stateKey !== undefined) authMap.set(stateMapKey(se.type, se.stateKey), se);
    }
    const result = checkAuth(event, new OverlayAuthState(authMap), rv, { createEvent: rv.roomIdIsCreateEventHash ? roomCreate : undefined });
    if (result.allowed) state.set(stateMapKey(event.type, event.stateKey), id);
    await loader.tick();
  }
  return state;
}
