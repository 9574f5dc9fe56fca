/**
 * Content hash and reference hash (server-server "Calculating the content
 * hash for an event" and "Calculating the reference hash for an event").
 */
import { canonicalJsonBytes } from "../canonical-json.js";
import { decodeBase64, encodeBase64, sha256 } from "../crypto.js";
import { getOwn, isJsonObject } from "../json.js";
import type { RoomVersion } from "../room-versions.js";
import type { Pdu } from "./pdu.js";
import { redact } from "./redaction.js";

/** SHA-256 over the canonical event without `unsigned`, `signatures` and `hashes`. */
export function computeContentHash(pdu: Pdu, roomVersion: RoomVersion): Uint8Array {
  const { unsigned: _u, signatures: _s, hashes: _h, ...rest } = pdu;
  return sha256(canonicalJsonBytes(rest, { strict: roomVersion.strictCanonicalJson }));
}

/** SHA-256 over the canonical redacted event without `signatures` and `unsigned`. */
export function computeReferenceHash(pdu: Pdu, roomVersion: RoomVersion): Uint8Array {
  const { signatures: _s, unsigned: _u, ...rest } = redact(pdu, roomVersion);
  return sha256(canonicalJsonBytes(rest, { strict: roomVersion.strictCanonicalJson }));
}

/** Whether `hashes.sha256` matches the event (receipt check 3; on mismatch, store the redacted form). */
export function checkContentHash(pdu: Pdu, roomVersion: RoomVersion): boolean {
  const hashes = getOwn(pdu, "hashes");
  if (!isJsonObject(hashes)) return false;
  const claimed = getOwn(hashes, "sha256");
  if (typeof claimed !== "string") return false;
  const decoded = decodeBase64(claimed);
  if (decoded === undefined) return false;
  let actual: Uint8Array;
  try {
    actual = computeContentHash(pdu, roomVersion);
  } catch {
    return false;
  }
  return Buffer.compare(decoded, actual) === 0;
}

export function contentHashBase64(pdu: Pdu, roomVersion: RoomVersion): string {
  return encodeBase64(computeContentHash(pdu, roomVersion));
}
