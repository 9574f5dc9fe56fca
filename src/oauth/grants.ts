import type { OAuthRepo } from "../storage/oauth-repo.js";
import type { Sql } from "../storage/sql.js";
import type { TokensRepo } from "../storage/tokens-repo.js";
import type { UsersRepo } from "../storage/users-repo.js";
import { hashToken, newSecret } from "../users/access-tokens.js";
import { randomString, type Clock, type Random } from "../users/deps.js";
import type { SessionService } from "../users/sessions.js";
import {
  GRANT_AUTHORIZATION_CODE,
  GRANT_DEVICE_CODE,
  GRANT_REFRESH_TOKEN,
  redirectUriMatches,
  type ClientMetadata,
} from "./client-metadata.js";
import { invalidClient, invalidGrant, invalidRequest, OAuthError, unauthorizedClient } from "./errors.js";
import type { Params } from "./form.js";
import type { IdTokenSigner } from "./id-token.js";
import { isValidCodeChallenge, verifyS256 } from "./pkce.js";
import { parseScope, type ParsedScope } from "./scope.js";

export interface StoredClient extends ClientMetadata {
  client_id: string;
}

export interface OAuthLifetimes {
  authorizationCodeMs: number;
  deviceCodeMs: number;
  deviceIntervalS: number;
  idTokenS: number;
}

export interface GrantsDeps {
  sql: Sql;
  repo: OAuthRepo;
  tokens: TokensRepo;
  users: UsersRepo;
  sessions: SessionService;
  signer: IdTokenSigner;
  clock: Clock;
  random: Random;
  lifetimes: OAuthLifetimes;
  issuer: () => string;
  /** Where the device grant's user goes ("verification_uri"). */
  verificationUri: () => string;
}

/** A validated authorisation request ("Authorisation request" of the authorisation code flow). */
export interface AuthorizationRequest {
  client: StoredClient;
  redirectUri: string;
  responseMode: "query" | "fragment";
  state: string | undefined;
  nonce: string | undefined;
  scope: ParsedScope;
  codeChallenge: string;
  prompt: Set<string>;
}

/**
 * An authorisation request that cannot go on: `fatal` when the client or its
 * redirect URI is unknown (the user is told, never redirected, RFC 6749
 * section 4.1.2.1); otherwise the error goes back to the client's redirect URI.
 */
export type AuthorizationCheck =
  | { ok: true; request: AuthorizationRequest }
  | { ok: false; fatal: string }
  | { ok: false; redirect: string };

export interface TokenResponse {
  access_token: string;
  token_type: "Bearer";
  expires_in?: number;
  refresh_token?: string;
  scope: string;
  id_token?: string;
}

// RFC 8628 section 6.1: user codes from consonants only (no vowels, so no words), case-insensitive.
const USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ";
const USER_CODE_LENGTH = 8;
const MAX_STATE_LENGTH = 2048;

/** "Callback": parameters go in the query or the fragment of the redirect URI, as `response_mode` asked. */
export function callbackUrl(redirectUri: string, mode: "query" | "fragment", params: Record<string, string | undefined>): string {
  const entries = Object.entries(params).filter((e): e is [string, string] => e[1] !== undefined);
  if (mode === "fragment") return `${redirectUri}#${new URLSearchParams(entries).toString()}`;
  const url = new URL(redirectUri);
  for (const [k, v] of entries) url.searchParams.append(k, v);
  return url.toString();
}

/** Normalises what a user typed as a device grant's user code. */
export function normaliseUserCode(input: string): string {
  return input.toUpperCase().replace(/[^A-Z]/g, "");
}

/**
 * The grants of the OAuth 2.0 API ("Grant types"): the authorisation code
 * grant with PKCE, the refresh token grant and the device authorisation grant.
 * Tokens are the server's ordinary access and refresh tokens, made by the
 * session service, so they work wherever a token from /login does.
 */
export class OAuthGrants {
  constructor(private readonly deps: GrantsDeps) {}

  async getClient(clientId: string | undefined): Promise<StoredClient | undefined> {
    if (clientId === undefined || clientId.length > 255) return undefined;
    const row = await this.deps.repo.getClient(clientId);
    return row ? { ...(row.metadata as unknown as ClientMetadata), client_id: row.client_id } : undefined;
  }

  private async requireClient(p: Params, grant: string): Promise<StoredClient> {
    const client = await this.getClient(p.require("client_id"));
    if (!client) throw invalidClient("Unknown client_id");
    if (!client.grant_types.includes(grant)) throw unauthorizedClient(`The client is not registered for the ${grant} grant`);
    return client;
  }

  // --- authorisation code grant ---

