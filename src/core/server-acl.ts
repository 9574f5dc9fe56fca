/**
 * Client-server "Server Access Control Lists (ACLs) for rooms": whether a
 * server may take part in a room, from the content of the room's
 * `m.room.server_acl` state event.
 */
import { getOwn, isJsonObject, type JsonObject } from "./json.js";
import { globMatch } from "./push-rules.js";

export interface ServerAcl {
  readonly allow: readonly string[];
  readonly deny: readonly string[];
  readonly allowIpLiterals: boolean;
}

/** Patterns longer than any server name cannot be meant; they are ignored rather than matched slowly. */
const MAX_PATTERN_CHARS = 512;
/** Bounds the work per check for an ACL with absurdly many entries. */
const MAX_ENTRIES = 1000;

function patterns(v: unknown): string[] {
  if (!Array.isArray(v)) return [];
  const out: string[] = [];
  for (const p of v) {
    if (typeof p === "string" && p.length <= MAX_PATTERN_CHARS) out.push(p);
    if (out.length >= MAX_ENTRIES) break;
  }
  return out;
}

/**
 * The ACL an `m.room.server_acl` content describes. Per the event schema:
 * `allow` and `deny` default to empty lists (entries that are not strings are
 * ignored), `allow_ip_literals` defaults to true "if missing or otherwise not
 * a boolean".
 */
export function parseServerAcl(content: JsonObject | undefined): ServerAcl | undefined {
  if (content === undefined || !isJsonObject(content)) return undefined;
  const ip = getOwn(content, "allow_ip_literals");
  return { allow: patterns(getOwn(content, "allow")), deny: patterns(getOwn(content, "deny")), allowIpLiterals: typeof ip === "boolean" ? ip : true };
}

/** The host part of a server name: "the suspect server's port number must not be considered". */
export function serverNameHost(serverName: string): string {
  if (serverName.startsWith("[")) {
    const close = serverName.indexOf("]");
    return close < 0 ? serverName : serverName.slice(0, close + 1);
  }
  const colon = serverName.lastIndexOf(":");
  return colon < 0 ? serverName : serverName.slice(0, colon);
}

const IPV4 = /^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/;

function isIpLiteral(host: string): boolean {
  return IPV4.test(host) || (host.startsWith("[") && host.endsWith("]"));
}

/**
 * The order of the `m.room.server_acl` schema: 1. no ACL, allow; 2. an IP
 * literal with `allow_ip_literals` false, deny; 3. matches `deny`, deny;
 * 4. matches `allow`, allow; 5. otherwise deny. Globs ("Glob-style
 * matching": `*` and `?`) are case-insensitive and see the name without its
 * port.
 */
export function serverAclAllows(acl: ServerAcl | undefined, serverName: string): boolean {
  if (acl === undefined) return true;
  const host = serverNameHost(serverName).toLowerCase();
  if (!acl.allowIpLiterals && isIpLiteral(host)) return false;
  if (acl.deny.some((p) => globMatch(host, p, false))) return false;
  return acl.allow.some((p) => globMatch(host, p, false));
}
