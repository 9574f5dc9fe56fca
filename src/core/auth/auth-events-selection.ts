/**
 * Server-server "Auth events selection": which state a new event cites as its
 * auth_events, and (auth rule "Considering the event's auth_events") which
 * (type, state_key) pairs an event is allowed to cite.
 */
import { getOwn, isJsonObject, type JsonObject } from "../json.js";
import type { RoomVersion } from "../room-versions.js";
import type { AuthState } from "../events/state-map.js";

/** The fields selection needs; a full RoomEvent or a not-yet-built skeleton. */
export interface EventSkeleton {
  readonly type: string;
  readonly sender: string;
  readonly stateKey: string | undefined;
  readonly content: JsonObject;
}

export interface StateKeyPair {
  readonly type: string;
  readonly stateKey: string;
}

export function authTypesForEvent(event: EventSkeleton, rv: RoomVersion): StateKeyPair[] {
  if (event.type === "m.room.create") return [];
  const out: StateKeyPair[] = [];
  // v12: the create event is implied by room_id and MUST NOT be selected.
  if (rv.createEventInAuthEvents) out.push({ type: "m.room.create", stateKey: "" });
  out.push({ type: "m.room.power_levels", stateKey: "" });
  out.push({ type: "m.room.member", stateKey: event.sender });
  if (event.type === "m.room.member" && event.stateKey !== undefined) {
    const membership = getOwn(event.content, "membership");
    out.push({ type: "m.room.member", stateKey: event.stateKey });
    if (membership === "join" || membership === "invite" || membership === "knock") {
      out.push({ type: "m.room.join_rules", stateKey: "" });
    }
    if (membership === "invite") {
      const tpi = getOwn(event.content, "third_party_invite");
      if (isJsonObject(tpi)) {
        const signed = getOwn(tpi, "signed");
        const token = isJsonObject(signed) ? getOwn(signed, "token") : undefined;
        if (typeof token === "string") out.push({ type: "m.room.third_party_invite", stateKey: token });
      }
    }
    if (membership === "join" && rv.restrictedJoins) {
      const via = getOwn(event.content, "join_authorised_via_users_server");
      if (typeof via === "string") out.push({ type: "m.room.member", stateKey: via });
    }
  }
  // Deduplicate (e.g. a user's own membership is both sender and target).
  const seen = new Set<string>();
  return out.filter((p) => {
    const k = `${p.type}\u0000${p.stateKey}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** Event ids for a new event's auth_events, picked from the current state. */
export function authEventsFor(event: EventSkeleton, currentState: AuthState, rv: RoomVersion): string[] {
  const ids: string[] = [];
  for (const { type, stateKey } of authTypesForEvent(event, rv)) {
    const e = currentState.get(type, stateKey);
    if (e !== undefined) ids.push(e.eventId);
  }
  return ids;
}
