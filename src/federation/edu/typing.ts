import type { EduHandler } from "./context.js";
import { mayActInRoom } from "./room-check.js";

/**
 * m.typing ("Typing Notifications"): `{room_id, user_id, typing}`. The EDU
 * has no timeout; the local default applies, and the sender repeats it while
 * the user keeps typing.
 */
export const receiveTyping: EduHandler = async (deps, origin, content) => {
  const { room_id: roomId, user_id: userId, typing } = content;
  if (typeof typing !== "boolean") return;
  if (!(await mayActInRoom(deps, origin, userId, roomId))) {
    deps.log.info({ origin, room_id: roomId, user_id: userId }, "m.typing refused: user not of origin or not in the room");
    return;
  }
  deps.typing.setTyping(roomId as string, userId as string, typing);
};
