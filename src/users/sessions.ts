import { MatrixError } from "../http/errors.js";
import type { DevicesRepo } from "../storage/devices-repo.js";
import type { Sql } from "../storage/sql.js";
import type { TokensRepo } from "../storage/tokens-repo.js";
import type { UsersRepo } from "../storage/users-repo.js";
import { hashToken, newSecret } from "./access-tokens.js";
import { newDeviceId, type Clock, type Random } from "./deps.js";
import type { AccountEvents } from "./events.js";

export interface TokenLifetimes {
  access_token_lifetime_ms: number | null;
  refreshable_access_token_lifetime_ms: number;
  refresh_token_lifetime_ms: number | null;
  login_token_lifetime_ms: number;
}

export interface IssuedSession {
  user_id: string;
  access_token: string;
  device_id: string;
  expires_in_ms?: number;
  refresh_token?: string;
}

export interface SessionServiceDeps {
  sql: Sql;
  users: UsersRepo;
  devices: DevicesRepo;
  tokens: TokensRepo;
  clock: Clock;
  random: Random;
  events: AccountEvents;
  lifetimes: TokenLifetimes;
  /** Called after tokens of a user were revoked (committed): the authenticator drops its cached entries. */
  credentialsChanged?: (userId: string) => void;
}

/** Longest client-chosen device id we store. */
export const MAX_DEVICE_ID_BYTES = 255;
/** Longest device display name, in characters (what other servers allow too). */
export const MAX_DEVICE_NAME_LENGTH = 100;

export function checkDeviceId(deviceId: string | undefined): void {
  if (deviceId !== undefined && (deviceId === "" || Buffer.byteLength(deviceId, "utf8") > MAX_DEVICE_ID_BYTES)) {
    throw new MatrixError(400, "M_INVALID_PARAM", "device_id must be 1 to 255 bytes");
  }
}

/** Over-long device names are refused with 400 M_TOO_LARGE. */
export function checkDeviceDisplayName(name: string | null | undefined): void {
  if (typeof name === "string" && [...name].length > MAX_DEVICE_NAME_LENGTH) {
    throw new MatrixError(400, "M_TOO_LARGE", `Device display name is longer than ${MAX_DEVICE_NAME_LENGTH} characters`);
  }
}

/**
 * Devices with their access and refresh tokens: what a login or registration
 * creates and a logout removes (spec "Relationship between access tokens and
 * devices", "Refreshing access tokens").
 */
export class SessionService {
  constructor(private readonly deps: SessionServiceDeps) {}

  /**
   * Creates (or reuses) a device and issues its tokens. Earlier tokens of a
   * reused device are revoked: one device, one live session.
   */
  async createSession(userId: string, opts: { deviceId?: string; displayName?: string | null; refresh?: boolean }): Promise<IssuedSession> {
    const { clock, random, lifetimes } = this.deps;
    checkDeviceId(opts.deviceId);
    checkDeviceDisplayName(opts.displayName);
    const deviceId = opts.deviceId ?? newDeviceId(random);
    const now = clock.now();
    const accessToken = newSecret(random, "mat");
    const refreshToken = opts.refresh ? newSecret(random, "mar") : undefined;
    const lifetime = opts.refresh ? lifetimes.refreshable_access_token_lifetime_ms : lifetimes.access_token_lifetime_ms;
    const isNew = await this.deps.sql.transaction(async (tx) => {
      const existed = await this.deps.devices.exists(userId, deviceId, tx);
      await this.deps.devices.upsert({ userId, deviceId, displayName: existed ? null : (opts.displayName ?? null), createdTs: now }, tx);
      if (existed) await this.deps.tokens.revokeForDevices(userId, [deviceId], {}, tx);
      let refreshId: number | null = null;
      if (refreshToken) {
        refreshId = await this.deps.tokens.insertRefreshToken(
          {
            tokenHash: hashToken(refreshToken),
            userId,
            deviceId,
            replacesId: null,
            expiryTs: lifetimes.refresh_token_lifetime_ms === null ? null : now + lifetimes.refresh_token_lifetime_ms,
            createdTs: now,
          },
          tx,
        );
      }
      await this.deps.tokens.insertAccessToken(
        { tokenHash: hashToken(accessToken), userId, deviceId, createdTs: now, validUntilTs: lifetime === null ? null : now + lifetime, refreshTokenId: refreshId },
        tx,
      );
      return !existed;
    });
    if (!isNew) this.deps.credentialsChanged?.(userId);
    if (isNew) await this.deps.events.emit("deviceCreated", { userId, deviceId });
    const out: IssuedSession = { user_id: userId, access_token: accessToken, device_id: deviceId };
    if (lifetime !== null) out.expires_in_ms = lifetime;
    if (refreshToken) out.refresh_token = refreshToken;
    return out;
  }

