/**
 * Inbound server-server "Request Authentication": the X-Matrix header is
 * checked against the origin's current signing key over (method, uri, origin,
 * destination, content); any failure is 401 M_UNAUTHORIZED.
 */
import type { Context } from "koa";
import { decodeBase64, encodeBase64, parseServerName, verifyJsonSignature, type JsonObject, type JsonValue } from "../core/index.js";
import { readJsonBody } from "../http/body.js";
import { MatrixError } from "../http/errors.js";
import type { RemoteKeyStore } from "./key-store.js";
import { parseXMatrixHeader, requestJson } from "./x-matrix.js";

const unauthorized = (message: string) => new MatrixError(401, "M_UNAUTHORIZED", message);

export interface FederationRequest {
  /** The authenticated origin server. */
  origin: string;
  /** The parsed JSON body (PUT and POST), undefined for GET and DELETE. */
  body: unknown;
}

export class FederationAuthenticator {
  constructor(
    private readonly d: {
      serverName: string;
      keys: Pick<RemoteKeyStore, "key">;
      now: () => number;
      /** A request from `origin` verified: that server is up (its queued transactions may go now). */
      onVerified?: (origin: string) => void;
    },
  ) {}

  /**
   * Reads the body (for PUT and POST, "a (potentially empty) JSON object") and
   * checks the request's signature; returns the origin. Sets `ctx.state.origin`.
   */
  async authenticate(ctx: Context, opts: { bodyLimit: number }): Promise<FederationRequest> {
    const header = ctx.get("authorization");
    const hasBody = ctx.method === "PUT" || ctx.method === "POST";
    // Check the header's form before reading any body, so unauthenticated senders cannot make us buffer one.
    const params = header ? parseXMatrixHeader(header) : undefined;
    if (params === undefined) throw unauthorized("Missing or malformed X-Matrix Authorization header");
    const body = hasBody ? await readJsonBody(ctx, opts.bodyLimit, { emptyAsObject: true }) : undefined;
    const origin = await this.verify(ctx.method, ctx.originalUrl, params, body);
    ctx.state.origin = origin;
    return { origin, body };
  }

  /** The checks themselves; `uri` is the request target as received (path and query). */
  async verify(method: string, uri: string, params: { origin: string; destination?: string; key: string; sig: string }, content: unknown): Promise<string> {
    // "If this property is included, but the value does not match the receiving
    // server's name, the receiving server must deny the request with 401."
    if (params.destination !== undefined && params.destination !== this.d.serverName) {
      throw unauthorized("The X-Matrix destination is not this server");
    }
    if (parseServerName(params.origin) === undefined) throw unauthorized("The X-Matrix origin is not a server name");
    if (!/^ed25519:[a-zA-Z0-9_]+$/.test(params.key)) throw unauthorized("Unknown key algorithm");
    const sig = decodeBase64(params.sig);
    if (sig === undefined || sig.byteLength !== 64) throw unauthorized("The X-Matrix signature is malformed");
    // Requests are signed with a current key ("verify_keys ... valid for signing
    // federation requests"), valid now; old_verify_keys only sign events.
    const now = this.d.now();
    const key = await this.d.keys.key(params.origin, params.key, now);
    if (key === undefined || key.expiredTs !== null) throw unauthorized(`No valid key ${params.key} for ${params.origin}`);
    // Older servers omit destination from the header but always sign it.
    const signed: JsonObject = {
      ...requestJson(method, uri, params.origin, this.d.serverName, content as JsonValue | undefined),
      signatures: { [params.origin]: { [params.key]: encodeBase64(sig) } },
    };
    let ok: boolean;
    try {
      ok = verifyJsonSignature(signed, params.origin, key.verifyKey).ok;
    } catch {
      ok = false;
    }
    if (!ok) throw unauthorized("The X-Matrix signature does not verify");
    this.d.onVerified?.(params.origin);
    return params.origin;
  }
}
