/**
 * Auth rule "If type is m.room.power_levels" (rule 10 in v12 numbering):
 * shape checks, then no one may raise a level above their own or touch a
 * level at or above their own.
 */
import { getOwn, isJsonObject, type JsonObject, type JsonValue } from "../json.js";
import type { RoomVersion } from "../room-versions.js";
import type { RoomEvent } from "../events/pdu.js";
import { isLevelMap, parsePowerLevel, roomCreators, type PowerLevels } from "./power-levels.js";
import { allow, reject, type AuthResult } from "./result.js";

const TOP_LEVEL_KEYS = ["users_default", "events_default", "state_default", "ban", "redact", "kick", "invite"];

function asObject(v: JsonValue | undefined): JsonObject {
  return isJsonObject(v) ? v : {};
}

export function checkPowerLevels(
  event: RoomEvent,
  previous: RoomEvent | undefined,
  create: RoomEvent | undefined,
  levels: PowerLevels,
  rv: RoomVersion,
): AuthResult {
  const content = event.content;
  if (rv.integerPowerLevels) {
    // 10.1 (v10+)
    for (const key of TOP_LEVEL_KEYS) {
      const v = getOwn(content, key);
      if (v !== undefined && (typeof v !== "number" || !Number.isInteger(v))) return reject("10.1", `${key} is not an integer`);
    }
    // 10.2 (v10+)
    for (const key of ["events", "notifications"]) {
      const v = getOwn(content, key);
      if (v !== undefined && !isLevelMap(v, rv, false)) return reject("10.2", `${key} is not a map of integers`);
    }
  }
  // 10.3: users must map valid user ids to integers (or integer strings before v10).
  const users = getOwn(content, "users");
  if (users !== undefined && !isLevelMap(users, rv, true)) return reject("10.3", "users is not a map of user ids to levels");

  // 10.4 (v12): creators cannot appear in users.
  if (rv.creatorsHaveInfinitePower && isJsonObject(users)) {
    for (const creator of roomCreators(create, rv)) {
      if (Object.hasOwn(users, creator)) return reject("10.4", `creator ${creator} must not be listed in users`);
    }
  }

  // 10.5
  if (previous === undefined) return allow("10.5");

  const senderLevel = levels.userLevel(event.sender);
  const old = previous.content;
  const level = (v: JsonValue | undefined): number | undefined => parsePowerLevel(v, rv);

  // 10.6: top-level values added, changed or removed.
  for (const key of TOP_LEVEL_KEYS) {
    const before = level(getOwn(old, key));
    const after = level(getOwn(content, key));
    if (before === after) continue;
    if (before !== undefined && before > senderLevel) return reject("10.6.1", `cannot change ${key} from above own level`);
    if (after !== undefined && after > senderLevel) return reject("10.6.2", `cannot set ${key} above own level`);
  }

  // 10.7 / 10.8: `events` (and `notifications` from v6) entries.
  const maps = rv.notificationsInPowerLevelChecks ? ["events", "notifications"] : ["events"];
  for (const mapKey of maps) {
    const before = asObject(getOwn(old, mapKey));
    const after = asObject(getOwn(content, mapKey));
    for (const k of new Set([...Object.keys(before), ...Object.keys(after)])) {
      const b = level(getOwn(before, k));
      const a = level(getOwn(after, k));
      if (b === a) continue;
      if (b !== undefined && b > senderLevel) return reject("10.7.1", `cannot change ${mapKey}.${k} from above own level`);
      if (a !== undefined && a > senderLevel) return reject("10.8.1", `cannot set ${mapKey}.${k} above own level`);
    }
  }

  // 10.9 / 10.10: `users` entries.
  const beforeUsers = asObject(getOwn(old, "users"));
  const afterUsers = asObject(users);
  for (const u of new Set([...Object.keys(beforeUsers), ...Object.keys(afterUsers)])) {
    const b = level(getOwn(beforeUsers, u));
    const a = level(getOwn(afterUsers, u));
    if (b === a) continue;
    if (u !== event.sender && b !== undefined && b >= senderLevel) {
      return reject("10.9.1", `cannot change the level of ${u}, who is at or above own level`);
    }
    if (a !== undefined && a > senderLevel) return reject("10.10.1", `cannot give ${u} a level above own level`);
  }
  return allow("10.11");
}
