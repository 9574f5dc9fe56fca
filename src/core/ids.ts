/**
 * Identifier grammar (appendix "Identifier Grammar"): server names, user ids
 * (with the historical grammar), room ids (with and without a domain), event
 * ids per room-version format, room aliases, device ids, room versions.
 */
import { isIPv6 } from "node:net";

export const MAX_ID_BYTES = 255;

export function utf8Length(s: string): number {
  return Buffer.byteLength(s, "utf8");
}

export interface ServerName {
  readonly host: string;
  readonly port: number | undefined;
  readonly kind: "dns" | "ipv4" | "ipv6";
}

const DNS_NAME = /^[A-Za-z0-9.-]{1,255}$/;
const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
const IPV6_CHARS = /^[0-9A-Fa-f:.]{2,45}$/;
const PORT = /^\d{1,5}$/;

/** Parses `hostname [ ":" port ]` (appendix "Server Name"). */
export function parseServerName(name: string): ServerName | undefined {
  let host: string;
  let portText: string | undefined;
  let kind: ServerName["kind"];
  if (name.startsWith("[")) {
    const close = name.indexOf("]");
    if (close < 0) return undefined;
    host = name.slice(0, close + 1);
    const inner = name.slice(1, close);
    // RFC 3513 section 2.2 literal; zone ids ("%eth0") are not in the grammar.
    if (!IPV6_CHARS.test(inner) || !isIPv6(inner)) return undefined;
    const rest = name.slice(close + 1);
    if (rest !== "") {
      if (!rest.startsWith(":")) return undefined;
      portText = rest.slice(1);
    }
    kind = "ipv6";
  } else {
    const colon = name.lastIndexOf(":");
    host = colon >= 0 ? name.slice(0, colon) : name;
    if (colon >= 0) portText = name.slice(colon + 1);
    const m = IPV4.exec(host);
    if (m !== null) {
      if (m.slice(1).some((octet) => Number(octet) > 255)) return undefined;
      kind = "ipv4";
    } else {
      if (!DNS_NAME.test(host)) return undefined;
      kind = "dns";
    }
  }
  let port: number | undefined;
  if (portText !== undefined) {
    if (!PORT.test(portText)) return undefined;
    port = Number(portText);
  }
  return { host, port, kind };
}

export function isValidServerName(name: string): boolean {
  return parseServerName(name) !== undefined;
}

/** Splits `sigil localpart ":" server_name` at the first colon. */
function splitSigiled(id: string, sigil: string): { localpart: string; serverName: string } | undefined {
  if (!id.startsWith(sigil)) return undefined;
  const colon = id.indexOf(":");
  if (colon < 0) return undefined;
  const serverName = id.slice(colon + 1);
  if (!isValidServerName(serverName)) return undefined;
  return { localpart: id.slice(1, colon), serverName };
}

const STRICT_LOCALPART = /^[a-z0-9._=\-/+]+$/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

// Historical grammar: any non-surrogate code point except ":" and NUL, even empty.
function isHistoricalOpaque(localpart: string): boolean {
  // Paired surrogates are astral code points and allowed; lone ones are not.
  return !localpart.includes(":") && !localpart.includes("\u0000") && !LONE_SURROGATE.test(localpart);
}

export interface UserId {
  readonly localpart: string;
  readonly serverName: string;
  /** False for ids only the "Historical User IDs" grammar accepts. */
  readonly compliant: boolean;
}

/**
 * Parses a user id. `historical: true` (the default, since servers MUST accept
 * such ids in events over federation) also accepts old localparts; use
 * `historical: false` when allocating new ids.
 */
export function parseUserId(id: string, options: { historical?: boolean } = {}): UserId | undefined {
  if (utf8Length(id) > MAX_ID_BYTES) return undefined;
  const parts = splitSigiled(id, "@");
  if (parts === undefined) return undefined;
  const compliant = STRICT_LOCALPART.test(parts.localpart);
  if (!compliant) {
    if (options.historical === false) return undefined;
    if (!isHistoricalOpaque(parts.localpart)) return undefined;
  }
  return { ...parts, compliant };
}

