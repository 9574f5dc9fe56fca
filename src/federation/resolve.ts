/**
 * Server-server "Resolving server names": from a server name to the address
 * to dial, the Host header and the name the certificate must be valid for.
 */
import { parseServerName } from "../core/index.js";

export interface ResolvedServer {
  /** Hostname or IP literal (no brackets) to look up and dial. */
  dialHost: string;
  port: number;
  /** The `Host` header of requests. */
  hostHeader: string;
  /** The name the certificate must be valid for; an IP literal means no SNI. */
  tlsName: string;
}

export interface SrvRecord {
  name: string;
  port: number;
  priority: number;
  weight: number;
}

export interface WellKnownResult {
  /** The parsed body of a 200 response, or undefined for any error. */
  body: unknown;
  /** From the response's Cache-Control / Expires, if it said. */
  maxAgeMs?: number;
}

export interface ResolverDeps {
  /** SRV lookup; resolves to [] (or throws) when there is none. */
  srv(name: string): Promise<SrvRecord[]>;
  /** GET https://<hostname>/.well-known/matrix/server, redirects followed. */
  wellKnown(hostname: string): Promise<WellKnownResult>;
  now: () => number;
}

const DEFAULT_PORT = 8448;
// "The recommended sensible default is 24 hours ... a maximum cache time: 48 hours
// ... Errors are recommended to be cached for up to an hour."
const WELL_KNOWN_DEFAULT_MS = 24 * 3600_000;
const WELL_KNOWN_MAX_MS = 48 * 3600_000;
const WELL_KNOWN_ERROR_MIN_MS = 2 * 60_000;
const WELL_KNOWN_ERROR_MAX_MS = 3600_000;
/** Whole resolutions (SRV answers included) are reused for at most this long. */
const RESOLUTION_CACHE_MS = 10 * 60_000;
const MAX_CACHED = 10_000;

const bare = (host: string) => (host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host);

/** Parses `Cache-Control: max-age` / `no-store`; undefined when the header says nothing usable. */
export function cacheControlMaxAgeMs(headers: Record<string, string | undefined>): number | undefined {
  const cc = headers["cache-control"];
  if (cc) {
    if (/(^|,)\s*(no-store|no-cache)\s*(,|$)/i.test(cc)) return 0;
    const m = /(^|,)\s*max-age\s*=\s*"?(\d+)"?/i.exec(cc);
    if (m) return Number(m[2]) * 1000;
  }
  const expires = headers.expires;
  if (expires) {
    const t = Date.parse(expires);
    if (Number.isFinite(t)) return Math.max(0, t - Date.now());
  }
  return undefined;
}

interface WellKnownEntry {
  delegated: string | undefined;
  expires: number;
  failures: number;
}

export class ServerNameResolver {
  private readonly wellKnownCache = new Map<string, WellKnownEntry>();
  private readonly resolved = new Map<string, { value: ResolvedServer; expires: number }>();

  constructor(private readonly d: ResolverDeps) {}

  async resolve(serverName: string): Promise<ResolvedServer> {
    const hit = this.resolved.get(serverName);
    if (hit && hit.expires > this.d.now()) return hit.value;
    const value = await this.resolveUncached(serverName);
    if (this.resolved.size >= MAX_CACHED) this.resolved.clear();
    this.resolved.set(serverName, { value, expires: this.d.now() + RESOLUTION_CACHE_MS });
    return value;
  }

  /** Forgets a server's resolution (e.g. after its connection failed). */
  forget(serverName: string): void {
    this.resolved.delete(serverName);
  }

  private async resolveUncached(serverName: string): Promise<ResolvedServer> {
    const parsed = parseServerName(serverName);
    if (parsed === undefined) throw new Error(`not a valid server name: ${serverName}`);
    const host = bare(parsed.host);
    // Step 1: an IP literal, with its port or 8448; the certificate is for the IP.
    if (parsed.kind !== "dns") return { dialHost: host, port: parsed.port ?? DEFAULT_PORT, hostHeader: serverName, tlsName: host };
    // Step 2: a hostname with an explicit port.
    if (parsed.port !== undefined) return { dialHost: host, port: parsed.port, hostHeader: serverName, tlsName: host };
    // Step 3: /.well-known/matrix/server.
    const delegated = await this.delegation(host);
    if (delegated !== undefined) {
      const d = parseServerName(delegated)!;
      const dHost = bare(d.host);
      // 3.1: an IP literal; 3.2: a hostname with a port.
      if (d.kind !== "dns" || d.port !== undefined) {
        return { dialHost: dHost, port: d.port ?? DEFAULT_PORT, hostHeader: delegated, tlsName: dHost };
      }
      // 3.3 _matrix-fed._tcp, 3.4 (deprecated) _matrix._tcp, 3.5 port 8448.
      const srv = await this.srvTarget(dHost);
      if (srv) return { dialHost: srv.name, port: srv.port, hostHeader: dHost, tlsName: dHost };
      return { dialHost: dHost, port: DEFAULT_PORT, hostHeader: dHost, tlsName: dHost };
    }
    // Steps 4 and 5: SRV records of the server name; 6: port 8448.
    const srv = await this.srvTarget(host);
    if (srv) return { dialHost: srv.name, port: srv.port, hostHeader: host, tlsName: host };
    return { dialHost: host, port: DEFAULT_PORT, hostHeader: host, tlsName: host };
  }

  private async srvTarget(hostname: string): Promise<SrvRecord | undefined> {
    for (const service of ["_matrix-fed._tcp.", "_matrix._tcp."]) {
      let records: SrvRecord[];
      try {
        records = await this.d.srv(service + hostname);
      } catch {
        records = [];
      }
      // A target of "." means the service is decidedly not available (RFC 2782).
      const usable = records.filter((r) => r.name !== "" && r.name !== "." && r.port > 0);
      if (usable.length === 0) continue;
      usable.sort((a, b) => a.priority - b.priority || b.weight - a.weight);
      const best = usable[0]!;
      return { ...best, name: best.name.replace(/\.$/, "") };
    }
    return undefined;
  }

  /** The `m.server` of the host's well-known, cached per its headers; undefined on any error. */
  private async delegation(hostname: string): Promise<string | undefined> {
    const now = this.d.now();
    const cached = this.wellKnownCache.get(hostname);
    if (cached && cached.expires > now) return cached.delegated;
    let delegated: string | undefined;
    let maxAge: number | undefined;
    try {
      const r = await this.d.wellKnown(hostname);
      const m = typeof r.body === "object" && r.body !== null && !Array.isArray(r.body) ? (r.body as Record<string, unknown>)["m.server"] : undefined;
      if (typeof m === "string" && parseServerName(m) !== undefined) delegated = m;
      maxAge = r.maxAgeMs;
    } catch {
      delegated = undefined;
    }
    const failures = delegated === undefined ? (cached?.failures ?? 0) + 1 : 0;
    const ttl =
      delegated !== undefined
        ? Math.min(maxAge ?? WELL_KNOWN_DEFAULT_MS, WELL_KNOWN_MAX_MS)
        : Math.min(WELL_KNOWN_ERROR_MIN_MS * 2 ** Math.min(failures - 1, 10), WELL_KNOWN_ERROR_MAX_MS);
    if (this.wellKnownCache.size >= MAX_CACHED) this.wellKnownCache.clear();
    this.wellKnownCache.set(hostname, { delegated, expires: now + ttl, failures });
    return delegated;
  }
}
