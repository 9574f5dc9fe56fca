import type { JsonObject } from "../core/index.js";

/** The profile fields membership events carry (client-server m.room.member). */
export interface Profile {
  displayname?: string | null;
  avatar_url?: string | null;
}

/** Narrow view of the accounts area's profile store. */
export interface ProfileLookup {
  getProfile(userId: string): Promise<Profile>;
}

export const noProfiles: ProfileLookup = { getProfile: async () => ({}) };

export function memberContent(membership: string, profile: Profile, reason?: string): JsonObject {
  const c: JsonObject = { membership };
  if (typeof profile.displayname === "string") c.displayname = profile.displayname;
  if (typeof profile.avatar_url === "string") c.avatar_url = profile.avatar_url;
  if (reason !== undefined) c.reason = reason;
  return c;
}
