import { isValidUserLocalpart, parseUserId, utf8Length, MAX_ID_BYTES } from "../core/ids.js";
import { forbidden, MatrixError } from "../http/errors.js";
import type { Ratelimiter } from "../http/rate-limit.js";
import type { Sql } from "../storage/sql.js";
import type { ThreepidRepo } from "../storage/threepid-repo.js";
import type { TokensRepo } from "../storage/tokens-repo.js";
import type { UserRow, UsersRepo } from "../storage/users-repo.js";
import { randomString, type Clock, type Random } from "./deps.js";
import type { AccountEvents } from "./events.js";
import { checkNewPassword, hashPassword, verifyPassword, type PasswordPolicy } from "./passwords.js";
import type { SessionService } from "./sessions.js";

/**
 * Hook for the application-service work: which localparts an appservice holds
 * exclusively (registration answers M_EXCLUSIVE for those).
 */
export interface ExclusiveNamespaces {
  isExclusiveUser(userId: string): boolean;
  /** Whether `userId` is in the user namespace of application service `appServiceId`. */
  isUserInNamespace?(appServiceId: string, userId: string): boolean;
}

export interface AccountServiceDeps {
  sql: Sql;
  serverName: string;
  users: UsersRepo;
  tokens: TokensRepo;
  threepids: ThreepidRepo;
  sessions: SessionService;
  clock: Clock;
  random: Random;
  events: AccountEvents;
  passwordPolicy: PasswordPolicy;
  scryptCost: number;
  reservedLocalparts: readonly string[];
  exclusive?: ExclusiveNamespaces;
  failedLogins?: Ratelimiter;
  /** Called after a change that affects authentication (committed): the authenticator drops its cached entries. */
  credentialsChanged?: (userId: string) => void;
}

export interface NewAccount {
  localpart: string;
  password: string | null;
  /** A hash from hashNewPassword, used instead of `password` (registration remembers it across UIA steps). */
  passwordHash?: string;
  /** Skips the password policy (admin tools may set what they like). */
  skipPolicy?: boolean;
  isAdmin?: boolean;
  isGuest?: boolean;
  userType?: string | null;
  displayname?: string | null;
  /** Set for users an application service registered. */
  appServiceId?: string;
}

const invalidUsername = (msg: string) => new MatrixError(400, "M_INVALID_USERNAME", msg);

/** Accounts: creation, credentials, password changes, deactivation. */
export class AccountService {
  constructor(private readonly deps: AccountServiceDeps) {}

  userIdFor(localpart: string): string {
    return `@${localpart}:${this.deps.serverName}`;
  }

  /** Checks a requested localpart (spec "Account registration": M_INVALID_USERNAME, M_USER_IN_USE, M_EXCLUSIVE). */
  async checkUsername(localpart: string, opts: { allowReserved?: boolean } = {}): Promise<string> {
    if (localpart === "") throw invalidUsername("Username must not be empty");
    if (!isValidUserLocalpart(localpart)) {
      throw invalidUsername("Username may only contain a-z, 0-9, '.', '_', '=', '-', '/' and '+'");
    }
    const userId = this.userIdFor(localpart);
    if (utf8Length(userId) > MAX_ID_BYTES) throw invalidUsername(`User ID may not be longer than ${MAX_ID_BYTES} bytes`);
    if (!opts.allowReserved) {
      if (/^\d+$/.test(localpart)) throw invalidUsername("Numeric user IDs are reserved for guest users");
      if (localpart.startsWith("_")) throw invalidUsername("User IDs starting with '_' are reserved");
      if (this.deps.exclusive?.isExclusiveUser(userId)) {
        throw new MatrixError(400, "M_EXCLUSIVE", "This user ID is reserved by an application service");
      }
      if (this.deps.reservedLocalparts.includes(localpart)) throw new MatrixError(400, "M_USER_IN_USE", "This user ID is reserved");
    }
    if (await this.deps.users.exists(userId)) throw new MatrixError(400, "M_USER_IN_USE", "User ID already taken");
    return userId;
  }

  /** Application services act only on users in their namespaces (M_EXCLUSIVE otherwise). */
  checkAppServiceUser(appServiceId: string, userId: string): void {
    const check = this.deps.exclusive?.isUserInNamespace;
    if (check && !check.call(this.deps.exclusive, appServiceId, userId)) {
      throw new MatrixError(400, "M_EXCLUSIVE", "This user id is not in the application service's namespace");
    }
  }

  /** A server-chosen localpart for registrations that give no username. */
  async generateLocalpart(): Promise<string> {
    for (;;) {
      const lp = `u${randomString(this.deps.random, 11, "abcdefghijklmnopqrstuvwxyz0123456789")}`;
      if (!(await this.deps.users.exists(this.userIdFor(lp)))) return lp;
    }
  }

  /** Creates the account (no device); throws M_USER_IN_USE if the id was taken meanwhile. */
  async createAccount(a: NewAccount): Promise<string> {
    const userId = this.userIdFor(a.localpart);
    if (a.password !== null && !a.skipPolicy) checkNewPassword(a.password, this.deps.passwordPolicy);
    const hash = a.passwordHash ?? (a.password === null ? null : await hashPassword(a.password, this.deps.scryptCost, this.deps.random));
    // Spec "Profiles": a new user's display name defaults to the localpart (guests get none).
    const displayname = a.displayname !== undefined ? a.displayname : a.isGuest ? null : a.localpart;
    const created = await this.deps.sql.transaction((tx) =>
      this.deps.users.create(
        {
          userId,
          passwordHash: hash,
          isAdmin: a.isAdmin,
          isGuest: a.isGuest,
          userType: a.userType ?? null,
          appServiceId: a.appServiceId ?? null,
          createdTs: this.deps.clock.now(),
          displayname,
        },
        tx,
      ),
    );
    if (!created) throw new MatrixError(400, "M_USER_IN_USE", "User ID already taken");
    await this.deps.events.emit("userRegistered", { userId, isGuest: a.isGuest ?? false });
    return userId;
  }

