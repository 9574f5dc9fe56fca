/**
 * Requests to other homeservers: JSON bodies, signed with this server's key
 * as server-server "Request Authentication" says, errors as FederationError.
 */
import type { JsonObject, JsonValue, SigningKey } from "../core/index.js";
import type { FederationTransport } from "./transport.js";
import { signRequestHeader } from "./x-matrix.js";

/** The destination answered with a non-2xx status (or something that is not JSON). */
export class FederationError extends Error {
  constructor(
    readonly destination: string,
    readonly status: number,
    readonly errcode: string | undefined,
    message: string,
  ) {
    super(message);
    this.name = "FederationError";
  }
}

export interface RequestOptions {
  query?: Record<string, string | number | boolean | readonly string[] | undefined>;
  /** Skip the X-Matrix header (server key requests are not authenticated). */
  unsigned?: boolean;
  maxBytes?: number;
  /** Aborts the request (a sender that stops). */
  signal?: AbortSignal;
}

export function encodeQuery(query: RequestOptions["query"]): string {
  if (!query) return "";
  const parts: string[] = [];
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined) continue;
    const values = Array.isArray(v) ? v : [v];
    for (const x of values) parts.push(`${encodeURIComponent(k)}=${encodeURIComponent(String(x))}`);
  }
  return parts.length ? `?${parts.join("&")}` : "";
}

export class FederationClient {
  constructor(
    private readonly transport: FederationTransport,
    private readonly serverName: string,
    private readonly key: SigningKey,
  ) {}

  get(destination: string, path: string, opts?: RequestOptions): Promise<JsonObject> {
    return this.request(destination, "GET", path, undefined, opts);
  }

  put(destination: string, path: string, body: JsonObject, opts?: RequestOptions): Promise<JsonObject> {
    return this.request(destination, "PUT", path, body, opts);
  }

  post(destination: string, path: string, body: JsonObject, opts?: RequestOptions): Promise<JsonObject> {
    return this.request(destination, "POST", path, body, opts);
  }

  /**
   * `path` is the exact path with percent-encoded segments; the query is
   * appended here, and the signed `uri` is path plus query exactly as sent.
   */
  async request(destination: string, method: string, path: string, body: JsonValue | undefined, opts: RequestOptions = {}): Promise<JsonObject> {
    const uri = path + encodeQuery(opts.query);
    const headers: Record<string, string> = { accept: "application/json" };
    let text: string | undefined;
    if (body !== undefined) {
      text = JSON.stringify(body);
      headers["content-type"] = "application/json";
    }
    if (!opts.unsigned) headers.authorization = signRequestHeader(this.key, this.serverName, destination, method, uri, body);
    const res = await this.transport.request(destination, method, uri, { headers, body: text, maxBytes: opts.maxBytes, signal: opts.signal });
    let json: unknown;
    try {
      json = JSON.parse(res.body.toString("utf8"));
    } catch {
      json = undefined;
    }
    const obj = typeof json === "object" && json !== null && !Array.isArray(json) ? (json as JsonObject) : undefined;
    if (res.status < 200 || res.status >= 300) {
      const errcode = typeof obj?.errcode === "string" ? obj.errcode : undefined;
      const error = typeof obj?.error === "string" ? obj.error.slice(0, 200) : `HTTP ${res.status}`;
      throw new FederationError(destination, res.status, errcode, `${method} ${path} on ${destination}: ${res.status} ${errcode ?? ""} ${error}`);
    }
    if (obj === undefined) throw new FederationError(destination, res.status, undefined, `${method} ${path} on ${destination}: response is not a JSON object`);
    return obj;
  }
}
