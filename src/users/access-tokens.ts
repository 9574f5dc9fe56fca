import { createHash } from "node:crypto";
import type { Context } from "koa";
import type { AuthOptions, Authenticator, Requester } from "../http/auth.js";
import { MatrixError } from "../http/errors.js";
import type { DevicesRepo } from "../storage/devices-repo.js";
import type { AccessTokenRow, TokensRepo } from "../storage/tokens-repo.js";
import type { UsersRepo } from "../storage/users-repo.js";
import type { Clock, Random } from "./deps.js";

/** sha256 hex: what is stored for every bearer secret. */
export function hashToken(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

/** A new random secret with a recognisable prefix (helps secret scanners). */
export function newSecret(random: Random, prefix: string): string {
  return `${prefix}_${random.bytes(32).toString("base64url")}`;
}

/**
 * Hook for the application-service work: resolves an appservice `as_token`
 * (and its `user_id` masquerading) to a requester, or undefined when the token
 * is not an appservice's.
 */
export interface AppServiceTokenResolver {
  resolve(token: string, ctx: Context): Promise<Requester | undefined>;
}

export interface AuthenticatedToken {
  requester: Requester;
  /** Undefined for appservice tokens. */
  tokenHash?: string;
  row?: AccessTokenRow;
}

export interface AccessTokenAuthOptions extends AuthOptions {
  /** Locked accounts may still log out (spec "Account locking"). */
  allowLocked?: boolean;
}

export interface AccessTokensDeps {
  tokens: TokensRepo;
  users: UsersRepo;
  devices: DevicesRepo;
  clock: Clock;
  /** Config `auth.allow_access_token_query_param`. */
  allowQueryParam: boolean;
  appServices?: AppServiceTokenResolver;
  /** Best-effort logging of background failures. */
  onError?: (err: unknown) => void;
}

const missingToken = (msg = "Missing access token") => new MatrixError(401, "M_MISSING_TOKEN", msg);
const unknownToken = (msg = "Unrecognised access token", softLogout = false) =>
  new MatrixError(401, "M_UNKNOWN_TOKEN", msg, { soft_logout: softLogout });

// Device "last seen" is written at most this often per token.
const TOUCH_INTERVAL_MS = 60_000;

/**
 * Resolved tokens are kept this long, so that an authenticated request costs
 * no query. Revocation (logout, device deletion, lock, deactivation, guest
 * upgrade) invalidates entries in this process at once through
 * `invalidateUser`, and in the other processes of a cluster through
 * `onInvalidate` (PostgreSQL NOTIFY, docs/scale-out.md) within milliseconds.
 */
export const AUTH_CACHE_TTL_MS = 10_000;
const AUTH_CACHE_MAX_ENTRIES = 10_000;

/** What a request's authentication needs of the token and its user. */
interface CachedAuth {
  row: AccessTokenRow;
  deactivated: boolean;
  locked: boolean;
  isGuest: boolean;
  cachedAt: number;
}

/**
 * The server's `Authenticator`: resolves `Authorization: Bearer` (or, where the
 * config allows, the deprecated `access_token` query parameter) to a
 * Requester. Tokens are looked up by their sha256; neither is ever logged.
 */
export class AccessTokenAuthenticator implements Authenticator {
  private readonly lastTouch = new Map<string, number>();
  private readonly retiredRefresh = new Set<number>();
  private readonly cache = new Map<string, CachedAuth>();
  private readonly invalidateListeners: Array<(userId: string) => void> = [];
  // Bumped by every invalidation: a lookup that raced one must not cache what it read.
  private generation = 0;

  constructor(private readonly deps: AccessTokensDeps) {}

  /** The bearer token of a request, or undefined when none was sent. */
  extractToken(ctx: Context): string | undefined {
    const header = ctx.get("authorization");
    if (header) {
      const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
      if (!m) throw missingToken("Authorization header must be 'Bearer <token>'");
      return m[1];
    }
    const q = ctx.query.access_token;
    if (q === undefined) return undefined;
    if (!this.deps.allowQueryParam) throw missingToken("The access_token query parameter is disabled on this server; use an Authorization header");
    if (typeof q !== "string" || q === "") throw missingToken();
    return q;
  }

  async authenticate(ctx: Context, opts: AuthOptions = {}): Promise<Requester> {
    return (await this.authenticateToken(ctx, opts)).requester;
  }

  async authenticateToken(ctx: Context, opts: AccessTokenAuthOptions = {}): Promise<AuthenticatedToken> {
    const token = this.extractToken(ctx);
    if (token === undefined) throw missingToken();
    if (this.deps.appServices) {
      const requester = await this.deps.appServices.resolve(token, ctx);
      if (requester) return { requester };
    }
    const tokenHash = hashToken(token);
    const now = this.deps.clock.now();
    const auth = await this.lookup(tokenHash, now);
    if (!auth) throw unknownToken();
    const row = auth.row;
    // Spec "Soft logout": an expired token is a soft logout; the client may refresh or log in again.
    // Checked on every request, cached or not: expiry is exact.
    if (row.valid_until_ts !== null && row.valid_until_ts <= now) throw unknownToken("Access token has expired", true);
    if (auth.deactivated) throw unknownToken();
    if (auth.locked && !opts.allowLocked) {
      throw new MatrixError(401, "M_USER_LOCKED", "This account has been locked", { soft_logout: true });
    }
    if (auth.isGuest && !opts.allowGuests) {
      throw new MatrixError(403, "M_GUEST_ACCESS_FORBIDDEN", "Guest access is not allowed here");
    }
    if (row.refresh_token_id !== null && !this.retiredRefresh.has(row.refresh_token_id)) {
      // "Refreshing access tokens": using the new access token retires the old refresh token.
      await this.deps.tokens.retireReplaced(row.refresh_token_id);
      this.invalidateUser(row.user_id);
      if (this.retiredRefresh.size > 50_000) this.retiredRefresh.clear();
      this.retiredRefresh.add(row.refresh_token_id);
    }
    this.touch(ctx, row, now);
    return {
      requester: { userId: row.user_id, deviceId: row.device_id, isGuest: auth.isGuest },
      tokenHash,
      row,
    };
  }

  /** Who a raw access token belongs to, without any request (guest upgrades); undefined when unknown or expired. */
  async resolveToken(token: string): Promise<{ userId: string; deviceId: string | null; isGuest: boolean } | undefined> {
    const row = await this.deps.tokens.getAccessToken(hashToken(token));
    if (!row || (row.valid_until_ts !== null && row.valid_until_ts <= this.deps.clock.now())) return undefined;
    const user = await this.deps.users.get(row.user_id);
    if (!user || user.deactivated) return undefined;
    return { userId: row.user_id, deviceId: row.device_id, isGuest: user.is_guest };
  }

  /** Records "last seen" for the device list, at most once a minute per token, off the request path. */
  private touch(ctx: Context, row: AccessTokenRow, now: number): void {
    const last = this.lastTouch.get(row.token_hash) ?? 0;
    if (now - last < TOUCH_INTERVAL_MS) return;
    this.lastTouch.set(row.token_hash, now);
    if (this.lastTouch.size > 50_000) this.lastTouch.clear();
    const ua = ctx.get("user-agent") || null;
    const work = async () => {
      await this.deps.tokens.touchAccessToken(row.token_hash, now);
      if (row.device_id !== null) await this.deps.devices.touch(row.user_id, row.device_id, now, ctx.ip || null, ua);
    };
    work().catch((err: unknown) => this.deps.onError?.(err));
  }

  /** The token and its user's flags: from the cache while fresh, else from the database. */
  private async lookup(tokenHash: string, now: number): Promise<CachedAuth | undefined> {
    const hit = this.cache.get(tokenHash);
    if (hit && now >= hit.cachedAt && now - hit.cachedAt < AUTH_CACHE_TTL_MS) return hit;
    if (hit) this.cache.delete(tokenHash);
    const generation = this.generation;
    const row = await this.deps.tokens.getAccessToken(tokenHash);
    if (!row) return undefined;
    const user = await this.deps.users.get(row.user_id);
    if (!user) return undefined;
    const entry: CachedAuth = { row, deactivated: user.deactivated, locked: user.locked, isGuest: user.is_guest, cachedAt: now };
    // An invalidation while we read may have come after our reads saw the old rows: don't keep them.
    if (generation === this.generation) {
      if (this.cache.size >= AUTH_CACHE_MAX_ENTRIES) this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(tokenHash, entry);
    }
    return entry;
  }

  /**
   * Drops every cached token of a user. Callers run it after the change
   * (revoked tokens, lock, deactivation, guest upgrade) is committed.
   */
  invalidateUser(userId: string): void {
    this.invalidateUserHere(userId);
    for (const fn of this.invalidateListeners) fn(userId);
  }

  /** Drops a user's cached tokens in this process only (what another process's invalidation does here). */
  invalidateUserHere(userId: string): void {
    this.generation++;
    for (const [hash, entry] of this.cache) if (entry.row.user_id === userId) this.cache.delete(hash);
  }

  /** Called with the user of every invalidation made here (scale-out tells the other processes). */
  onInvalidate(fn: (userId: string) => void): void {
    this.invalidateListeners.push(fn);
  }

  /** Forgets cached state for revoked tokens (tests and logout). */
  forget(tokenHash: string): void {
    this.generation++;
    this.cache.delete(tokenHash);
    this.lastTouch.delete(tokenHash);
  }
}