  /** Checks the authorisation endpoint's parameters (RFC 6749 section 4.1.1, RFC 7636 section 4.3). */
  async checkAuthorizationRequest(p: Params): Promise<AuthorizationCheck> {
    const client = await this.getClient(p.get("client_id"));
    if (!client) return { ok: false, fatal: "The application that sent you here is not registered with this server." };
    const redirectUri = p.get("redirect_uri");
    if (redirectUri === undefined || !redirectUriMatches(client.redirect_uris, redirectUri)) {
      return { ok: false, fatal: "The application that sent you here gave a redirect address it has not registered." };
    }
    const state = p.get("state");
    const rawMode = p.get("response_mode");
    const responseMode = rawMode === "fragment" ? "fragment" : "query";
    const fail = (error: string, description: string): AuthorizationCheck => ({
      ok: false,
      redirect: callbackUrl(redirectUri, responseMode, { error, error_description: description, state }),
    });
    if (state !== undefined && state.length > MAX_STATE_LENGTH) return fail("invalid_request", "state is too long");
    if (rawMode !== undefined && rawMode !== "query" && rawMode !== "fragment") return fail("invalid_request", "response_mode must be query or fragment");
    const responseType = p.get("response_type");
    if (responseType === undefined) return fail("invalid_request", "response_type is required");
    if (responseType !== "code") return fail("unsupported_response_type", "Only the code response type is supported");
    if (!client.grant_types.includes(GRANT_AUTHORIZATION_CODE)) {
      return fail("unauthorized_client", "The client is not registered for the authorization_code grant");
    }
    const challenge = p.get("code_challenge");
    if (challenge === undefined) return fail("invalid_request", "PKCE is required: code_challenge is missing");
    if (p.get("code_challenge_method") !== "S256") return fail("invalid_request", "code_challenge_method must be S256");
    if (!isValidCodeChallenge(challenge)) return fail("invalid_request", "code_challenge is malformed");
    let scope: ParsedScope;
    try {
      scope = parseScope(p.get("scope"));
    } catch (err) {
      if (err instanceof OAuthError) return fail(err.error, err.message);
      throw err;
    }
    const nonce = p.get("nonce");
    if (nonce !== undefined && nonce.length > MAX_STATE_LENGTH) return fail("invalid_request", "nonce is too long");
    const prompt = new Set((p.get("prompt") ?? "").split(" ").filter((s) => s !== ""));
    return { ok: true, request: { client, redirectUri, responseMode, state, nonce, scope, codeChallenge: challenge, prompt } };
  }

  /** Issues an authorisation code for an approved request and returns where to send the browser. */
  async approve(request: AuthorizationRequest, userId: string, authTime: number): Promise<string> {
    const now = this.deps.clock.now();
    const code = newSecret(this.deps.random, "mac");
    await this.deps.repo.insertCode({
      code_hash: hashToken(code),
      client_id: request.client.client_id,
      user_id: userId,
      redirect_uri: request.redirectUri,
      scope: request.scope.tokens.join(" "),
      device_id: request.scope.deviceId,
      code_challenge: request.codeChallenge,
      nonce: request.nonce ?? null,
      auth_time: authTime,
      created_ts: now,
      expires_ts: now + this.deps.lifetimes.authorizationCodeMs,
    });
    return callbackUrl(request.redirectUri, request.responseMode, { state: request.state, code });
  }

  /** Where the browser goes when the user declines, or the request cannot be granted. */
  deny(request: AuthorizationRequest, error = "access_denied", description = "The user declined the request"): string {
    return callbackUrl(request.redirectUri, request.responseMode, { error, error_description: description, state: request.state });
  }

  /** Token request of the authorisation code grant (RFC 6749 section 4.1.3, RFC 7636 section 4.5). */
  async exchangeCode(p: Params): Promise<TokenResponse> {
    const client = await this.requireClient(p, GRANT_AUTHORIZATION_CODE);
    const code = p.require("code");
    const redirectUri = p.require("redirect_uri");
    const verifier = p.require("code_verifier");
    const now = this.deps.clock.now();
    const row = await this.deps.sql.transaction((tx) => this.deps.repo.takeCode(hashToken(code), now, tx));
    if (!row) throw invalidGrant("Unknown authorization code");
    if (row.exchanged_ts !== null) {
      // RFC 6749 section 4.1.2: a code used twice was probably stolen; revoke what it gave.
      if (row.issued_device) await this.revokeDeviceOfClient(row.user_id, row.device_id, row.client_id, row.exchanged_ts);
      throw invalidGrant("The authorization code was already used");
    }
    if (row.client_id !== client.client_id) throw invalidGrant("The authorization code was issued to another client");
    if (row.expires_ts <= now) throw invalidGrant("The authorization code has expired");
    if (row.redirect_uri !== redirectUri) throw invalidGrant("redirect_uri does not match the authorization request");
    if (!verifyS256(verifier, row.code_challenge)) throw invalidGrant("PKCE verification failed: code_verifier does not match");
    await this.requireActiveUser(row.user_id);
    const out = await this.issue(row.user_id, client, parseScope(row.scope), { nonce: row.nonce ?? undefined, authTime: row.auth_time });
    await this.deps.repo.markCodeIssuedDevice(row.code_hash);
    return out;
  }

