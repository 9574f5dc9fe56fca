/**
 * Room versions as data (rooms/v1.md ... v12.md): one record of rule flags per
 * version, each written as "the previous version plus these changes".
 */
import type { EventIdFormat } from "./ids.js";

export type RedactionRules = "v1" | "v6" | "v8" | "v9" | "v11";
export type StateResAlgorithm = "v1" | "v2" | "v2.1";

export interface RoomVersion {
  readonly id: string;
  readonly stable: boolean;
  /** v1-v2 `$opaque:domain` carried in the event; v3 base64 hash; v4+ URL-safe hash. */
  readonly eventIdFormat: EventIdFormat;
  readonly stateRes: StateResAlgorithm;
  readonly redaction: RedactionRules;
  /** v5+: "Signing key validity period" (enforce valid_until_ts). */
  readonly enforceKeyValidity: boolean;
  /** v6+: drop events that are not canonical JSON (no floats, safe integers only). */
  readonly strictCanonicalJson: boolean;
  /** v1-v5: auth rule 4 for m.room.aliases. */
  readonly aliasesAuthRule: boolean;
  /** v1-v2: auth rule 11 for m.room.redaction (redact level or same domain). */
  readonly redactionAuthRule: boolean;
  /** v1-v2: events also need a signature from the event id's domain. */
  readonly eventIdDomainSignature: boolean;
  /** v6+: the power-level change checks cover `notifications` as well as `events`. */
  readonly notificationsInPowerLevelChecks: boolean;
  /** v7+: membership `knock` and join rule `knock`. */
  readonly knocking: boolean;
  /** v8+: join rule `restricted` and `join_authorised_via_users_server`. */
  readonly restrictedJoins: boolean;
  /** v10+: join rule `knock_restricted`. */
  readonly knockRestricted: boolean;
  /** v10+: power levels must be integers; earlier versions accept strings (and v1-v5 floats). */
  readonly integerPowerLevels: boolean;
  /** v11+: the creator is the create event's sender, `content.creator` is not required. */
  readonly creatorIsSender: boolean;
  /** v11+: `redacts` lives in `content` of m.room.redaction. */
  readonly redactsInContent: boolean;
  /** v12: creators (sender + additional_creators) have infinite power. */
  readonly creatorsHaveInfinitePower: boolean;
  /** v12: room id is the create event's reference hash, create event has no room_id. */
  readonly roomIdIsCreateEventHash: boolean;
  /** Whether auth_events must (true) or must not (false, v12) include m.room.create. */
  readonly createEventInAuthEvents: boolean;
}

const V1: RoomVersion = {
  id: "1",
  stable: true,
  eventIdFormat: "v1",
  stateRes: "v1",
  redaction: "v1",
  enforceKeyValidity: false,
  strictCanonicalJson: false,
  aliasesAuthRule: true,
  redactionAuthRule: true,
  eventIdDomainSignature: true,
  notificationsInPowerLevelChecks: false,
  knocking: false,
  restrictedJoins: false,
  knockRestricted: false,
  integerPowerLevels: false,
  creatorIsSender: false,
  redactsInContent: false,
  creatorsHaveInfinitePower: false,
  roomIdIsCreateEventHash: false,
  createEventInAuthEvents: true,
};

function derive(base: RoomVersion, id: string, changes: Partial<RoomVersion>): RoomVersion {
  return Object.freeze({ ...base, ...changes, id });
}

const V2 = derive(V1, "2", { stateRes: "v2" });
const V3 = derive(V2, "3", { eventIdFormat: "v3", redactionAuthRule: false, eventIdDomainSignature: false });
const V4 = derive(V3, "4", { eventIdFormat: "v4" });
const V5 = derive(V4, "5", { enforceKeyValidity: true });
const V6 = derive(V5, "6", {
  redaction: "v6",
  strictCanonicalJson: true,
  aliasesAuthRule: false,
  notificationsInPowerLevelChecks: true,
});
const V7 = derive(V6, "7", { knocking: true });
const V8 = derive(V7, "8", { restrictedJoins: true, redaction: "v8" });
const V9 = derive(V8, "9", { redaction: "v9" });
const V10 = derive(V9, "10", { knockRestricted: true, integerPowerLevels: true });
const V11 = derive(V10, "11", { redaction: "v11", creatorIsSender: true, redactsInContent: true });
const V12 = derive(V11, "12", {
  stateRes: "v2.1",
  creatorsHaveInfinitePower: true,
  roomIdIsCreateEventHash: true,
  createEventInAuthEvents: false,
});

export const ROOM_VERSIONS: ReadonlyMap<string, RoomVersion> = new Map(
  [Object.freeze(V1), V2, V3, V4, V5, V6, V7, V8, V9, V10, V11, V12].map((v) => [v.id, v]),
);

export const KNOWN_ROOM_VERSIONS: readonly string[] = [...ROOM_VERSIONS.keys()];

/**
 * Room version for new rooms when neither the client nor the config
 * (`rooms.default_room_version`) names one. 11, because servers that predate
 * v12 cannot join a v12 room; the v1.19 spec ("Complete list of room versions")
 * says servers SHOULD default to 12, which an admin can choose in the config.
 * See `chooseDefaultRoomVersion`.
 */
export const DEFAULT_ROOM_VERSION = "11";

export function getRoomVersion(id: string): RoomVersion | undefined {
  return ROOM_VERSIONS.get(id);
}

export function requireRoomVersion(id: string): RoomVersion {
  const v = ROOM_VERSIONS.get(id);
  if (v === undefined) throw new UnknownRoomVersionError(id);
  return v;
}

export class UnknownRoomVersionError extends Error {
  override readonly name = "UnknownRoomVersionError";
  constructor(readonly roomVersion: string) {
    super(`unknown room version ${roomVersion}`);
  }
}

/** Validates a configured default: it must be a known, stable version. */
export function chooseDefaultRoomVersion(configured: string | undefined): RoomVersion {
  const v = getRoomVersion(configured ?? DEFAULT_ROOM_VERSION);
  if (v === undefined || !v.stable) throw new UnknownRoomVersionError(configured ?? DEFAULT_ROOM_VERSION);
  return v;
}

/** The `m.room_versions` capability body for GET /capabilities. */
export function roomVersionsCapability(defaultVersion: string = DEFAULT_ROOM_VERSION): {
  default: string;
  available: Record<string, "stable" | "unstable">;
} {
  const available: Record<string, "stable" | "unstable"> = {};
  for (const v of ROOM_VERSIONS.values()) available[v.id] = v.stable ? "stable" : "unstable";
  return { default: defaultVersion, available };
}
