/**
 * Signing JSON (appendix "Signing Details" and "Checking for a Signature").
 * Signatures cover the canonical JSON of the object without `signatures` and
 * `unsigned`; they are stored under signatures[entity][keyId].
 */
import { canonicalJsonBytes, type CanonicalJsonOptions } from "./canonical-json.js";
import { decodeBase64, ed25519Sign, ed25519Verify, encodeBase64, type SigningKey, type VerifyKey } from "./crypto.js";
import { getOwn, isJsonObject, type JsonObject } from "./json.js";

/** The bytes a signature covers: the object minus `signatures` and `unsigned`. */
export function signableBytes(obj: JsonObject, options?: CanonicalJsonOptions): Uint8Array {
  const { signatures: _s, unsigned: _u, ...rest } = obj;
  return canonicalJsonBytes(rest, options);
}

/** Returns a copy of `obj` with our signature added (existing signatures are kept). */
export function signJson<T extends JsonObject>(
  obj: T,
  signingName: string,
  key: SigningKey,
  options?: CanonicalJsonOptions,
): T {
  const signature = encodeBase64(ed25519Sign(key, signableBytes(obj, options)));
  const existing = getOwn(obj, "signatures");
  const signatures: JsonObject = isJsonObject(existing) ? { ...existing } : {};
  const mine = getOwn(signatures, signingName);
  signatures[signingName] = { ...(isJsonObject(mine) ? mine : {}), [key.keyId]: signature };
  return { ...obj, signatures };
}

export type SignatureCheck =
  | { readonly ok: true }
  | { readonly ok: false; readonly reason: string };

/**
 * Checks one entity's signature with one known key (appendix "Checking for a
 * Signature", steps 1, 4-7; key lookup, step 3, is the caller's job).
 */
export function verifyJsonSignature(
  obj: JsonObject,
  signingName: string,
  key: VerifyKey,
  options?: CanonicalJsonOptions,
): SignatureCheck {
  const sigs = getOwn(obj, "signatures");
  if (!isJsonObject(sigs)) return { ok: false, reason: "no signatures" };
  const entity = getOwn(sigs, signingName);
  if (!isJsonObject(entity)) return { ok: false, reason: `no signatures from ${signingName}` };
  const sigB64 = getOwn(entity, key.keyId);
  if (typeof sigB64 !== "string") return { ok: false, reason: `no signature from ${signingName} with ${key.keyId}` };
  const sig = decodeBase64(sigB64);
  if (sig === undefined) return { ok: false, reason: "signature is not valid base64" };
  let bytes: Uint8Array;
  try {
    bytes = signableBytes(obj, options);
  } catch (e) {
    return { ok: false, reason: `cannot encode canonical JSON: ${(e as Error).message}` };
  }
  return ed25519Verify(key, bytes, sig) ? { ok: true } : { ok: false, reason: "bad signature" };
}

/** The key ids an entity signed with, restricted to algorithms we understand (step 2). */
export function signatureKeyIds(obj: JsonObject, signingName: string): string[] {
  const sigs = getOwn(obj, "signatures");
  if (!isJsonObject(sigs)) return [];
  const entity = getOwn(sigs, signingName);
  if (!isJsonObject(entity)) return [];
  return Object.keys(entity).filter((k) => k.startsWith("ed25519:"));
}

/**
 * Checks an entity's signatures with a key lookup: passes when at least one
 * understood key is known and every known key verifies. Unknown keys are
 * skipped, as the federation spec says for event signatures.
 */
export function verifyEntitySignatures(
  obj: JsonObject,
  signingName: string,
  lookupKey: (keyId: string) => VerifyKey | undefined,
  options?: CanonicalJsonOptions,
): SignatureCheck {
  const keyIds = signatureKeyIds(obj, signingName);
  if (keyIds.length === 0) return { ok: false, reason: `no ed25519 signatures from ${signingName}` };
  let checked = 0;
  for (const keyId of keyIds) {
    const key = lookupKey(keyId);
    if (key === undefined) continue;
    const r = verifyJsonSignature(obj, signingName, key, options);
    if (!r.ok) return r;
    checked++;
  }
  return checked > 0 ? { ok: true } : { ok: false, reason: `no known key for ${signingName}` };
}