  async createGuest(): Promise<string> {
    for (;;) {
      const n = await this.deps.users.nextGuestNumber();
      const localpart = String(n);
      if (await this.deps.users.exists(this.userIdFor(localpart))) continue;
      return this.createAccount({ localpart, password: null, isGuest: true });
    }
  }

  /** Turns a guest account into a full one with a password (registration with guest_access_token). */
  /** Checks a new password against the policy and hashes it (to keep it hashed until the account exists). */
  async hashNewPassword(password: string): Promise<string> {
    checkNewPassword(password, this.deps.passwordPolicy);
    return hashPassword(password, this.deps.scryptCost, this.deps.random);
  }

  async upgradeGuest(userId: string, password: string): Promise<void> {
    checkNewPassword(password, this.deps.passwordPolicy);
    const hash = await hashPassword(password, this.deps.scryptCost, this.deps.random);
    await this.deps.sql.transaction((tx) => this.deps.users.upgradeGuest(userId, hash, userId.slice(1, userId.indexOf(":")), tx));
    this.deps.credentialsChanged?.(userId);
    await this.deps.events.emit("userRegistered", { userId, isGuest: false });
  }

  /**
   * Spec "Account suspension": other areas call this before joining, inviting,
   * sending and the like; suspended users get 403 M_USER_SUSPENDED.
   */
  async assertNotSuspended(userId: string): Promise<void> {
    const user = await this.deps.users.get(userId);
    if (user?.suspended) throw new MatrixError(403, "M_USER_SUSPENDED", "Your account has been suspended");
  }

  async getUser(userId: string): Promise<UserRow | undefined> {
    return this.deps.users.get(userId);
  }

  /**
   * Resolves what a client typed (a full user id or a localpart, any case) to
   * one of our users, or undefined.
   */
  async resolveUser(input: string): Promise<UserRow | undefined> {
    let userId: string;
    if (input.startsWith("@")) {
      const parsed = parseUserId(input);
      if (!parsed || parsed.serverName !== this.deps.serverName) return undefined;
      userId = input;
    } else {
      userId = this.userIdFor(input);
    }
    const rows = await this.deps.users.findCaseInsensitive(userId);
    return rows.find((r) => r.user_id === userId) ?? (rows.length === 1 ? rows[0] : undefined);
  }

  /** Resolves a third-party id (an email address) bound to a local account. */
  async resolveThreepid(medium: string, address: string): Promise<UserRow | undefined> {
    const userId = await this.deps.threepids.userFor(medium, medium === "email" ? address.toLowerCase() : address);
    return userId ? this.deps.users.get(userId) : undefined;
  }

  /**
   * Checks a password for a user; counts failures against the account so
   * guessing is rate limited. Wrong or unknown: 403 M_FORBIDDEN.
   */
  async checkPassword(user: UserRow | undefined, password: string, limiterKey?: string): Promise<UserRow> {
    const key = limiterKey ?? user?.user_id;
    if (key) this.deps.failedLogins?.ensureNotLimited(key);
    // Unknown users and users without a password cost a hash too, so timing
    // does not tell which user ids exist.
    const ok = user?.password_hash ? await verifyPassword(password, user.password_hash) : (await this.burnHash(password), false);
    // Spec "Login": deactivated accounts (whose password is gone) get M_USER_DEACTIVATED, as other servers answer.
    if (user?.deactivated) throw new MatrixError(403, "M_USER_DEACTIVATED", "This account has been deactivated");
    if (!ok || !user) {
      if (key) this.deps.failedLogins?.record(key);
      throw forbidden("Invalid username or password");
    }
    return user;
  }

  private dummyHash: Promise<string> | undefined;

  private async burnHash(password: string): Promise<void> {
    this.dummyHash ??= hashPassword("not a real password", this.deps.scryptCost, this.deps.random);
    await verifyPassword(password, await this.dummyHash);
  }

  /** Sets a new password; optionally logs out every other device (spec "Password management"). */
  async changePassword(
    userId: string,
    newPassword: string,
    opts: { logoutDevices: boolean; keepDeviceId: string | null; keepTokenHash?: string; skipPolicy?: boolean },
  ): Promise<void> {
    if (!opts.skipPolicy) checkNewPassword(newPassword, this.deps.passwordPolicy);
    const hash = await hashPassword(newPassword, this.deps.scryptCost, this.deps.random);
    await this.deps.users.setPasswordHash(userId, hash);
    if (opts.logoutDevices) await this.deps.sessions.logoutOthers(userId, opts.keepDeviceId, opts.keepTokenHash);
  }

  /**
   * Deactivates an account: every device and token goes, the password is
   * removed, 3PIDs are unbound, and with `erase` the profile is cleared.
   * Listeners (rooms) make the user leave their rooms.
   */
  async deactivate(userId: string, erase: boolean): Promise<void> {
    await this.deps.sql.transaction(async (tx) => {
      await this.deps.users.markDeactivated(userId, erase, tx);
      await this.deps.tokens.deleteAllForUser(userId, tx);
      await this.deps.threepids.deleteAllForUser(userId, tx);
      if (erase) await this.deps.users.clearProfile(userId, tx);
    });
    this.deps.credentialsChanged?.(userId);
    await this.deps.sessions.deleteDevices(userId, undefined);
    if (erase) await this.deps.events.emit("profileChanged", { userId, displayname: null, avatarUrl: null });
    await this.deps.events.emit("userDeactivated", { userId, erase });
  }
}
