import { isValidRoomId, isValidUserId, serverNameOf } from "../../core/index.js";
import type { InboundEduDeps } from "./context.js";

/**
 * Whether `origin` may send an EDU about `userId` in `roomId` (typing,
 * receipts): "Receiving servers should verify that the user is in the room,
 * and is a user belonging to the sending server" ("Typing Notifications"),
 * and the room's server ACL must allow the origin.
 */
export async function mayActInRoom(deps: InboundEduDeps, origin: string, userId: unknown, roomId: unknown): Promise<boolean> {
  if (typeof userId !== "string" || typeof roomId !== "string") return false;
  if (!isValidUserId(userId, { historical: true }) || !isValidRoomId(roomId)) return false;
  if (serverNameOf(userId) !== origin) return false;
  if (deps.serverAllowedInRoom && !(await deps.serverAllowedInRoom(origin, roomId))) return false;
  return deps.isJoined(userId, roomId);
}

/** Whether `userId` is a well-formed user of `origin` (presence, to-device, device lists). */
export function isUserOf(origin: string, userId: unknown): userId is string {
  return typeof userId === "string" && isValidUserId(userId, { historical: true }) && serverNameOf(userId) === origin;
}
