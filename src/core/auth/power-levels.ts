/**
 * Power levels as the auth rules read them (client-server m.room.power_levels,
 * server-server "Definitions"), including the backwards-compatible string and
 * float encodings of rooms/fragments v1-stringy- and v1-floaty-power-levels,
 * and v12's infinitely powerful room creators.
 */
import { isValidUserId } from "../ids.js";
import { getOwn, isJsonObject, type JsonObject, type JsonValue } from "../json.js";
import type { RoomVersion } from "../room-versions.js";
import type { AuthState } from "../events/state-map.js";
import type { RoomEvent } from "../events/pdu.js";

const STRINGY_INT = /^\s*[+-]?\d+\s*$/;

/**
 * Reads one power level value. v10+ accepts integers only; v1-v9 also
 * accept strings like " +100 "; floats (v1-v5, which do not enforce
 * canonical JSON) are truncated. Returns undefined when not a valid level.
 */
export function parsePowerLevel(value: JsonValue | undefined, rv: RoomVersion): number | undefined {
  if (typeof value === "number") {
    if (!Number.isFinite(value)) return undefined;
    if (Number.isInteger(value)) return value;
    return rv.integerPowerLevels || rv.strictCanonicalJson ? undefined : Math.trunc(value);
  }
  if (typeof value === "string" && !rv.integerPowerLevels && STRINGY_INT.test(value)) {
    const n = Number.parseInt(value.trim(), 10);
    return Number.isFinite(n) ? n : undefined;
  }
  return undefined;
}

/**
 * The room creators: v12 uses the create sender plus `additional_creators`;
 * v11 the create sender; older versions `content.creator`.
 */
export function roomCreators(create: RoomEvent | undefined, rv: RoomVersion): ReadonlySet<string> {
  const creators = new Set<string>();
  if (create === undefined) return creators;
  if (rv.creatorIsSender) {
    creators.add(create.sender);
  } else {
    const c = getOwn(create.content, "creator");
    if (typeof c === "string") creators.add(c);
  }
  if (rv.creatorsHaveInfinitePower) {
    const extra = getOwn(create.content, "additional_creators");
    if (Array.isArray(extra)) for (const u of extra) if (typeof u === "string") creators.add(u);
  }
  return creators;
}

/** The levels one power-levels state (or its absence) implies. */
export class PowerLevels {
  private constructor(
    private readonly content: JsonObject | undefined,
    private readonly creators: ReadonlySet<string>,
    private readonly rv: RoomVersion,
  ) {}

  static fromState(state: AuthState, rv: RoomVersion, createEvent?: RoomEvent): PowerLevels {
    const pl = state.get("m.room.power_levels", "");
    const create = createEvent ?? state.get("m.room.create", "");
    return new PowerLevels(pl?.content, roomCreators(create, rv), rv);
  }

  static fromContent(content: JsonObject | undefined, creators: ReadonlySet<string>, rv: RoomVersion): PowerLevels {
    return new PowerLevels(content, creators, rv);
  }

  get hasPowerLevelsEvent(): boolean {
    return this.content !== undefined;
  }

  private top(key: string, fallback: number): number {
    if (this.content === undefined) return fallback;
    return parsePowerLevel(getOwn(this.content, key), this.rv) ?? fallback;
  }

  /** A user's level: creators are infinite in v12; with no power levels event the creator has 100. */
  userLevel(userId: string): number {
    if (this.rv.creatorsHaveInfinitePower && this.creators.has(userId)) return Infinity;
    if (this.content === undefined) return this.creators.has(userId) ? 100 : 0;
    const users = getOwn(this.content, "users");
    if (isJsonObject(users)) {
      const v = parsePowerLevel(getOwn(users, userId), this.rv);
      if (v !== undefined) return v;
    }
    return this.top("users_default", 0);
  }

  /** The event type's *required power level*. */
  eventLevel(type: string, isState: boolean): number {
    if (this.content !== undefined) {
      const events = getOwn(this.content, "events");
      if (isJsonObject(events)) {
        const v = parsePowerLevel(getOwn(events, type), this.rv);
        if (v !== undefined) return v;
      }
    }
    return isState ? this.top("state_default", 50) : this.top("events_default", 0);
  }

  get inviteLevel(): number {
    return this.top("invite", 0);
  }
  get kickLevel(): number {
    return this.top("kick", 50);
  }
  get banLevel(): number {
    return this.top("ban", 50);
  }
  get redactLevel(): number {
    return this.top("redact", 50);
  }
}

/** Whether every entry of an object is a valid level (used by auth rule "m.room.power_levels" 1-3). */
export function isLevelMap(value: JsonValue | undefined, rv: RoomVersion, keysAreUsers: boolean): boolean {
  if (!isJsonObject(value)) return false;
  for (const [k, v] of Object.entries(value)) {
    if (keysAreUsers && !isValidUserId(k)) return false;
    if (parsePowerLevel(v, rv) === undefined) return false;
  }
  return true;
}
