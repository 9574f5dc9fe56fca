/**
 * HTTPS to other homeservers: server names resolved as "Resolving server
 * names" says, one pooled undici agent per destination, TLS with SNI and
 * certificate checks (server-server "TLS"), and the address actually dialled
 * checked against the private-address policy where the socket is opened (as
 * the URL-preview fetcher does), so DNS rebinding cannot reach the admin's
 * network.
 */
import { resolveSrv } from "node:dns/promises";
import { isIP } from "node:net";
import { rootCertificates } from "node:tls";
import { Agent, buildConnector, request } from "undici";
import { DEFAULT_DENIED_RANGES, IpPolicy } from "../media/ip-ranges.js";
import { BlockedAddressError, resolvePermitted, systemResolver, type Resolver } from "../media/safe-fetch.js";
import { cacheControlMaxAgeMs, ServerNameResolver, type ResolvedServer, type SrvRecord, type WellKnownResult } from "./resolve.js";

export interface TransportOptions {
  verifyTls: boolean;
  /** Extra CA certificate(s), PEM, trusted besides the system's. */
  ca?: string;
  allowPrivateAddresses: boolean;
  connectTimeoutMs?: number;
  requestTimeoutMs?: number;
  /** Largest response body read. */
  maxResponseBytes?: number;
  resolver?: Resolver;
  srv?: (name: string) => Promise<SrvRecord[]>;
  now?: () => number;
}

export interface TransportResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

export class TransportError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "TransportError";
  }
}

const MAX_AGENTS = 2_000;

const bracket = (host: string) => (isIP(host) === 6 ? `[${host}]` : host);

export class FederationTransport {
  readonly names: ServerNameResolver;
  private readonly agents = new Map<string, Agent>();
  private readonly policy: IpPolicy;
  private readonly dns: Resolver;
  private readonly tlsOptions: { rejectUnauthorized: boolean; ca?: string[] };
  private readonly wellKnownAgent: Agent;

  constructor(private readonly o: TransportOptions) {
    this.policy = new IpPolicy({ allow: [], deny: o.allowPrivateAddresses ? [] : DEFAULT_DENIED_RANGES });
    this.dns = o.resolver ?? systemResolver;
    this.tlsOptions = { rejectUnauthorized: o.verifyTls, ...(o.ca ? { ca: [...rootCertificates, o.ca] } : {}) };
    const srv =
      o.srv ?? (async (name: string) => (await resolveSrv(name)).map((r) => ({ name: r.name, port: r.port, priority: r.priority, weight: r.weight })));
    this.names = new ServerNameResolver({ srv, wellKnown: (h) => this.fetchWellKnown(h), now: o.now ?? Date.now });
    // Well-known lookups dial the hostname itself on 443 (plain HTTPS), checked the same way.
    this.wellKnownAgent = this.makeAgent(undefined);
  }

  async close(): Promise<void> {
    const all = [...this.agents.values(), this.wellKnownAgent];
    this.agents.clear();
    await Promise.all(all.map((a) => a.close().catch(() => undefined)));
  }

  /** One agent (a pool of keep-alive connections) per destination, dialling what resolution gave. */
  private makeAgent(target: ResolvedServer | undefined): Agent {
    const base = buildConnector({ ...this.tlsOptions, timeout: this.o.connectTimeoutMs ?? 10_000 });
    const connect: buildConnector.connector = (opts, cb) => {
      const dialHost = target?.dialHost ?? opts.hostname;
      const tlsName = target?.tlsName ?? opts.hostname;
      resolvePermitted(dialHost, this.policy, this.dns).then(
        (addrs) => {
          // "SNI should be sent for the certificate which is expected, unless that
          // certificate is expected to be an IP address." The check uses tlsName.
          const sni = isIP(tlsName) ? undefined : tlsName;
          base(
            {
              ...opts,
              hostname: addrs[0]!,
              port: String(target?.port ?? opts.port),
              servername: sni,
            },
            cb,
          );
        },
        (err: Error) => cb(err, null),
      );
    };
    return new Agent({ connect, connections: 8, keepAliveTimeout: 30_000, pipelining: 1 });
  }

