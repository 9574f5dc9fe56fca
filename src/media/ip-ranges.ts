import { isIP } from "node:net";

/**
 * IP ranges for the URL-preview SSRF guard. Addresses are compared as bytes, so
 * the spellings an attacker may choose (IPv4-mapped IPv6, NAT64, compressed
 * forms) all land on the same rule.
 */

export interface IpRange {
  bytes: Uint8Array;
  prefix: number;
  text: string;
}

/** Refused by default: loopback, private, link-local, CGNAT, multicast, reserved, documentation, ULA. */
export const DEFAULT_DENIED_RANGES: readonly string[] = [
  "0.0.0.0/8",
  "10.0.0.0/8",
  "100.64.0.0/10",
  "127.0.0.0/8",
  "169.254.0.0/16",
  "172.16.0.0/12",
  "192.0.0.0/24",
  "192.0.2.0/24",
  "192.88.99.0/24",
  "192.168.0.0/16",
  "198.18.0.0/15",
  "198.51.100.0/24",
  "203.0.113.0/24",
  "224.0.0.0/4",
  "240.0.0.0/4",
  "::/128",
  "::1/128",
  "100::/64",
  "2001:db8::/32",
  "fc00::/7",
  "fe80::/10",
  "fec0::/10",
  "ff00::/8",
];

function parseV4(text: string): Uint8Array | null {
  const parts = text.split(".");
  if (parts.length !== 4) return null;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!;
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) return null;
    out[i] = Number(p);
  }
  return out;
}

function parseV6(text: string): Uint8Array | null {
  let s = text;
  const zone = s.indexOf("%");
  if (zone >= 0) s = s.slice(0, zone);
  let tail: Uint8Array | null = null;
  const lastColon = s.lastIndexOf(":");
  if (s.slice(lastColon + 1).includes(".")) {
    tail = parseV4(s.slice(lastColon + 1));
    if (!tail) return null;
    s = s.slice(0, lastColon + 1) + "0:0";
  }
  const halves = s.split("::");
  if (halves.length > 2) return null;
  const head = halves[0] ? halves[0].split(":") : [];
  const rest = halves.length === 2 && halves[1] ? halves[1].split(":") : [];
  const missing = 8 - head.length - rest.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return null;
  const groups = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill("0"), ...rest];
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    const g = groups[i]!;
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
    const v = parseInt(g, 16);
    out[i * 2] = v >> 8;
    out[i * 2 + 1] = v & 0xff;
  }
  if (tail) out.set(tail, 12);
  return out;
}

/** Parses an IPv4 or IPv6 literal (brackets allowed) to 4 or 16 bytes, or null. */
export function parseIp(text: string): Uint8Array | null {
  const t = text.startsWith("[") && text.endsWith("]") ? text.slice(1, -1) : text;
  const kind = isIP(t.split("%")[0]!);
  if (kind === 4) return parseV4(t);
  if (kind === 6) return parseV6(t);
  return null;
}

export function parseRange(text: string): IpRange {
  const [addr, prefixText] = text.split("/");
  const bytes = parseIp(addr ?? "");
  if (!bytes) throw new Error(`not an IP range: ${text}`);
  const max = bytes.length * 8;
  const prefix = prefixText === undefined ? max : Number(prefixText);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > max || (prefixText !== undefined && !/^\d+$/.test(prefixText))) {
    throw new Error(`bad prefix length in IP range: ${text}`);
  }
  return { bytes, prefix, text };
}

export function isValidRange(text: string): boolean {
  try {
    parseRange(text);
    return true;
  } catch {
    return false;
  }
}

function inRange(ip: Uint8Array, range: IpRange): boolean {
  if (ip.length !== range.bytes.length) return false;
  let bits = range.prefix;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((ip[i]! & mask) !== (range.bytes[i]! & mask)) return false;
  }
  return true;
}

const zeros = (b: Uint8Array, from: number, to: number) => b.subarray(from, to).every((x) => x === 0);

/**
 * The IPv4 address an IPv6 address stands for, where it embeds one that a
 * router or the kernel will actually use: IPv4-mapped (::ffff:a.b.c.d),
 * IPv4-compatible (::a.b.c.d, deprecated but still routed by some stacks),
 * NAT64 (64:ff9b::/96) and 6to4 (2002:AABB:CCDD::/16).
 */
export function embeddedIpv4(ip: Uint8Array): Uint8Array | null {
  if (ip.length !== 16) return null;
  if (zeros(ip, 0, 10) && ip[10] === 0xff && ip[11] === 0xff) return ip.slice(12);
  if (zeros(ip, 0, 12) && !zeros(ip, 12, 15)) return ip.slice(12);
  if (ip[0] === 0x00 && ip[1] === 0x64 && ip[2] === 0xff && ip[3] === 0x9b && zeros(ip, 4, 12)) return ip.slice(12);
  if (ip[0] === 0x20 && ip[1] === 0x02) return ip.slice(2, 6);
  return null;
}

/** Decides whether outbound connections may go to an address: allow-list first, then deny-list. */
export class IpPolicy {
  private readonly allow: IpRange[];
  private readonly deny: IpRange[];

  constructor(opts: { allow: readonly string[]; deny: readonly string[] }) {
    this.allow = opts.allow.map(parseRange);
    this.deny = opts.deny.map(parseRange);
  }

  private single(ip: Uint8Array): boolean {
    if (this.allow.some((r) => inRange(ip, r))) return true;
    return !this.deny.some((r) => inRange(ip, r));
  }

  /** True when the address (and any IPv4 address it embeds) is permitted. Unparseable input is refused. */
  permits(address: string): boolean {
    const ip = parseIp(address);
    if (!ip) return false;
    if (!this.single(ip)) return false;
    const v4 = embeddedIpv4(ip);
    return v4 ? this.single(v4) : true;
  }
}
