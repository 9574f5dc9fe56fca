import { Coalescer } from "./coalesce.js";
import type { SqlQueryable } from "./sql.js";

export interface UserRow {
  user_id: string;
  password_hash: string | null;
  is_admin: boolean;
  is_guest: boolean;
  deactivated: boolean;
  erased: boolean;
  locked: boolean;
  suspended: boolean;
  /** Set by the admin API (migration 0140). */
  shadow_banned?: boolean;
  user_type: string | null;
  appservice_id: string | null;
  created_ts: number;
}

export interface NewUser {
  userId: string;
  passwordHash: string | null;
  isAdmin?: boolean;
  isGuest?: boolean;
  userType?: string | null;
  appServiceId?: string | null;
  createdTs: number;
  /** The new profile's display name. */
  displayname?: string | null;
}

export interface ProfileRow {
  user_id: string;
  displayname: string | null;
  avatar_url: string | null;
  fields: Record<string, unknown>;
}

// Sort orders of the admin user list (Synapse's `order_by` values) and their columns.
const USER_ORDER = {
  name: "u.user_id",
  is_guest: "u.is_guest",
  admin: "u.is_admin",
  user_type: "u.user_type",
  deactivated: "u.deactivated",
  shadow_banned: "u.shadow_banned",
  displayname: "p.displayname",
  avatar_url: "p.avatar_url",
  creation_ts: "u.created_ts",
  locked: "u.locked",
} as const;
export type UserOrder = keyof typeof USER_ORDER;
export const USER_ORDERS = Object.keys(USER_ORDER) as UserOrder[];

/** Users and their profiles. */
export class UsersRepo {
  constructor(private readonly db: SqlQueryable) {}

  /** Inserts the user and an empty profile; false when the id is taken. */
  async create(u: NewUser, db: SqlQueryable = this.db): Promise<boolean> {
    const rows = await db.query(
      `INSERT INTO users (user_id, password_hash, is_admin, is_guest, user_type, appservice_id, created_ts)
       VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (user_id) DO NOTHING RETURNING user_id`,
      [u.userId, u.passwordHash, u.isAdmin ?? false, u.isGuest ?? false, u.userType ?? null, u.appServiceId ?? null, u.createdTs],
    );
    if (rows.length === 0) return false;
    await db.query(
      "INSERT INTO profiles (user_id, displayname) VALUES ($1, $2) ON CONFLICT (user_id) DO UPDATE SET displayname = $2",
      [u.userId, u.displayname ?? null],
    );
    return true;
  }

  /** Those of `userIds` whose accounts were deactivated with erasure. */
  async erasedAmong(userIds: readonly string[]): Promise<Set<string>> {
    if (userIds.length === 0) return new Set();
    const flags = await Promise.all(userIds.map((u) => this.erasure.load(u)));
    return new Set(userIds.filter((_, i) => flags[i]));
  }

  // Every response with events asks about their senders: one statement per turn for all of them.
  private readonly erasure = new Coalescer<string, boolean>(
    (u) => u,
    async (userIds) => {
      const rows = await this.db.query<{ user_id: string }>("SELECT user_id FROM users WHERE erased AND user_id = ANY($1::text[])", [userIds]);
      return new Map(rows.map((r) => [r.user_id, true]));
    },
    () => false,
  );

  async get(userId: string, db: SqlQueryable = this.db): Promise<UserRow | undefined> {
    const rows = await db.query<UserRow & Record<string, unknown>>("SELECT * FROM users WHERE user_id = $1", [userId]);
    return rows[0];
  }

  /** Case-insensitive lookup, so login works whatever case the user types. */
  async findCaseInsensitive(userId: string): Promise<UserRow[]> {
    return this.db.query<UserRow & Record<string, unknown>>("SELECT * FROM users WHERE lower(user_id) = lower($1)", [userId]);
  }

  async exists(userId: string): Promise<boolean> {
    const rows = await this.db.query("SELECT 1 FROM users WHERE lower(user_id) = lower($1)", [userId]);
    return rows.length > 0;
  }

  async nextGuestNumber(): Promise<number> {
    const rows = await this.db.query<{ n: number }>("SELECT nextval('guest_localpart_seq') AS n");
    return Number(rows[0]!.n);
  }

  async setPasswordHash(userId: string, hash: string | null, db: SqlQueryable = this.db): Promise<void> {
    await db.query("UPDATE users SET password_hash = $2 WHERE user_id = $1", [userId, hash]);
  }

  async setAdmin(userId: string, admin: boolean): Promise<void> {
    await this.db.query("UPDATE users SET is_admin = $2 WHERE user_id = $1", [userId, admin]);
  }

  async setLocked(userId: string, locked: boolean): Promise<void> {
    await this.db.query("UPDATE users SET locked = $2 WHERE user_id = $1", [userId, locked]);
  }

