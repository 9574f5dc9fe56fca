import { createHash, randomBytes } from "node:crypto";
import { encodeBase64, type JsonObject, type SigningKey, signingKeyFromSeed, signJson, type VerifyKey, verifyJsonSignature } from "../src/core/index.js";
import { parseXMatrixHeader, requestJson } from "../src/federation/x-matrix.js";
import type { J } from "./accounts-helpers.js";

export interface IdentityCall {
  method: string;
  path: string;
  body: J;
  auth: string | null;
}

/**
 * A stand-in identity server (Identity Service API v2) reached through the
 * global fetch: the server under test calls `https://{name}/...`, and this
 * answers in process. Binds need the access token `good-token`; unbinds must
 * carry a valid X-Matrix signature of `homeserver` (set once it runs).
 */
export class FakeIdentityServer {
  readonly calls: IdentityCall[] = [];
  /** Address -> Matrix ID. */
  readonly bound = new Map<string, string>();
  /** Validated sessions: sid -> the address it proves. */
  readonly sessions = new Map<string, { clientSecret: string; medium: string; address: string }>();
  /** The long-term key, whose public half goes into store-invite answers. */
  key: SigningKey = signingKeyFromSeed(randomBytes(32), "0");
  /** Public keys /pubkey/isvalid calls valid. */
  readonly validKeys = new Set<string>([encodeBase64(this.key.publicKey)]);
  /** The homeserver (server name and key) whose X-Matrix signatures unbinds must carry. */
  homeserver: { name: string; key: VerifyKey } | undefined;
  readonly pepper = "matrixrocks";
  private realFetch: typeof fetch | undefined;
  private tokens = 0;

  constructor(readonly name: string) {}

  install(): void {
    this.realFetch = globalThis.fetch;
    const real = this.realFetch;
    globalThis.fetch = async (input, init) => {
      const url = new URL(typeof input === "string" ? input : input instanceof URL ? input.href : input.url);
      if (url.host !== this.name) return real(input, init);
      return this.answer(url, init);
    };
  }

  uninstall(): void {
    if (this.realFetch) globalThis.fetch = this.realFetch;
  }

  /** Signs `signed` (mxid, sender, token) as the identity server does for onbind and third_party_signed. */
  sign(body: JsonObject, key: SigningKey = this.key): JsonObject {
    return signJson(body, this.name, key);
  }

  /** A new long-term key; the old one is no longer valid. */
  rotateKey(): void {
    this.validKeys.delete(encodeBase64(this.key.publicKey));
    this.key = signingKeyFromSeed(randomBytes(32), "0");
    this.validKeys.add(encodeBase64(this.key.publicKey));
  }

  private async answer(url: URL, init: RequestInit | undefined): Promise<Response> {
    const method = init?.method ?? "GET";
    const raw = init?.body ? String(init.body) : "";
    const body = raw ? (JSON.parse(raw) as J) : {};
    const auth = new Headers(init?.headers).get("authorization");
    this.calls.push({ method, path: url.pathname, body, auth });
    const json = (status: number, v: unknown) => new Response(JSON.stringify(v), { status, headers: { "content-type": "application/json" } });
    const p = url.pathname;
    if (p === "/_matrix/identity/v2/pubkey/isvalid") return json(200, { valid: this.validKeys.has(url.searchParams.get("public_key") ?? "") });
    if (p === "/_matrix/identity/v2/3pid/unbind") {
      if (!this.signedByHomeserver(auth, method, `${p}${url.search}`, body)) return json(403, { errcode: "M_UNAUTHORIZED", error: "unsigned" });
      const address = (body.threepid as J | undefined)?.address as string;
      if (this.bound.get(address) === body.mxid) this.bound.delete(address);
      return json(200, {});
    }
    if (auth !== "Bearer good-token") return json(401, { errcode: "M_UNAUTHORIZED", error: "bad token" });
    switch (p) {
      case "/_matrix/identity/v2/hash_details":
        return json(200, { algorithms: ["none", "sha256"], lookup_pepper: this.pepper });
      case "/_matrix/identity/v2/lookup": {
        const mappings: Record<string, string> = {};
        for (const [addr, mxid] of this.bound) {
          const h = createHash("sha256").update(`${addr} email ${this.pepper}`).digest("base64url");
          if ((body.addresses as string[]).includes(h)) mappings[h] = mxid;
        }
        return json(200, { mappings });
      }
      case "/_matrix/identity/v2/3pid/bind": {
        const s = this.sessions.get(body.sid as string);
        if (!s || s.clientSecret !== body.client_secret) return json(400, { errcode: "M_NO_VALID_SESSION", error: "unknown session" });
        this.bound.set(s.address, body.mxid as string);
        return json(200, { medium: s.medium, address: s.address, mxid: body.mxid, not_before: 0, not_after: 2 ** 40, ts: 0, signatures: {} });
      }
      case "/_matrix/identity/v2/store-invite":
        return json(200, {
          token: `tok-${++this.tokens}-${randomBytes(4).toString("hex")}`,
          display_name: "c...@example.org",
          public_keys: [{ public_key: encodeBase64(this.key.publicKey), key_validity_url: `https://${this.name}/_matrix/identity/v2/pubkey/isvalid` }],
        });
      default:
        return json(404, { errcode: "M_UNRECOGNIZED", error: "nope" });
    }
  }

  private signedByHomeserver(auth: string | null, method: string, uri: string, body: J): boolean {
    const hs = this.homeserver;
    const h = auth ? parseXMatrixHeader(auth) : undefined;
    if (!hs || !h || h.origin !== hs.name || h.destination !== this.name || h.key !== hs.key.keyId) return false;
    const signed = { ...requestJson(method, uri, h.origin, h.destination, body), signatures: { [h.origin]: { [h.key]: h.sig } } };
    return verifyJsonSignature(signed, h.origin, hs.key).ok;
  }
}
