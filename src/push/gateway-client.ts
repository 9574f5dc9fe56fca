import { isIP } from "node:net";
import { Agent, buildConnector, request } from "undici";
import type { IpPolicy } from "../media/ip-ranges.js";
import { resolvePermitted, systemResolver, type Resolver } from "../media/safe-fetch.js";

export interface GatewayClientOptions {
  policy: IpPolicy;
  timeoutMs: number;
  /** Largest response body read (a gateway answers `{"rejected": [...]}`). */
  maxResponseBytes: number;
  resolver?: Resolver;
}

export interface GatewayAnswer {
  status: number;
  /** Pushkeys the gateway rejected (push gateway API: "Homeservers must cease sending ... and remove the associated pushers"). */
  rejected: string[];
}

export class GatewayError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "GatewayError";
  }
}

function stripBrackets(host: string): string {
  return host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
}

/**
 * POSTs notifications to push gateways (push gateway API `/_matrix/push/v1/notify`).
 * A gateway URL is chosen by a client, so the request goes through the same
 * address checks as URL previews: every resolved address is checked where the
 * socket is opened (no DNS rebinding), redirects are never followed (a 3xx is
 * a failure), the whole request has a deadline and the answer a size limit.
 */
export class GatewayClient {
  private readonly agent: Agent;

  constructor(private readonly opts: GatewayClientOptions) {
    const resolver = opts.resolver ?? systemResolver;
    const base = buildConnector({ timeout: opts.timeoutMs });
    const connect: buildConnector.connector = (o, cb) => {
      resolvePermitted(o.hostname, opts.policy, resolver).then(
        (addrs) => {
          const original = stripBrackets(o.hostname);
          base({ ...o, hostname: addrs[0]!, servername: o.servername ?? (isIP(original) ? undefined : original) }, cb);
        },
        (err: Error) => cb(err, null),
      );
    };
    this.agent = new Agent({ connect, connections: 8, keepAliveTimeout: 10_000 });
  }

  async close(): Promise<void> {
    await this.agent.close();
  }

  /** Sends one notify request; throws GatewayError (or a network error) when it did not succeed. */
  async notify(url: string, body: unknown, signal?: AbortSignal): Promise<GatewayAnswer> {
    const target = new URL(url);
    if (target.protocol !== "https:" && target.protocol !== "http:") throw new GatewayError("unsupported URL scheme");
    if (target.username || target.password) throw new GatewayError("gateway URLs with credentials are refused");
    const deadline = AbortSignal.timeout(this.opts.timeoutMs);
    const res = await request(target, {
      dispatcher: this.agent,
      method: "POST",
      signal: signal ? AbortSignal.any([signal, deadline]) : deadline,
      headers: { "content-type": "application/json", "user-agent": "matrix-homeserver-ts pusher" },
      body: JSON.stringify(body),
      headersTimeout: this.opts.timeoutMs,
      bodyTimeout: this.opts.timeoutMs,
    });
    res.body.on("error", () => {});
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > this.opts.maxResponseBytes) {
        res.body.destroy();
        throw new GatewayError("push gateway answer too large");
      }
      chunks.push(chunk);
    }
    // "If the endpoint returns an HTTP error code, the homeserver SHOULD retry ... using exponential backoff."
    if (res.statusCode < 200 || res.statusCode >= 300) throw new GatewayError(`push gateway answered HTTP ${res.statusCode}`);
    let rejected: string[] = [];
    try {
      const parsed = JSON.parse(Buffer.concat(chunks, size).toString("utf8")) as { rejected?: unknown };
      if (Array.isArray(parsed.rejected)) rejected = parsed.rejected.filter((k): k is string => typeof k === "string");
    } catch {
      // A 200 without a JSON body still delivered the notification.
    }
    return { status: res.statusCode, rejected };
  }
}