export function isValidUserId(id: string, options: { historical?: boolean } = {}): boolean {
  return parseUserId(id, options) !== undefined;
}

export function isValidUserLocalpart(localpart: string): boolean {
  return STRICT_LOCALPART.test(localpart);
}

/** The server part of a user id, room id (pre-v12), alias or v1/v2 event id. */
export function serverNameOf(id: string): string | undefined {
  const colon = id.indexOf(":");
  return colon < 0 ? undefined : id.slice(colon + 1);
}

export interface RoomId {
  readonly opaque: string;
  /** Undefined for v12 room ids, which are the create event's reference hash. */
  readonly serverName: string | undefined;
}

const HASH_ID_URLSAFE = /^[A-Za-z0-9_-]{43}$/;
const HASH_ID_STD = /^[A-Za-z0-9+/]{43}$/;

/**
 * Parses a room id in either format (appendix "Room IDs"). A v12 room id has no
 * domain: it is the create event's id with `!` for `$`.
 */
export function parseRoomId(id: string): RoomId | undefined {
  if (!id.startsWith("!") || utf8Length(id) > MAX_ID_BYTES) return undefined;
  if (!id.includes(":")) {
    const opaque = id.slice(1);
    return HASH_ID_URLSAFE.test(opaque) ? { opaque, serverName: undefined } : undefined;
  }
  const parts = splitSigiled(id, "!");
  if (parts === undefined || !isHistoricalOpaque(parts.localpart)) return undefined;
  return { opaque: parts.localpart, serverName: parts.serverName };
}

export function isValidRoomId(id: string): boolean {
  return parseRoomId(id) !== undefined;
}

export interface RoomAlias {
  readonly localpart: string;
  readonly serverName: string;
}

export function parseRoomAlias(alias: string): RoomAlias | undefined {
  if (utf8Length(alias) > MAX_ID_BYTES) return undefined;
  const parts = splitSigiled(alias, "#");
  if (parts === undefined || !isHistoricalOpaque(parts.localpart)) return undefined;
  return parts;
}

export function isValidRoomAlias(alias: string): boolean {
  return parseRoomAlias(alias) !== undefined;
}

/** Event id formats: v1-v2 `$opaque:domain`, v3 base64 hash, v4+ URL-safe base64 hash. */
export type EventIdFormat = "v1" | "v3" | "v4";

export function isValidEventId(id: string, format?: EventIdFormat): boolean {
  if (!id.startsWith("$") || utf8Length(id) > MAX_ID_BYTES) return false;
  const body = id.slice(1);
  switch (format) {
    case "v1": {
      const parts = splitSigiled(id, "$");
      return parts !== undefined && isHistoricalOpaque(parts.localpart);
    }
    case "v3":
      return HASH_ID_STD.test(body);
    case "v4":
      return HASH_ID_URLSAFE.test(body);
    case undefined:
      return isValidEventId(id, "v1") || HASH_ID_STD.test(body) || HASH_ID_URLSAFE.test(body);
  }
}

/**
 * Device ids are opaque strings in the spec; we require them to be non-empty,
 * free of control characters and at most 255 bytes so they fit in keys and paths.
 */
export function isValidDeviceId(id: string): boolean {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point: a device id must not contain them.
  return id.length > 0 && utf8Length(id) <= MAX_ID_BYTES && !/[\u0000-\u001f\u007f]/.test(id);
}

/** Room version grammar (rooms "Room version grammar"): 1-32 of [a-z0-9.-]. */
export function isValidRoomVersionId(version: string): boolean {
  return /^[a-z0-9.-]{1,32}$/.test(version);
}

/** Common Namespaced Identifier Grammar (appendix, added in v1.2). */
export function isValidNamespacedIdentifier(id: string): boolean {
  return /^[a-z][a-z0-9._-]{0,254}$/.test(id);
}

/** Opaque Identifier Grammar (appendix "Opaque Identifiers"). */
export function isValidOpaqueIdentifier(id: string, maxLength = 255): boolean {
  return id.length >= 1 && id.length <= maxLength && /^[0-9A-Za-z._~-]+$/.test(id);
}
