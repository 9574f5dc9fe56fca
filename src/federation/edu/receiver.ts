/**
 * The EDUs of a received transaction ("Transactions", "EDUs"): each is
 * handed to the handler of its type; unknown types are ignored, and one bad
 * EDU never affects the others or the transaction's answer.
 */
import { isJsonObject } from "../../core/index.js";
import type { EduHandler, InboundEduDeps } from "./context.js";
import { receiveDeviceListUpdate } from "./device-list-update.js";
import { receiveDirectToDevice } from "./direct-to-device.js";
import { receivePresence } from "./presence.js";
import { receiveReceipt } from "./receipt.js";
import { receiveSigningKeyUpdate } from "./signing-key-update.js";
import { receiveTyping } from "./typing.js";

const HANDLERS: Record<string, EduHandler> = {
  "m.typing": receiveTyping,
  "m.receipt": receiveReceipt,
  "m.presence": receivePresence,
  "m.direct_to_device": receiveDirectToDevice,
  "m.device_list_update": receiveDeviceListUpdate,
  "m.signing_key_update": receiveSigningKeyUpdate,
};

export class EduReceiver {
  constructor(private readonly deps: InboundEduDeps) {}

  /** Processes the EDUs of one transaction from `origin`, in order. */
  async receive(origin: string, edus: readonly unknown[]): Promise<void> {
    for (const edu of edus) {
      if (!isJsonObject(edu) || typeof edu.edu_type !== "string" || !isJsonObject(edu.content)) continue;
      const handler = Object.hasOwn(HANDLERS, edu.edu_type) ? HANDLERS[edu.edu_type] : undefined;
      if (!handler) continue;
      try {
        await handler(this.deps, origin, edu.content);
      } catch (err) {
        this.deps.log.warn({ origin, edu_type: edu.edu_type, err }, "processing a received EDU failed");
      }
    }
  }
}
