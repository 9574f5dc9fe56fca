import { Agent, request } from "undici";
import type { AppServiceRegistration } from "./registration.js";

/**
 * Requests from the homeserver to an application service (application
 * service API "Homeserver -> Application Service API"). Loopback URLs are
 * allowed (appservices usually run beside the homeserver); every request has
 * a timeout and every response a size limit. The hs_token goes in
 * `Authorization: Bearer` ("Authorisation").
 */

export interface AsClientOptions {
  timeoutMs: number;
  maxResponseBytes: number;
}

export type AsResponse = { status: number; body: string; json: unknown };

export class AsRequestError extends Error {
  constructor(
    readonly kind: "connection" | "timeout" | "too_large",
    message: string,
  ) {
    super(message);
  }
}

export class AsClient {
  private readonly agent: Agent;

  constructor(private readonly opts: AsClientOptions) {
    this.agent = new Agent({ connectTimeout: opts.timeoutMs, headersTimeout: opts.timeoutMs, bodyTimeout: opts.timeoutMs, connections: 8 });
  }

  async close(): Promise<void> {
    await this.agent.close().catch(() => undefined);
  }

  /** One request to `reg.url` + `path`; throws AsRequestError when no (acceptable) answer came. */
  async call(reg: AppServiceRegistration, method: "GET" | "PUT" | "POST", path: string, body?: unknown, signal?: AbortSignal): Promise<AsResponse> {
    if (reg.url === null) throw new AsRequestError("connection", "The application service has no url");
    const timeout = AbortSignal.timeout(this.opts.timeoutMs);
    const both = signal ? AbortSignal.any([signal, timeout]) : timeout;
    let res: Awaited<ReturnType<typeof request>>;
    try {
      res = await request(reg.url + path, {
        method,
        dispatcher: this.agent,
        signal: both,
        headers: {
          authorization: `Bearer ${reg.hsToken}`,
          ...(body === undefined ? {} : { "content-type": "application/json" }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      throw toRequestError(err, timeout);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for await (const chunk of res.body) {
        size += (chunk as Buffer).length;
        if (size > this.opts.maxResponseBytes) {
          res.body.destroy();
          throw new AsRequestError("too_large", `The application service's response is larger than ${this.opts.maxResponseBytes} bytes`);
        }
        chunks.push(chunk as Buffer);
      }
    } catch (err) {
      if (err instanceof AsRequestError) throw err;
      throw toRequestError(err, timeout);
    }
    const text = Buffer.concat(chunks).toString("utf8");
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    return { status: res.statusCode, body: text, json };
  }

  /**
   * Like `call`, falling back to the legacy path when the current one is not
   * known to the appservice ("Legacy routes": older endpoints answer the same).
   */
  async callWithLegacy(reg: AppServiceRegistration, method: "GET" | "PUT", path: string, legacyPath: string, body?: unknown, signal?: AbortSignal): Promise<AsResponse> {
    const res = await this.call(reg, method, path, body, signal);
    if (res.status !== 404 && res.status !== 405) return res;
    const errcode = (res.json as { errcode?: unknown } | undefined)?.errcode;
    // A 404 that is the appservice's answer about the entity (M_NOT_FOUND) is final.
    if (errcode !== undefined && errcode !== "M_UNRECOGNIZED") return res;
    return this.call(reg, method, legacyPath, body, signal);
  }
}

function toRequestError(err: unknown, timeout: AbortSignal): AsRequestError {
  if (timeout.aborted) return new AsRequestError("timeout", "The application service did not answer in time");
  return new AsRequestError("connection", `Cannot reach the application service: ${(err as Error).message ?? String(err)}`);
}

/** Path segment encoding for ids in appservice URLs. */
export function seg(s: string): string {
  return encodeURIComponent(s);
}