  /**
   * POST /refresh: a new access token and a new refresh token. The old refresh
   * token keeps working until the new pair is first used, so a response lost
   * on the way can be retried.
   */
  async refresh(refreshToken: string): Promise<{ access_token: string; refresh_token: string; expires_in_ms: number }> {
    const { clock, random, lifetimes } = this.deps;
    const now = clock.now();
    const accessToken = newSecret(random, "mat");
    const newRefresh = newSecret(random, "mar");
    const lifetime = lifetimes.refreshable_access_token_lifetime_ms;
    let owner: string | undefined;
    const ok = await this.deps.sql.transaction(async (tx) => {
      const row = await this.deps.tokens.getRefreshTokenForUpdate(hashToken(refreshToken), tx);
      if (!row) return false;
      owner = row.user_id;
      // Spec "Soft logout": a locked account cannot obtain a new access token.
      if ((await this.deps.users.get(row.user_id, tx))?.locked) return "locked" as const;
      if (row.expiry_ts !== null && row.expiry_ts <= now) {
        await this.deps.tokens.deleteRefreshToken(row.id, tx);
        return false;
      }
      // Using this token retires the one it replaced; a token refreshed before
      // (whose successor was never used) is replaced again.
      await this.deps.tokens.retireReplaced(row.id, tx);
      for (const id of await this.deps.tokens.successorsOf(row.id, tx)) await this.deps.tokens.deleteRefreshToken(id, tx);
      await this.deps.tokens.deleteAccessTokensOfRefresh(row.id, tx);
      const id = await this.deps.tokens.insertRefreshToken(
        { tokenHash: hashToken(newRefresh), userId: row.user_id, deviceId: row.device_id, replacesId: row.id, expiryTs: row.expiry_ts, createdTs: now },
        tx,
      );
      await this.deps.tokens.insertAccessToken(
        { tokenHash: hashToken(accessToken), userId: row.user_id, deviceId: row.device_id, createdTs: now, validUntilTs: now + lifetime, refreshTokenId: id },
        tx,
      );
      return true;
    });
    if (owner !== undefined) this.deps.credentialsChanged?.(owner);
    if (ok === "locked") throw new MatrixError(401, "M_USER_LOCKED", "This account has been locked", { soft_logout: true });
    if (!ok) throw new MatrixError(401, "M_UNKNOWN_TOKEN", "Unknown or expired refresh token", { soft_logout: false });
    return { access_token: accessToken, refresh_token: newRefresh, expires_in_ms: lifetime };
  }

  /**
   * Creates a device without any token (application services manage their
   * users' devices, spec v1.17 PUT /devices/{deviceId}); false if it existed.
   */
  async createDevice(userId: string, deviceId: string, displayName: string | null): Promise<boolean> {
    checkDeviceId(deviceId);
    checkDeviceDisplayName(displayName);
    const created = await this.deps.sql.transaction(async (tx) => {
      if (await this.deps.devices.exists(userId, deviceId, tx)) return false;
      await this.deps.devices.upsert({ userId, deviceId, displayName, createdTs: this.deps.clock.now() }, tx);
      return true;
    });
    if (created) await this.deps.events.emit("deviceCreated", { userId, deviceId });
    return created;
  }

  /** Deletes devices with every token they hold. Returns the ids actually deleted. */
  async deleteDevices(userId: string, deviceIds: readonly string[] | undefined, opts: { keepTokenHash?: string } = {}): Promise<string[]> {
    const deleted = await this.deps.sql.transaction(async (tx) => {
      await this.deps.tokens.revokeForDevices(userId, deviceIds, opts, tx);
      return this.deps.devices.delete(userId, deviceIds, tx);
    });
    this.deps.credentialsChanged?.(userId);
    if (deleted.length) await this.deps.events.emit("devicesDeleted", { userId, deviceIds: deleted });
    return deleted;
  }

  /** POST /logout: the token goes, and with it its device (spec "Logout"). */
  async logout(userId: string, deviceId: string | null, tokenHash: string): Promise<void> {
    if (deviceId !== null) await this.deleteDevices(userId, [deviceId]);
    else await this.deps.tokens.deleteAccessToken(tokenHash);
    this.deps.credentialsChanged?.(userId);
  }

  /** Revokes other sessions, keeping the caller's device and token (password change). */
  async logoutOthers(userId: string, keepDeviceId: string | null, keepTokenHash: string | undefined): Promise<void> {
    const devices = await this.deps.devices.list(userId);
    const others = devices.map((d) => d.device_id).filter((d) => d !== keepDeviceId);
    await this.deleteDevices(userId, others);
    // Tokens without a device (or stray ones on the kept device) go too.
    await this.deps.tokens.revokeForDevices(userId, undefined, { keepTokenHash: keepTokenHash ?? "" });
    this.deps.credentialsChanged?.(userId);
  }

  /**
   * An access token without a device, for an admin acting as the user
   * (Synapse's admin "login as user"); it never shows in the device list.
   */
  async createDevicelessToken(userId: string, validUntilTs: number | null): Promise<string> {
    const token = newSecret(this.deps.random, "mat");
    await this.deps.tokens.insertAccessToken({
      tokenHash: hashToken(token),
      userId,
      deviceId: null,
      createdTs: this.deps.clock.now(),
      validUntilTs,
      refreshTokenId: null,
    });
    return token;
  }

  // --- m.login.token ---

  async createLoginToken(userId: string): Promise<{ login_token: string; expires_in_ms: number }> {
    const token = newSecret(this.deps.random, "mlt");
    const ttl = this.deps.lifetimes.login_token_lifetime_ms;
    await this.deps.tokens.insertLoginToken(hashToken(token), userId, this.deps.clock.now() + ttl);
    return { login_token: token, expires_in_ms: ttl };
  }

  /** The user a login token was issued to; the token is used up either way. */
  async consumeLoginToken(token: string): Promise<string | undefined> {
    const row = await this.deps.tokens.takeLoginToken(hashToken(token));
    if (!row || row.expiry_ts <= this.deps.clock.now()) return undefined;
    return row.user_id;
  }
}
