/**
 * The authorisation rules of every room version (rooms/fragments
 * v1-auth-rules, v3-auth-rules, v8-auth-rules and the inline rules of v6, v7,
 * v10, v11, v12). Rule numbers in results follow v12's numbering.
 *
 * Two entry points, matching how the receive pipeline uses them:
 * - `checkAuthEvents`: the rules about the event's own auth_events list
 *   (v12 rule 3, v1-v11 rule 2); only meaningful for receipt check 4.
 * - `checkAuth`: every state-dependent rule, against any state (the event's
 *   auth events, the state before it, or the current state).
 */
import { getOwn, isJsonObject } from "../json.js";
import { isValidUserId, serverNameOf } from "../ids.js";
import { getRoomVersion, type RoomVersion } from "../room-versions.js";
import type { RoomEvent } from "../events/pdu.js";
import { EventStateMap, stateMapKey, type AuthState } from "../events/state-map.js";
import { createEventIdFromRoomId } from "../events/event-id.js";
import { authTypesForEvent } from "./auth-events-selection.js";
import { checkMembership } from "./membership-rules.js";
import { checkPowerLevels } from "./power-level-rules.js";
import { PowerLevels } from "./power-levels.js";
import { allow, reject, type AuthResult } from "./result.js";

export interface CheckAuthOptions {
  /**
   * v12: the room's create event, which is never in auth_events or needed in
   * the state given (it is implied by room_id). Falls back to the state.
   */
  readonly createEvent?: RoomEvent;
  /**
   * Whether the event is validly signed by a server (rule 5.2,
   * join_authorised_via_users_server). Default: a signature entry from that
   * server exists, which is sound once receipt check 2 has verified every
   * signature on the event against known keys (`verifyEventSignatures`
   * requires the authorising server's signature).
   */
  readonly hasServerSignature?: (event: RoomEvent, serverName: string) => boolean;
}

function defaultHasServerSignature(event: RoomEvent, serverName: string): boolean {
  const sigs = getOwn(event.pdu, "signatures");
  if (!isJsonObject(sigs)) return false;
  const entity = getOwn(sigs, serverName);
  return isJsonObject(entity) && Object.keys(entity).length > 0;
}

function checkCreate(event: RoomEvent, rv: RoomVersion): AuthResult {
  if (event.prevEvents.length > 0) return reject("1.1", "m.room.create has prev_events");
  if (rv.roomIdIsCreateEventHash) {
    if (getOwn(event.pdu, "room_id") !== undefined) return reject("1.2", "m.room.create has a room_id");
  } else if (serverNameOf(event.roomId) !== serverNameOf(event.sender)) {
    return reject("1.2", "room_id domain does not match sender domain");
  }
  const version = getOwn(event.content, "room_version");
  if (version !== undefined && (typeof version !== "string" || getRoomVersion(version) === undefined)) {
    return reject("1.3", "unrecognised room_version");
  }
  if (!rv.creatorIsSender && getOwn(event.content, "creator") === undefined) {
    return reject("1.4", "content has no creator");
  }
  if (rv.creatorsHaveInfinitePower) {
    const extra = getOwn(event.content, "additional_creators");
    if (extra !== undefined && (!Array.isArray(extra) || !extra.every((u) => typeof u === "string" && isValidUserId(u)))) {
      return reject("1.4", "additional_creators is not an array of user ids");
    }
  }
  return allow("1.5");
}

/**
 * Rule 3 (v12) / 2 (v1-v11): the auth_events list itself. `authEvents` are
 * the fetched events the event cites; `isRejected` says which were rejected.
 */