  async setSuspended(userId: string, suspended: boolean): Promise<void> {
    await this.db.query("UPDATE users SET suspended = $2 WHERE user_id = $1", [userId, suspended]);
  }

  /** Turns a guest into a full user (registration upgrading a guest account). */
  async upgradeGuest(userId: string, passwordHash: string | null, displayname: string, db: SqlQueryable = this.db): Promise<void> {
    await db.query("UPDATE users SET is_guest = false, password_hash = $2 WHERE user_id = $1", [userId, passwordHash]);
    await db.query("UPDATE profiles SET displayname = coalesce(displayname, $2) WHERE user_id = $1", [userId, displayname]);
  }

  async markDeactivated(userId: string, erase: boolean, db: SqlQueryable = this.db): Promise<void> {
    await db.query("UPDATE users SET deactivated = true, password_hash = NULL, erased = erased OR $2 WHERE user_id = $1", [userId, erase]);
  }

  async reactivate(userId: string): Promise<void> {
    await this.db.query("UPDATE users SET deactivated = false, erased = false WHERE user_id = $1", [userId]);
  }

  async count(): Promise<number> {
    const rows = await this.db.query<{ n: number }>("SELECT count(*)::int8 AS n FROM users");
    return Number(rows[0]!.n);
  }

  // --- profiles ---

  async getProfile(userId: string): Promise<ProfileRow | undefined> {
    const rows = await this.db.query<ProfileRow & Record<string, unknown>>("SELECT * FROM profiles WHERE user_id = $1", [userId]);
    return rows[0];
  }

  async setDisplayname(userId: string, value: string | null): Promise<void> {
    await this.db.query(
      "INSERT INTO profiles (user_id, displayname) VALUES ($1, $2) ON CONFLICT (user_id) DO UPDATE SET displayname = $2",
      [userId, value],
    );
  }

  async setAvatarUrl(userId: string, value: string | null): Promise<void> {
    await this.db.query(
      "INSERT INTO profiles (user_id, avatar_url) VALUES ($1, $2) ON CONFLICT (user_id) DO UPDATE SET avatar_url = $2",
      [userId, value],
    );
  }

  async setFields(userId: string, fields: Record<string, unknown>): Promise<void> {
    await this.db.query(
      "INSERT INTO profiles (user_id, fields) VALUES ($1, $2::jsonb) ON CONFLICT (user_id) DO UPDATE SET fields = $2::jsonb",
      [userId, JSON.stringify(fields)],
    );
  }

  async clearProfile(userId: string, db: SqlQueryable = this.db): Promise<void> {
    await db.query("UPDATE profiles SET displayname = NULL, avatar_url = NULL, fields = '{}'::jsonb WHERE user_id = $1", [userId]);
  }

  /** A page of users for the admin API, ordered by user id. */
  async list(opts: {
    from: number;
    limit: number;
    name?: string;
    guests: boolean;
    deactivated: boolean;
    admins?: boolean;
    /** Include locked users (Synapse leaves them out unless asked). */
    locked?: boolean;
    order?: UserOrder;
    dir?: "f" | "b";
  }): Promise<{
    users: Array<UserRow & { displayname: string | null; avatar_url: string | null }>;
    total: number;
  }> {
    const pattern = opts.name === undefined ? null : `%${opts.name.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    const where = `($1::text IS NULL OR u.user_id ILIKE $1 OR p.displayname ILIKE $1) AND ($2 OR NOT u.is_guest) AND ($3 OR NOT u.deactivated)
      AND ($4::boolean IS NULL OR u.is_admin = $4) AND ($5 OR NOT u.locked)`;
    const params = [pattern, opts.guests, opts.deactivated, opts.admins ?? null, opts.locked ?? true];
    const dir = opts.dir === "b" ? "DESC" : "ASC";
    const order = USER_ORDER[opts.order ?? "name"];
    const users = await this.db.query<UserRow & { displayname: string | null; avatar_url: string | null } & Record<string, unknown>>(
      `SELECT u.*, p.displayname, p.avatar_url FROM users u LEFT JOIN profiles p ON p.user_id = u.user_id
        WHERE ${where} ORDER BY ${order} ${dir} NULLS LAST, u.user_id ${dir} OFFSET $6 LIMIT $7`,
      [...params, opts.from, opts.limit],
    );
    const total = await this.db.query<{ n: number }>(
      `SELECT count(*)::int8 AS n FROM users u LEFT JOIN profiles p ON p.user_id = u.user_id WHERE ${where}`,
      params,
    );
    return { users, total: Number(total[0]!.n) };
  }

  async setUserType(userId: string, userType: string | null): Promise<void> {
    await this.db.query("UPDATE users SET user_type = $2 WHERE user_id = $1", [userId, userType]);
  }
}
