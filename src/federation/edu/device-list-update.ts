import { isJsonObject } from "../../core/index.js";
import { deviceKeysFor } from "../../e2ee/remote-device-lists.js";
import type { EduHandler } from "./context.js";
import { isUserOf } from "./room-check.js";

/**
 * m.device_list_update ("Device Management"): one device of a user of the
 * origin changed (or was deleted); `stream_id` and `prev_id` chain the
 * updates, and the remote device list cache resynchronises on a gap.
 */
export const receiveDeviceListUpdate: EduHandler = async (deps, origin, content) => {
  const { user_id: userId, device_id: deviceId, stream_id: streamId, prev_id: prevId, deleted, device_display_name: name } = content;
  if (!isUserOf(origin, userId)) {
    deps.log.info({ origin }, "m.device_list_update refused: user is not of the origin");
    return;
  }
  if (typeof deviceId !== "string" || deviceId === "" || deviceId.length > 255) return;
  if (typeof streamId !== "number" || !Number.isSafeInteger(streamId)) return;
  const prevIds = Array.isArray(prevId) ? prevId.filter((p): p is number => typeof p === "number" && Number.isSafeInteger(p)).slice(0, 100) : [];
  const keys = content.keys;
  await deps.deviceLists.onUpdate({
    userId,
    deviceId,
    streamId,
    prevIds,
    deleted: deleted === true,
    displayName: typeof name === "string" ? name.slice(0, 1000) : null,
    keys: deleted === true || !isJsonObject(keys) ? null : deviceKeysFor(keys, userId, deviceId),
  });
};
