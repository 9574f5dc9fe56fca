import { timingSafeEqual } from "node:crypto";
import { MatrixError } from "../http/errors.js";
import type { Ratelimiter } from "../http/rate-limit.js";
import type { OAuthRepo } from "../storage/oauth-repo.js";
import type { UsersRepo } from "../storage/users-repo.js";
import { hashToken, newSecret } from "../users/access-tokens.js";
import type { AccountService } from "../users/accounts.js";
import type { Clock, Random } from "../users/deps.js";

export interface BrowserSessionsDeps {
  repo: OAuthRepo;
  users: UsersRepo;
  accounts: AccountService;
  clock: Clock;
  random: Random;
  lifetimeMs: number;
  loginPerIp: Ratelimiter;
  loginPerAccount: Ratelimiter;
  registrationPerIp: Ratelimiter;
}

export interface BrowserUser {
  userId: string;
  /** When the user signed in (ms), the ID token's auth_time. */
  authTime: number;
}

/** Constant-time equality of two secrets (the CSRF double-submit check). */
export function secretsEqual(a: string | undefined, b: string | undefined): boolean {
  if (a === undefined || b === undefined || a === "" || b === "") return false;
  const x = Buffer.from(a, "utf8");
  const y = Buffer.from(b, "utf8");
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * Sign-ins of the server's web pages (login, consent, account management):
 * a random cookie whose sha256 is stored. Passwords are checked exactly as
 * `POST /login` checks them, with the same rate limits and failed-login lockout.
 */
export class BrowserSessions {
  constructor(private readonly deps: BrowserSessionsDeps) {}

  get lifetimeMs(): number {
    return this.deps.lifetimeMs;
  }

  newCsrfToken(): string {
    return this.deps.random.bytes(24).toString("base64url");
  }

  /** Checks the password; throws the MatrixError `/login` would (403, 429, M_USER_DEACTIVATED, M_USER_LOCKED). */
  async checkCredentials(ip: string, username: string, password: string): Promise<string> {
    this.deps.loginPerIp.check(ip);
    const typed = username.trim();
    const isEmail = typed.includes("@") && !typed.startsWith("@");
    const user = isEmail ? await this.deps.accounts.resolveThreepid("email", typed) : await this.deps.accounts.resolveUser(typed);
    const key = user?.user_id ?? typed.toLowerCase();
    this.deps.loginPerAccount.check(key);
    const ok = await this.deps.accounts.checkPassword(user, password, key);
    if (ok.locked) throw new MatrixError(401, "M_USER_LOCKED", "This account has been locked");
    if (ok.is_guest) throw new MatrixError(403, "M_FORBIDDEN", "Guest accounts cannot sign in here");
    return ok.user_id;
  }

  /** Starts a browser session for a user; returns the cookie value. */
  async start(userId: string): Promise<string> {
    const secret = newSecret(this.deps.random, "hsb");
    const now = this.deps.clock.now();
    await this.deps.repo.insertBrowserSession(hashToken(secret), userId, now, now + this.deps.lifetimeMs);
    return secret;
  }

  /** The signed-in user of a cookie, or undefined (unknown, expired, or the account is gone). */
  async current(cookie: string | undefined): Promise<BrowserUser | undefined> {
    if (!cookie || cookie.length > 200) return undefined;
    const row = await this.deps.repo.getBrowserSession(hashToken(cookie));
    if (!row || row.expires_ts <= this.deps.clock.now()) return undefined;
    const user = await this.deps.users.get(row.user_id);
    if (!user || user.deactivated) return undefined;
    return { userId: row.user_id, authTime: row.created_ts };
  }

  async end(cookie: string | undefined): Promise<void> {
    if (cookie && cookie.length <= 200) await this.deps.repo.deleteBrowserSession(hashToken(cookie));
  }

  async endAll(userId: string): Promise<void> {
    await this.deps.repo.deleteBrowserSessionsOfUser(userId);
  }

  /** Device-grant user codes are short: each lookup counts like a login attempt from the address. */
  checkUserCodeRate(ip: string): void {
    this.deps.loginPerIp.check(ip);
  }

  /** Rate limit of the registration page (the one of `POST /register`). */
  checkRegistrationRate(ip: string): void {
    this.deps.registrationPerIp.check(ip);
  }
}