  private agentFor(serverName: string, target: ResolvedServer): Agent {
    const key = `${serverName} ${target.dialHost} ${target.port} ${target.tlsName}`;
    let agent = this.agents.get(key);
    if (agent === undefined) {
      if (this.agents.size >= MAX_AGENTS) {
        const [oldestKey, oldest] = this.agents.entries().next().value as [string, Agent];
        this.agents.delete(oldestKey);
        void oldest.close().catch(() => undefined);
      }
      agent = this.makeAgent(target);
      this.agents.set(key, agent);
    }
    return agent;
  }

  /** One request to a homeserver; `pathAndQuery` starts with `/_matrix/`. */
  async request(
    serverName: string,
    method: string,
    pathAndQuery: string,
    opts: { headers?: Record<string, string>; body?: string; maxBytes?: number; signal?: AbortSignal } = {},
  ): Promise<TransportResponse> {
    let target: ResolvedServer;
    try {
      target = await this.names.resolve(serverName);
    } catch (err) {
      throw new TransportError(`cannot resolve ${serverName}: ${(err as Error).message}`, { cause: err });
    }
    const agent = this.agentFor(serverName, target);
    const url = `https://${bracket(target.tlsName)}:${target.port}${pathAndQuery}`;
    try {
      return await this.send(agent, url, method, { ...opts.headers, host: target.hostHeader }, opts.body, opts.maxBytes, opts.signal);
    } catch (err) {
      this.names.forget(serverName);
      if (err instanceof TransportError) throw err;
      if (err instanceof BlockedAddressError) throw new TransportError(`${serverName}: ${err.message}`, { cause: err });
      throw new TransportError(`request to ${serverName} failed: ${(err as Error).message}`, { cause: err });
    }
  }

  private async send(
    agent: Agent,
    url: string,
    method: string,
    headers: Record<string, string>,
    body: string | undefined,
    maxBytes = this.o.maxResponseBytes ?? 20 * 1024 * 1024,
    abort?: AbortSignal,
  ): Promise<TransportResponse> {
    const timeout = this.o.requestTimeoutMs ?? 30_000;
    const timer = AbortSignal.timeout(timeout);
    const res = await request(url, {
      dispatcher: agent,
      method: method as "GET",
      headers,
      body,
      // The caller's signal (a sender stopping) ends the request as the timeout does.
      signal: abort ? AbortSignal.any([timer, abort]) : timer,
      headersTimeout: timeout,
      bodyTimeout: timeout,
    });
    res.body.on("error", () => {});
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(", ") : v;
    const declared = Number(out["content-length"]);
    if (Number.isFinite(declared) && declared > maxBytes) {
      res.body.destroy();
      throw new TransportError("response too large");
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > maxBytes) {
        res.body.destroy();
        throw new TransportError("response too large");
      }
      chunks.push(chunk);
    }
    return { status: res.statusCode, headers: out, body: Buffer.concat(chunks, size) };
  }

  /** Step 3: `https://<hostname>/.well-known/matrix/server`, 30x followed, loops avoided. */
  private async fetchWellKnown(hostname: string): Promise<WellKnownResult> {
    let url = new URL(`https://${bracket(hostname)}/.well-known/matrix/server`);
    const seen = new Set<string>();
    for (let hop = 0; hop < 5; hop++) {
      if (url.protocol !== "https:") return { body: undefined };
      seen.add(url.href);
      const res = await this.send(this.wellKnownAgent, url.href, "GET", { accept: "application/json" }, undefined, 64 * 1024);
      const location = res.headers.location;
      if (res.status >= 300 && res.status < 400 && location) {
        url = new URL(location, url);
        if (seen.has(url.href)) return { body: undefined };
        continue;
      }
      if (res.status !== 200) return { body: undefined };
      let body: unknown;
      try {
        body = JSON.parse(res.body.toString("utf8"));
      } catch {
        body = undefined;
      }
      return { body, maxAgeMs: cacheControlMaxAgeMs(res.headers) };
    }
    return { body: undefined };
  }
}
