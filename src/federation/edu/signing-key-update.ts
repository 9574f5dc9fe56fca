import { signingKeyFor } from "../../e2ee/remote-device-lists.js";
import type { EduHandler } from "./context.js";
import { isUserOf } from "./room-check.js";

/** m.signing_key_update ("End-to-End Encryption"): a user of the origin has a new master and/or self-signing key. */
export const receiveSigningKeyUpdate: EduHandler = async (deps, origin, content) => {
  const userId = content.user_id;
  if (!isUserOf(origin, userId)) {
    deps.log.info({ origin }, "m.signing_key_update refused: user is not of the origin");
    return;
  }
  const master = signingKeyFor(content.master_key, userId, "master");
  const selfSigning = signingKeyFor(content.self_signing_key, userId, "self_signing");
  if (!master && !selfSigning) return;
  await deps.deviceLists.onSigningKeyUpdate(userId, { master, selfSigning });
};
