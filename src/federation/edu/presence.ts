import { getOwn, isJsonObject } from "../../core/index.js";
import { PRESENCE_STATES, type PresenceState } from "../../ephemeral/presence.js";
import type { EduHandler } from "./context.js";
import { isUserOf } from "./room-check.js";

const MAX_PUSH = 1000;

/**
 * m.presence ("Presence"): `{push: [{user_id, presence, last_active_ago,
 * status_msg?, currently_active?}]}`. Kept for users of the origin that a
 * local user shares a room with; others are of no interest here.
 */
export const receivePresence: EduHandler = async (deps, origin, content) => {
  const push = content.push;
  if (!Array.isArray(push)) return;
  for (const entry of push.slice(0, MAX_PUSH)) {
    if (!isJsonObject(entry)) continue;
    const userId = getOwn(entry, "user_id");
    const presence = getOwn(entry, "presence");
    const ago = getOwn(entry, "last_active_ago");
    const msg = getOwn(entry, "status_msg");
    if (!isUserOf(origin, userId)) continue;
    if (typeof presence !== "string" || !(PRESENCE_STATES as readonly string[]).includes(presence)) continue;
    if (typeof ago !== "number" || !Number.isSafeInteger(ago)) continue;
    if (!(await deps.isTracked(userId))) continue;
    await deps.presence.receiveRemote(userId, presence as PresenceState, typeof msg === "string" ? msg : null, ago);
  }
};
