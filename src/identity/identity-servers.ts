import { isIP } from "node:net";
import { Agent, buildConnector } from "undici";
import type { JsonObject, SigningKey } from "../core/index.js";
import { isJsonObject, signingKeyFromSeed } from "../core/index.js";
import { signRequestHeader } from "../federation/x-matrix.js";
import { MatrixError } from "../http/errors.js";
import type { IpPolicy } from "../media/ip-ranges.js";
import { resolvePermitted, systemResolver, type Resolver } from "../media/safe-fetch.js";

export interface IdentityServersDeps {
  serverName: string;
  /** The server's signing key file (keys/signing-key.ts): signs requests made as this homeserver (X-Matrix), e.g. unbind. */
  signingKey: { keyId: string; seed: Uint8Array };
  /** identity_server.trusted_servers: when not empty, the only identity servers contacted. */
  trusted: readonly string[];
  /** Which addresses identity servers may have (identity_server.allow/deny_ip_ranges). */
  policy: IpPolicy;
  resolver?: Resolver;
  timeoutMs: number;
  /** fetch; read at call time so tests can stand in for identity servers. */
  fetch?: typeof fetch;
}

export interface IdentityRequest {
  /** The id_access_token the client gave (Bearer). */
  accessToken?: string;
  body?: JsonObject;
  /** Sign the request as this homeserver (the identity service API's "signed by the homeserver"). */
  signed?: boolean;
}

export interface IdentityResponse {
  status: number;
  /** The JSON object answered, or undefined when the body was not one. */
  json: JsonObject | undefined;
}

// Identity service answers are small; a bigger body is not read.
const MAX_RESPONSE_BYTES = 256 * 1024;
// host or IPv4, or a bracketed IPv6 literal, with an optional port (server name grammar).
const SERVER_NAME = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]{1,255})(:[0-9]{1,5})?$/;

/** The identity server could not be reached (refused address, network error, time-out). */
export class IdentityServerUnreachable extends Error {
  constructor(readonly idServer: string) {
    super(`identity server ${idServer} could not be reached`);
    this.name = "IdentityServerUnreachable";
  }
}

/**
 * The homeserver's requests to identity servers (Identity Service API v2),
 * for 3PID binds and unbinds and third-party invites. The identity server is
 * the one the client names (its `id_server`), as the client-server API's
 * flows give it, restricted to `trusted_servers` when that list is set. Every
 * connection is opened through the same SSRF guard as URL previews: the
 * address actually dialled must pass the configured IP ranges, so a client
 * cannot make the server call into the admin's network.
 */
export class IdentityServers {
  private readonly agent: Agent;
  private readonly key: SigningKey;

  constructor(private readonly d: IdentityServersDeps) {
    this.key = signingKeyFromSeed(d.signingKey.seed, d.signingKey.keyId.slice(d.signingKey.keyId.indexOf(":") + 1));
    const resolver = d.resolver ?? systemResolver;
    const base = buildConnector({ timeout: d.timeoutMs });
    const connect: buildConnector.connector = (o, cb) => {
      resolvePermitted(o.hostname, d.policy, resolver).then(
        (addrs) => {
          const original = o.hostname.replace(/^\[|\]$/g, "");
          base({ ...o, hostname: addrs[0]!, servername: o.servername ?? (isIP(original) ? undefined : original) }, cb);
        },
        (err: Error) => cb(err, null),
      );
    };
    this.agent = new Agent({ connect, connections: 8, keepAliveTimeout: 5_000 });
  }

  async close(): Promise<void> {
    await this.agent.close();
  }

  /** Refuses an id_server that is not a server name, or not trusted when a list is configured. */
  check(idServer: string): void {
    if (!SERVER_NAME.test(idServer)) throw new MatrixError(400, "M_INVALID_PARAM", "id_server must be a server name such as id.example.org");
    if (this.d.trusted.length > 0 && !this.d.trusted.includes(idServer)) {
      throw new MatrixError(400, "M_SERVER_NOT_TRUSTED", "This server does not trust that identity server");
    }
  }

  /** One request to `https://{idServer}/_matrix/identity/v2{path}`; throws IdentityServerUnreachable. */
  async request(idServer: string, method: "GET" | "POST", path: string, opts: IdentityRequest = {}): Promise<IdentityResponse> {
    this.check(idServer);
    const uri = `/_matrix/identity/v2${path}`;
    const headers: Record<string, string> = { accept: "application/json" };
    if (opts.body) headers["content-type"] = "application/json";
    if (opts.accessToken !== undefined) headers.authorization = `Bearer ${opts.accessToken}`;
    else if (opts.signed) headers.authorization = signRequestHeader(this.key, this.d.serverName, idServer, method, uri, opts.body);
    return this.send(idServer, `https://${idServer}${uri}`, method, headers, opts.body ? JSON.stringify(opts.body) : undefined);
  }

  /**
   * GET of a URL an identity server gave (a third-party invite's
   * `key_validity_url`): https only, on a host that passes `check`.
   */
  async getUrl(url: string): Promise<IdentityResponse> {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new MatrixError(400, "M_INVALID_PARAM", "Not a URL");
    }
    if (parsed.protocol !== "https:" || parsed.username || parsed.password) throw new MatrixError(400, "M_INVALID_PARAM", "Identity server URLs are https");
    this.check(parsed.host);
    return this.send(parsed.host, parsed.href, "GET", { accept: "application/json" }, undefined);
  }

  private async send(idServer: string, url: string, method: string, headers: Record<string, string>, body: string | undefined): Promise<IdentityResponse> {
    const f = this.d.fetch ?? globalThis.fetch;
    try {
      const res = await f(url, {
        method,
        headers,
        body,
        redirect: "error",
        signal: AbortSignal.timeout(this.d.timeoutMs),
        dispatcher: this.agent,
      } as unknown as RequestInit);
      return { status: res.status, json: await readJsonObject(res) };
    } catch {
      throw new IdentityServerUnreachable(idServer);
    }
  }

  /**
   * A request whose failure becomes the client's error: the identity server's
   * own Matrix error is passed through ("that error should be passed through
   * to the client"), an unreachable server is 502.
   */
  async call(idServer: string, method: "GET" | "POST", path: string, opts: IdentityRequest = {}): Promise<JsonObject> {
    let res: IdentityResponse;
    try {
      res = await this.request(idServer, method, path, opts);
    } catch (err) {
      if (err instanceof IdentityServerUnreachable) throw new MatrixError(502, "M_UNKNOWN", "The identity server could not be reached");
      throw err;
    }
    if (res.status >= 200 && res.status < 300 && res.json) return res.json;
    const errcode = typeof res.json?.errcode === "string" ? res.json.errcode : "M_UNKNOWN";
    const error = typeof res.json?.error === "string" ? res.json.error : "The identity server refused the request";
    throw new MatrixError(res.status === 401 || res.status === 403 ? 403 : res.status >= 400 && res.status < 500 ? 400 : 502, errcode, error);
  }
}

async function readJsonObject(res: Response): Promise<JsonObject | undefined> {
  const declared = Number(res.headers.get("content-length"));
  if (Number.isFinite(declared) && declared > MAX_RESPONSE_BYTES) {
    await res.body?.cancel();
    return undefined;
  }
  const reader = res.body?.getReader();
  if (!reader) return undefined;
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > MAX_RESPONSE_BYTES) {
      await reader.cancel();
      return undefined;
    }
    chunks.push(value);
  }
  try {
    const json: unknown = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    return isJsonObject(json) ? json : undefined;
  } catch {
    return undefined;
  }
}
