import { lookup as dnsLookup } from "node:dns";
import { isIP } from "node:net";
import { Agent, buildConnector, request, type Dispatcher } from "undici";
import type { IpPolicy } from "./ip-ranges.js";

/**
 * Outbound HTTP for URL previews that cannot be turned into a proxy into the
 * admin's network. The address is checked where the socket is opened, on the
 * IP actually dialled (so a DNS answer that changes between a check and the
 * connect, "DNS rebinding", cannot slip through), and every redirect hop
 * opens its own checked connection.
 */

export type Resolver = (hostname: string) => Promise<string[]>;

export const systemResolver: Resolver = (hostname) =>
  new Promise((resolve, reject) => {
    dnsLookup(hostname, { all: true, verbatim: true }, (err, addrs) => (err ? reject(err) : resolve(addrs.map((a) => a.address))));
  });

export class BlockedAddressError extends Error {
  constructor(readonly host: string) {
    super(`address of ${host} is not allowed`);
    this.name = "BlockedAddressError";
  }
}

export class FetchLimitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FetchLimitError";
  }
}

export interface SafeFetcherOptions {
  policy: IpPolicy;
  resolver?: Resolver;
  /** Whole-request budget per hop chain. */
  timeoutMs: number;
  maxBytes: number;
  maxRedirects?: number;
  userAgent?: string;
  /** Certificate checks for https URLs (default: the system's CAs, verified). */
  tls?: { rejectUnauthorized: boolean; ca?: string[] };
}

export interface FetchedResponse {
  /** The final URL after redirects. */
  url: string;
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

function stripBrackets(host: string): string {
  return host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
}

/** Resolves a host and keeps only the addresses the policy permits; none left -> BlockedAddressError. */
export async function resolvePermitted(host: string, policy: IpPolicy, resolver: Resolver): Promise<string[]> {
  const bare = stripBrackets(host);
  const addrs = isIP(bare) ? [bare] : await resolver(bare);
  const ok = addrs.filter((a) => policy.permits(a));
  if (ok.length === 0) throw new BlockedAddressError(bare);
  return ok;
}

export class SafeFetcher {
  private readonly agent: Agent;
  private readonly resolver: Resolver;

  constructor(private readonly opts: SafeFetcherOptions) {
    this.resolver = opts.resolver ?? systemResolver;
    const base = buildConnector({ timeout: opts.timeoutMs, ...opts.tls });
    const connect: buildConnector.connector = (o, cb) => {
      resolvePermitted(o.hostname, opts.policy, this.resolver).then(
        (addrs) => {
          const original = stripBrackets(o.hostname);
          // Dial the checked IP; SNI and certificate checks keep the original name.
          base({ ...o, hostname: addrs[0]!, servername: o.servername ?? (isIP(original) ? undefined : original) }, cb);
        },
        (err: Error) => cb(err, null),
      );
    };
    this.agent = new Agent({ connect, connections: 16, keepAliveTimeout: 5_000 });
  }

  async close(): Promise<void> {
    await this.agent.close();
  }

  /** GETs a URL, following up to maxRedirects redirects, reading at most maxBytes. */
  async get(url: string, opts: { accept?: string; maxBytes?: number; timeoutMs?: number } = {}): Promise<FetchedResponse> {
    const accept = opts.accept ?? "*/*";
    const maxBytes = opts.maxBytes ?? this.opts.maxBytes;
    const timeoutMs = opts.timeoutMs ?? this.opts.timeoutMs;
    const signal = AbortSignal.timeout(timeoutMs);
    let current = new URL(url);
    for (let hop = 0; ; hop++) {
      if (current.protocol !== "http:" && current.protocol !== "https:") throw new FetchLimitError(`unsupported URL scheme ${current.protocol}`);
      if (current.username || current.password) throw new FetchLimitError("URLs with credentials are not fetched");
      const res: Dispatcher.ResponseData = await request(current, {
        dispatcher: this.agent,
        method: "GET",
        signal,
        headers: { "user-agent": this.opts.userAgent ?? "matrix-homeserver-ts URL preview", accept, "accept-language": "en" },
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
      // Abandoned bodies (redirects, over-size) report their abort as an error event.
      res.body.on("error", () => {});
      const location = res.headers.location;
      if (res.statusCode >= 300 && res.statusCode < 400 && location) {
        res.body.resume();
        if (hop >= (this.opts.maxRedirects ?? 5)) throw new FetchLimitError("too many redirects");
        current = new URL(Array.isArray(location) ? location[0]! : location, current);
        continue;
      }
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(", ") : v;
      const declared = Number(headers["content-length"]);
      if (Number.isFinite(declared) && declared > maxBytes) {
        res.body.destroy();
        throw new FetchLimitError("response too large");
      }
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > maxBytes) {
          res.body.destroy();
          throw new FetchLimitError("response too large");
        }
        chunks.push(chunk);
      }
      return { url: current.toString(), status: res.statusCode, headers, body: Buffer.concat(chunks, size) };
    }
  }
}
