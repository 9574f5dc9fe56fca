/**
 * The redaction algorithm per room version (rooms/fragments v1-, v6-, v9-,
 * v11-redactions.md and the inline v8 list). It defines what survives a
 * redaction, what signatures cover and what the reference hash covers.
 */
import { getOwn, isJsonObject, type JsonObject } from "../json.js";
import type { RedactionRules, RoomVersion } from "../room-versions.js";

const TOP_LEVEL_V1 = [
  "event_id",
  "type",
  "room_id",
  "sender",
  "state_key",
  "content",
  "hashes",
  "signatures",
  "depth",
  "prev_events",
  "prev_state",
  "auth_events",
  "origin",
  "origin_server_ts",
  "membership",
];

// v11 drops origin, membership and prev_state ("v11-redactions").
const TOP_LEVEL_V11 = [
  "event_id",
  "type",
  "room_id",
  "sender",
  "state_key",
  "content",
  "hashes",
  "signatures",
  "depth",
  "prev_events",
  "auth_events",
  "origin_server_ts",
];

const POWER_LEVEL_KEYS_V1 = ["ban", "events", "events_default", "kick", "redact", "state_default", "users", "users_default"];

type ContentRule = readonly string[] | "all";

function contentRules(rules: RedactionRules): Readonly<Record<string, ContentRule>> {
  const base: Record<string, ContentRule> = {
    "m.room.member": ["membership"],
    "m.room.create": ["creator"],
    "m.room.join_rules": ["join_rule"],
    "m.room.power_levels": POWER_LEVEL_KEYS_V1,
    "m.room.history_visibility": ["history_visibility"],
  };
  switch (rules) {
    case "v1":
      return { ...base, "m.room.aliases": ["aliases"] };
    case "v6":
      return base;
    case "v8":
      return { ...base, "m.room.join_rules": ["join_rule", "allow"] };
    case "v9":
      return {
        ...base,
        "m.room.join_rules": ["join_rule", "allow"],
        "m.room.member": ["membership", "join_authorised_via_users_server"],
      };
    case "v11":
      return {
        ...base,
        "m.room.join_rules": ["join_rule", "allow"],
        "m.room.member": ["membership", "join_authorised_via_users_server"],
        "m.room.create": "all",
        "m.room.power_levels": [...POWER_LEVEL_KEYS_V1, "invite"],
        "m.room.redaction": ["redacts"],
      };
  }
}

const CONTENT_RULES: Readonly<Record<RedactionRules, Readonly<Record<string, ContentRule>>>> = {
  v1: contentRules("v1"),
  v6: contentRules("v6"),
  v8: contentRules("v8"),
  v9: contentRules("v9"),
  v11: contentRules("v11"),
};

/** Returns the redacted copy of an event (PDU or client format); the input is not modified. */
export function redact(event: JsonObject, roomVersion: RoomVersion): JsonObject {
  const rules = roomVersion.redaction;
  const keep = rules === "v11" ? TOP_LEVEL_V11 : TOP_LEVEL_V1;
  const out: JsonObject = {};
  for (const key of keep) {
    const v = getOwn(event, key);
    if (v !== undefined) out[key] = v;
  }
  const content = getOwn(event, "content");
  if (content === undefined) return out;
  const type = getOwn(event, "type");
  const table = CONTENT_RULES[rules];
  const rule = typeof type === "string" && Object.hasOwn(table, type) ? table[type] : undefined;
  if (!isJsonObject(content)) {
    out.content = {};
    return out;
  }
  const newContent: JsonObject = {};
  if (rule === "all") {
    Object.assign(newContent, content);
  } else if (rule !== undefined) {
    for (const key of rule) {
      const v = getOwn(content, key);
      if (v !== undefined) newContent[key] = v;
    }
  }
  // v11: m.room.member also keeps `third_party_invite.signed`.
  if (rules === "v11" && type === "m.room.member") {
    const tpi = getOwn(content, "third_party_invite");
    if (isJsonObject(tpi)) {
      const signed = getOwn(tpi, "signed");
      if (signed !== undefined) newContent.third_party_invite = { signed };
    }
  }
  out.content = newContent;
  return out;
}
