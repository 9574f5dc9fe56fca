import { badJson, forbidden, MatrixError, missingParam, notFound } from "../http/errors.js";
import type { UsersRepo } from "../storage/users-repo.js";
import type { AccountEvents } from "./events.js";

/** Spec "Profiles": the whole profile must stay under 64 KiB. */
export const MAX_PROFILE_BYTES = 64 * 1024;
export const MAX_PROFILE_KEY_BYTES = 255;
const KEY_NAME = /^(avatar_url|displayname|m\.tz|[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+)$/;

export interface ProfileLimits {
  max_displayname_length: number;
  max_avatar_url_length: number;
  max_field_bytes: number;
}

export interface ProfileServiceDeps {
  serverName: string;
  users: UsersRepo;
  events: AccountEvents;
  limits: ProfileLimits;
  /** Looks a remote user's profile up over federation (the federation area provides it). */
  remoteProfile?: (userId: string, field?: string) => Promise<Record<string, unknown> | undefined>;
  /**
   * Asks the application services about an unknown local user (application
   * service API "Querying"); true when one says it created the user.
   */
  queryUnknownUser?: (userId: string) => Promise<boolean>;
}

const tooLarge = (msg: string) => new MatrixError(400, "M_TOO_LARGE", msg);

/** Display names, avatars and custom profile fields (spec v1.16). */
export class ProfileService {
  constructor(private readonly deps: ProfileServiceDeps) {}

  private isLocal(userId: string): boolean {
    return userId.endsWith(`:${this.deps.serverName}`);
  }

  /** The whole profile, or undefined when the user does not exist. */
  async getProfile(userId: string): Promise<Record<string, unknown> | undefined> {
    if (!this.isLocal(userId)) return this.deps.remoteProfile?.(userId);
    let row = await this.deps.users.getProfile(userId);
    if (!row && (await this.deps.queryUnknownUser?.(userId))) row = await this.deps.users.getProfile(userId);
    if (!row) return undefined;
    const out: Record<string, unknown> = { ...row.fields };
    if (row.displayname !== null) out.displayname = row.displayname;
    if (row.avatar_url !== null) out.avatar_url = row.avatar_url;
    return out;
  }

  async getField(userId: string, key: string): Promise<unknown> {
    this.checkKey(key);
    const profile = await this.getProfile(userId);
    if (!profile) throw notFound("Profile not found");
    if (!(key in profile)) throw notFound(`No '${key}' in this profile`);
    return profile[key];
  }

  checkKey(key: string): void {
    if (Buffer.byteLength(key, "utf8") > MAX_PROFILE_KEY_BYTES) throw new MatrixError(400, "M_KEY_TOO_LARGE", "Profile key is longer than 255 bytes");
    if (!KEY_NAME.test(key)) throw new MatrixError(400, "M_INVALID_PARAM", `Invalid profile key '${key}'`);
  }

  /**
   * PUT /profile/{userId}/{keyName}. `body` must hold exactly the key being set.
   * Guests may only set their display name (spec "Guest access").
   */
  async setField(requester: { userId: string; isGuest: boolean }, userId: string, key: string, body: Record<string, unknown>): Promise<void> {
    this.checkKey(key);
    if (requester.userId !== userId) throw forbidden("You may only change your own profile");
    if (requester.isGuest && key !== "displayname") throw forbidden("Guests may only set a display name");
    await this.assertNotSuspended(userId);
    if (!(key in body)) throw missingParam(`Missing '${key}' in the request body`);
    const value = body[key];
    const row = await this.deps.users.getProfile(userId);
    if (!row) throw notFound("Profile not found");
    const { limits } = this.deps;
    const next = { displayname: row.displayname, avatar_url: row.avatar_url, fields: { ...row.fields } };
    if (key === "displayname") {
      if (value !== null && typeof value !== "string") throw badJson("displayname must be a string");
      if (typeof value === "string" && [...value].length > limits.max_displayname_length) {
        throw tooLarge(`displayname is longer than ${limits.max_displayname_length} characters`);
      }
      next.displayname = value === "" ? null : value;
    } else if (key === "avatar_url") {
      if (value !== null && typeof value !== "string") throw badJson("avatar_url must be a string");
      // The spec asks clients for an mxc:// URI; like other servers we store any
      // string (clients only ever fetch mxc:// avatars), within the length limit.
      if (typeof value === "string" && value.length > limits.max_avatar_url_length) {
        throw tooLarge(`avatar_url is longer than ${limits.max_avatar_url_length} characters`);
      }
      next.avatar_url = value === "" ? null : value;
    } else {
      if (key === "m.tz" && typeof value !== "string") throw badJson("m.tz must be a string");
      if (Buffer.byteLength(JSON.stringify(value ?? null), "utf8") > limits.max_field_bytes) {
        throw tooLarge(`The value of '${key}' is larger than ${limits.max_field_bytes} bytes`);
      }
      next.fields[key] = value;
    }
    this.checkTotal(next);
    if (key === "displayname") await this.deps.users.setDisplayname(userId, next.displayname);
    else if (key === "avatar_url") await this.deps.users.setAvatarUrl(userId, next.avatar_url);
    else await this.deps.users.setFields(userId, next.fields);
    if (key === "displayname" || key === "avatar_url") {
      await this.deps.events.emit("profileChanged", { userId, displayname: next.displayname, avatarUrl: next.avatar_url });
    }
  }

  async deleteField(requester: { userId: string; isGuest: boolean }, userId: string, key: string): Promise<void> {
    this.checkKey(key);
    if (requester.userId !== userId) throw forbidden("You may only change your own profile");
    if (requester.isGuest && key !== "displayname") throw forbidden("Guests may only change a display name");
    await this.assertNotSuspended(userId);
    const row = await this.deps.users.getProfile(userId);
    if (!row) throw notFound("Profile not found");
    if (key === "displayname" || key === "avatar_url") {
      if (key === "displayname") await this.deps.users.setDisplayname(userId, null);
      else await this.deps.users.setAvatarUrl(userId, null);
      await this.deps.events.emit("profileChanged", {
        userId,
        displayname: key === "displayname" ? null : row.displayname,
        avatarUrl: key === "avatar_url" ? null : row.avatar_url,
      });
      return;
    }
    if (!(key in row.fields)) return;
    const fields = { ...row.fields };
    delete fields[key];
    await this.deps.users.setFields(userId, fields);
  }

  // Spec "Account suspension": changing profile data is among the forbidden actions.
  private async assertNotSuspended(userId: string): Promise<void> {
    if ((await this.deps.users.get(userId))?.suspended) throw new MatrixError(403, "M_USER_SUSPENDED", "Your account has been suspended");
  }

  private checkTotal(p: { displayname: string | null; avatar_url: string | null; fields: Record<string, unknown> }): void {
    const whole: Record<string, unknown> = { ...p.fields };
    if (p.displayname !== null) whole.displayname = p.displayname;
    if (p.avatar_url !== null) whole.avatar_url = p.avatar_url;
    if (Buffer.byteLength(JSON.stringify(whole), "utf8") > MAX_PROFILE_BYTES) {
      throw new MatrixError(400, "M_PROFILE_TOO_LARGE", "The profile would exceed 64 KiB");
    }
  }
}
