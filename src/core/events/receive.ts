/**
 * Receipt checks 1-3 of server-server "Checks performed on receipt of a PDU",
 * the pure part: format, signatures, hashes. Checks 4-6 (auth against auth
 * events, state before, current state) need stored state and use `checkAuth`.
 */
import type { RoomVersion } from "../room-versions.js";
import { computeEventId } from "./event-id.js";
import { checkPduFormat } from "./format.js";
import { checkContentHash } from "./hashes.js";
import type { Pdu } from "./pdu.js";
import { redact } from "./redaction.js";
import { verifyEventSignatures, type EventKeyLookup } from "./signatures.js";

export type ReceivedPdu =
  | {
      readonly ok: true;
      readonly eventId: string;
      /** The PDU to store: the redacted copy when the content hash did not match (check 3). */
      readonly pdu: Pdu;
      readonly redactedForHashMismatch: boolean;
    }
  | { readonly ok: false; readonly step: 1 | 2; readonly reason: string };

export function checkReceivedPdu(pdu: Pdu, rv: RoomVersion, lookupKey: EventKeyLookup): ReceivedPdu {
  // 1. Is a valid event, otherwise it is dropped.
  const format = checkPduFormat(pdu, rv);
  if (!format.ok) return { ok: false, step: 1, reason: format.reason };
  // 2. Passes signature checks, otherwise it is dropped.
  const sigs = verifyEventSignatures(pdu, rv, lookupKey);
  if (!sigs.ok) return { ok: false, step: 2, reason: sigs.reason };
  const eventId = computeEventId(pdu, rv);
  // 3. Passes hash checks, otherwise it is redacted before being processed further.
  if (!checkContentHash(pdu, rv)) return { ok: true, eventId, pdu: redact(pdu, rv), redactedForHashMismatch: true };
  return { ok: true, eventId, pdu, redactedForHashMismatch: false };
}