  private async requireActiveUser(userId: string): Promise<void> {
    const user = await this.deps.users.get(userId);
    if (!user || user.deactivated) throw invalidGrant("The account has been deactivated");
    if (user.locked) throw invalidGrant("The account has been locked");
  }

  private async revokeDeviceOfClient(userId: string, deviceId: string, clientId: string, since: number): Promise<void> {
    const session = await this.deps.repo.getSession(userId, deviceId);
    if (session && session.client_id === clientId && session.created_ts >= since) {
      await this.deps.sessions.deleteDevices(userId, [deviceId]);
    }
  }

  /** Creates (or takes over) the device of the scope and hands out its tokens. */
  private async issue(userId: string, client: StoredClient, scope: ParsedScope, id: { nonce?: string | undefined; authTime: number }): Promise<TokenResponse> {
    const now = this.deps.clock.now();
    const s = await this.deps.sessions.createSession(userId, {
      deviceId: scope.deviceId,
      displayName: client.client_name ?? null,
      refresh: true,
    });
    const scopeText = scope.tokens.join(" ");
    await this.deps.repo.upsertSession({ user_id: userId, device_id: s.device_id, client_id: client.client_id, scope: scopeText, created_ts: now });
    const out: TokenResponse = { access_token: s.access_token, token_type: "Bearer", scope: scopeText };
    if (s.expires_in_ms !== undefined) out.expires_in = Math.floor(s.expires_in_ms / 1000);
    if (s.refresh_token !== undefined) out.refresh_token = s.refresh_token;
    if (scope.openid) {
      out.id_token = await this.deps.signer.sign({
        issuer: this.deps.issuer(),
        subject: userId,
        audience: client.client_id,
        nonce: id.nonce,
        authTime: id.authTime,
        issuedAt: Math.floor(now / 1000),
        lifetimeS: this.deps.lifetimes.idTokenS,
      });
    }
    return out;
  }

  // --- refresh token grant ---

  /**
   * "Refresh token grant": a new access and refresh token. The old refresh
   * token keeps working until the new pair is first used, so a lost response
   * can be retried; after that it is refused.
   */
  async refresh(p: Params): Promise<TokenResponse> {
    const client = await this.requireClient(p, GRANT_REFRESH_TOKEN);
    const refreshToken = p.require("refresh_token");
    const hash = hashToken(refreshToken);
    const row = await this.deps.tokens.getRefreshToken(hash);
    if (!row) {
      await this.revokeOnReplay(hash);
      throw invalidGrant("Unknown or revoked refresh token");
    }
    const session = await this.deps.repo.getSession(row.user_id, row.device_id);
    if (!session || session.client_id !== client.client_id) throw invalidGrant("The refresh token was not issued to this client");
    let r: { access_token: string; refresh_token: string; expires_in_ms: number };
    try {
      r = await this.deps.sessions.refresh(refreshToken);
    } catch (err) {
      const errcode = (err as { errcode?: string }).errcode;
      if (errcode === "M_USER_LOCKED") throw invalidGrant("The account has been locked");
      if (errcode === "M_UNKNOWN_TOKEN") throw invalidGrant("Unknown or revoked refresh token");
      throw err;
    }
    return {
      access_token: r.access_token,
      token_type: "Bearer",
      expires_in: Math.floor(r.expires_in_ms / 1000),
      refresh_token: r.refresh_token,
      scope: session.scope,
    };
  }

  /**
   * "Refresh token grant": an old, invalidated refresh token used again means
   * the session is compromised; its device is signed out. Only a session that
   * already existed when the token was retired is revoked (a device id may be
   * signed in afresh later).
   */
  private async revokeOnReplay(hash: string): Promise<void> {
    const retired = await this.deps.repo.getRetiredRefreshToken(hash);
    if (!retired) return;
    const session = await this.deps.repo.getSession(retired.user_id, retired.device_id);
    if (session && session.created_ts <= retired.retired_ts) await this.deps.sessions.deleteDevices(retired.user_id, [retired.device_id]);
  }

  // --- device authorisation grant ---

