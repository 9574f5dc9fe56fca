import { isJsonObject } from "../../core/index.js";
import type { EduHandler } from "./context.js";
import { isUserOf } from "./room-check.js";

/**
 * m.direct_to_device ("Send-to-device messaging"): `{sender, type,
 * message_id, messages: {user_id: {device_id | "*": content}}}`. The sender
 * must belong to the origin; messages for users of other servers are
 * ignored; a message_id seen before from the same sender is not delivered
 * again.
 */
export const receiveDirectToDevice: EduHandler = async (deps, origin, content) => {
  const { sender, type, message_id: messageId, messages } = content;
  if (!isUserOf(origin, sender)) {
    deps.log.info({ origin }, "m.direct_to_device refused: sender is not a user of the origin");
    return;
  }
  if (typeof type !== "string" || type === "" || type.length > 255) return;
  if (typeof messageId !== "string" || messageId === "" || messageId.length > 255) return;
  if (!isJsonObject(messages)) return;
  await deps.toDevice.receiveRemote(sender, type, messageId, messages);
};
