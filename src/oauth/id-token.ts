import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, SignJWT, type JWK } from "jose";

type PrivateKey = Parameters<SignJWT["sign"]>[0];

interface LoadedKey {
  privateKey: PrivateKey;
  publicJwk: JWK;
  kid: string;
}

export interface IdTokenClaims {
  issuer: string;
  subject: string;
  audience: string;
  nonce?: string | undefined;
  authTime: number;
  /** Seconds since the epoch. */
  issuedAt: number;
  lifetimeS: number;
}

/**
 * Signs OpenID Connect ID tokens (RS256, what clients register with
 * `id_token_signed_response_alg`) and publishes the public key as a JWK Set.
 * The RSA key is made on first use and kept in a file (mode 0600), so tokens
 * stay verifiable across restarts.
 */
export class IdTokenSigner {
  private key: Promise<LoadedKey> | undefined;

  constructor(private readonly keyFile: string) {}

  private load(): Promise<LoadedKey> {
    this.key ??= (async () => {
      let privateJwk: JWK;
      if (existsSync(this.keyFile)) {
        privateJwk = JSON.parse(readFileSync(this.keyFile, "utf8")) as JWK;
      } else {
        const pair = await generateKeyPair("RS256", { modulusLength: 2048, extractable: true });
        privateJwk = await exportJWK(pair.privateKey);
        mkdirSync(path.dirname(this.keyFile), { recursive: true });
        writeFileSync(this.keyFile, JSON.stringify(privateJwk), { mode: 0o600 });
      }
      const { kty, n, e } = privateJwk;
      const publicJwk: JWK = { kty, n, e };
      const kid = await calculateJwkThumbprint(publicJwk);
      const privateKey = (await importJWK(privateJwk, "RS256")) as PrivateKey;
      return { privateKey, publicJwk: { ...publicJwk, kid, use: "sig", alg: "RS256" }, kid };
    })();
    this.key.catch(() => (this.key = undefined));
    return this.key;
  }

  /** The JWK Set served at `jwks_uri`. */
  async jwks(): Promise<{ keys: JWK[] }> {
    return { keys: [(await this.load()).publicJwk] };
  }

  async sign(c: IdTokenClaims): Promise<string> {
    const key = await this.load();
    const claims: Record<string, unknown> = { auth_time: Math.floor(c.authTime / 1000) };
    if (c.nonce !== undefined) claims.nonce = c.nonce;
    return new SignJWT(claims)
      .setProtectedHeader({ alg: "RS256", kid: key.kid, typ: "JWT" })
      .setIssuer(c.issuer)
      .setSubject(c.subject)
      .setAudience(c.audience)
      .setIssuedAt(c.issuedAt)
      .setExpirationTime(c.issuedAt + c.lifetimeS)
      .sign(key.privateKey);
  }
}