  /** "Device authorisation request" (RFC 8628 section 3.1/3.2). */
  async startDeviceGrant(p: Params): Promise<Record<string, unknown>> {
    const client = await this.requireClient(p, GRANT_DEVICE_CODE);
    const scope = parseScope(p.get("scope"));
    const now = this.deps.clock.now();
    const deviceCode = newSecret(this.deps.random, "mdc");
    const userCode = randomString(this.deps.random, USER_CODE_LENGTH, USER_CODE_ALPHABET);
    const interval = this.deps.lifetimes.deviceIntervalS;
    await this.deps.repo.insertDeviceGrant({
      deviceCodeHash: hashToken(deviceCode),
      userCodeHash: hashToken(userCode),
      clientId: client.client_id,
      scope: scope.tokens.join(" "),
      deviceId: scope.deviceId,
      intervalS: interval,
      createdTs: now,
      expiresTs: now + this.deps.lifetimes.deviceCodeMs,
    });
    const shown = `${userCode.slice(0, 4)}-${userCode.slice(4)}`;
    const verification = this.deps.verificationUri();
    return {
      device_code: deviceCode,
      user_code: shown,
      verification_uri: verification,
      verification_uri_complete: `${verification}?user_code=${encodeURIComponent(shown)}`,
      expires_in: Math.floor(this.deps.lifetimes.deviceCodeMs / 1000),
      interval,
    };
  }

  /** The pending device grant a user code names, with its client; undefined when unknown, expired or decided. */
  async findDeviceGrant(userCode: string): Promise<{ id: number; client: StoredClient; scope: ParsedScope } | undefined> {
    const code = normaliseUserCode(userCode);
    if (code.length !== USER_CODE_LENGTH) return undefined;
    const row = await this.deps.repo.getDeviceGrantByUserCode(hashToken(code));
    if (!row || row.status !== "pending" || row.expires_ts <= this.deps.clock.now()) return undefined;
    const client = await this.getClient(row.client_id);
    if (!client) return undefined;
    return { id: row.id, client, scope: parseScope(row.scope) };
  }

  async decideDeviceGrant(id: number, userId: string, approve: boolean): Promise<boolean> {
    return this.deps.repo.decideDeviceGrant(id, approve ? "approved" : "denied", userId);
  }

  /** Token polling of the device grant (RFC 8628 section 3.4/3.5). */
  async pollDeviceGrant(p: Params): Promise<TokenResponse> {
    const client = await this.requireClient(p, GRANT_DEVICE_CODE);
    const deviceCode = p.require("device_code");
    const now = this.deps.clock.now();
    const outcome = await this.deps.sql.transaction(async (tx) => {
      const row = await this.deps.repo.getDeviceGrantForUpdate(hashToken(deviceCode), tx);
      if (!row || row.client_id !== client.client_id) return { error: invalidGrant("Unknown device_code") };
      if (row.expires_ts <= now) return { error: new OAuthError(400, "expired_token", "The device code has expired") };
      switch (row.status) {
        case "denied":
          return { error: new OAuthError(400, "access_denied", "The user declined the request") };
        case "exchanged":
          return { error: invalidGrant("The device code was already used") };
        case "pending": {
          // RFC 8628 section 3.5: polling faster than the interval adds 5 seconds to it.
          const tooSoon = row.last_poll_ts !== null && now - row.last_poll_ts < row.interval_s * 1000;
          const interval = tooSoon ? row.interval_s + 5 : row.interval_s;
          await this.deps.repo.updateDeviceGrantPoll(row.id, { lastPollTs: now, intervalS: interval }, tx);
          return tooSoon
            ? { error: new OAuthError(400, "slow_down", `Poll at most every ${interval} seconds`) }
            : { error: new OAuthError(400, "authorization_pending", "The user has not yet approved the request") };
        }
        case "approved":
          await this.deps.repo.updateDeviceGrantPoll(row.id, { lastPollTs: now, intervalS: row.interval_s, status: "exchanged" }, tx);
          return { row };
      }
      return { error: invalidGrant("Unknown device_code") };
    });
    if ("error" in outcome) throw outcome.error;
    const row = outcome.row;
    await this.requireActiveUser(row.user_id!);
    return this.issue(row.user_id!, client, parseScope(row.scope), { authTime: now });
  }

  // --- token revocation ---

  /**
   * "Token revocation" (RFC 7009): the access or refresh token, and the
   * device it belongs to, are signed out. Unknown tokens are not an error.
   */
  async revoke(p: Params): Promise<void> {
    const token = p.require("token");
    const hint = p.get("token_type_hint");
    if (hint !== undefined && hint !== "access_token" && hint !== "refresh_token") {
      throw invalidRequest("token_type_hint must be access_token or refresh_token");
    }
    const hash = hashToken(token);
    const access = hint === "refresh_token" ? undefined : await this.deps.tokens.getAccessToken(hash);
    const owner = access ?? (await this.deps.tokens.getRefreshToken(hash)) ?? (hint === "refresh_token" ? await this.deps.tokens.getAccessToken(hash) : undefined);
    if (!owner) return;
    if (owner.device_id !== null) {
      await this.deps.sessions.deleteDevices(owner.user_id, [owner.device_id]);
    } else {
      await this.deps.sessions.logout(owner.user_id, null, hash);
    }
  }
}