export function checkAuthEvents(
  event: RoomEvent,
  authEvents: readonly RoomEvent[],
  rv: RoomVersion,
  isRejected: (eventId: string) => boolean = () => false,
): AuthResult {
  if (event.type === "m.room.create") return allow("1");
  if (authEvents.length !== event.authEvents.length) return reject("3.3", "an auth event is missing");
  const allowed = new Set(authTypesForEvent(event, rv).map((p) => stateMapKey(p.type, p.stateKey)));
  const seen = new Set<string>();
  let hasCreate = false;
  for (const a of authEvents) {
    if (a.stateKey === undefined) return reject("3.2", `auth event ${a.eventId} is not a state event`);
    const key = stateMapKey(a.type, a.stateKey);
    if (seen.has(key)) return reject("3.1", `duplicate auth event for (${a.type}, ${a.stateKey})`);
    seen.add(key);
    if (!allowed.has(key)) return reject("3.2", `auth event (${a.type}, ${a.stateKey}) is not one the selection rules allow`);
    if (isRejected(a.eventId)) return reject("3.3", `auth event ${a.eventId} was rejected`);
    if (a.type === "m.room.create") hasCreate = true;
    if (a.roomId !== event.roomId) return reject("3.5", `auth event ${a.eventId} is from another room`);
  }
  if (rv.createEventInAuthEvents && !hasCreate) return reject("3.4", "no m.room.create among auth events");
  return allow("3");
}

/** The state-dependent authorisation rules. */
export function checkAuth(event: RoomEvent, state: AuthState, rv: RoomVersion, options: CheckAuthOptions = {}): AuthResult {
  // 1
  if (event.type === "m.room.create") return checkCreate(event, rv);

  const create = options.createEvent ?? state.get("m.room.create", "");
  if (create === undefined) return reject("2", "no m.room.create event");
  // 2 (v12): room_id is the create event's id with `!`.
  if (rv.roomIdIsCreateEventHash && createEventIdFromRoomId(event.roomId) !== create.eventId) {
    return reject("2", "room_id is not the create event's id");
  }

  // 4: m.federate
  if (getOwn(create.content, "m.federate") === false && serverNameOf(event.sender) !== serverNameOf(create.sender)) {
    return reject("4", "room does not federate with the sender's server");
  }

  // v1-v5 rule 4: m.room.aliases
  if (rv.aliasesAuthRule && event.type === "m.room.aliases") {
    if (event.stateKey === undefined) return reject("aliases.1", "m.room.aliases without state_key");
    if (serverNameOf(event.sender) !== event.stateKey) return reject("aliases.2", "state_key is not the sender's domain");
    return allow("aliases.3");
  }

  const levels = PowerLevels.fromState(state, rv, create);

  // 5
  if (event.type === "m.room.member") {
    return checkMembership({
      event,
      state,
      rv,
      create,
      levels,
      hasServerSignature: options.hasServerSignature ?? defaultHasServerSignature,
    });
  }

  // 6
  const senderMember = state.get("m.room.member", event.sender);
  if (senderMember === undefined || getOwn(senderMember.content, "membership") !== "join") {
    return reject("6", "sender is not joined to the room");
  }

  const senderLevel = levels.userLevel(event.sender);
  // 7
  if (event.type === "m.room.third_party_invite") {
    return senderLevel >= levels.inviteLevel ? allow("7.1") : reject("7.1", "sender's power level is below the invite level");
  }
  // 8
  const required = levels.eventLevel(event.type, event.stateKey !== undefined);
  if (required > senderLevel) return reject("8", `sending ${event.type} needs power level ${required}`);
  // 9
  if (event.stateKey !== undefined && event.stateKey.startsWith("@") && event.stateKey !== event.sender) {
    return reject("9", "state_key starting with @ must be the sender");
  }
  // 10
  if (event.type === "m.room.power_levels") {
    return checkPowerLevels(event, state.get("m.room.power_levels", ""), create, levels, rv);
  }
  // v1-v2 rule 11: redactions need the redact level or the same domain.
  if (rv.redactionAuthRule && event.type === "m.room.redaction") {
    if (senderLevel >= levels.redactLevel) return allow("redaction.1");
    if (event.redacts !== undefined && serverNameOf(event.redacts) === serverNameOf(event.eventId)) return allow("redaction.2");
    return reject("redaction.3", "sender cannot redact this event");
  }
  // 11
  return allow("11");
}

/**
 * Receipt check 4: the auth_events list rules, then the state rules with the
 * auth events as the state.
 */
export function checkAuthAgainstAuthEvents(
  event: RoomEvent,
  authEvents: readonly RoomEvent[],
  rv: RoomVersion,
  options: CheckAuthOptions & { readonly isRejected?: (eventId: string) => boolean } = {},
): AuthResult {
  const shape = checkAuthEvents(event, authEvents, rv, options.isRejected);
  if (!shape.allowed) return shape;
  return checkAuth(event, new EventStateMap(authEvents), rv, options);
}
