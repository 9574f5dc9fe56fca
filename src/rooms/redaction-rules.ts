import { PowerLevels, serverNameOf, type AuthState, type RoomEvent, type RoomVersion } from "../core/index.js";

/**
 * Whether a redaction that passed the authorization rules may be applied to
 * its target. Room versions 1-2 check this in the auth rules themselves
 * ("If type is m.room.redaction"); from v3 ("Handling redactions") the server
 * applies a redaction only if its sender has the redact power level, or is on
 * the same server as the target's sender. `state` is the state before the
 * redaction.
 */
export function mayApplyRedaction(redaction: RoomEvent, target: RoomEvent, rv: RoomVersion, state: AuthState): boolean {
  if (target.roomId !== redaction.roomId) return false;
  if (rv.redactionAuthRule) return true;
  if (serverNameOf(redaction.sender) === serverNameOf(target.sender)) return true;
  const create = state.get("m.room.create", "");
  const levels = PowerLevels.fromState(state, rv, create);
  return levels.userLevel(redaction.sender) >= levels.redactLevel;
}
