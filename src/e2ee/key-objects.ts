/**
 * Checks on the key objects clients upload: device keys ("Device keys"),
 * cross-signing keys ("Cross-signing") and one-time/fallback keys ("Key
 * algorithms"). Pure functions over parsed JSON; signatures use the core's
 * "Signing JSON" implementation.
 */
import {
  encodeCanonicalJson,
  getOwn,
  isJsonObject,
  verifyKeyFromBase64,
  type JsonObject,
  type JsonValue,
  type VerifyKey,
} from "../core/index.js";
import { MatrixError } from "../http/errors.js";

export const invalidSignature = (message: string) => new MatrixError(400, "M_INVALID_SIGNATURE", message);
export const invalidParam = (message: string) => new MatrixError(400, "M_INVALID_PARAM", message);

/** Canonical JSON of what a signature covers (no `signatures`, no `unsigned`), or undefined if not encodable. */
export function signableText(obj: JsonObject): string | undefined {
  const { signatures: _s, unsigned: _u, ...rest } = obj;
  try {
    return encodeCanonicalJson(rest);
  } catch {
    return undefined;
  }
}

/** Two key objects are the same key when everything but signatures and `unsigned` matches. */
export function sameSignedContent(a: JsonObject, b: JsonObject): boolean {
  const x = signableText(a);
  return x !== undefined && x === signableText(b);
}

export interface CheckedDeviceKeys {
  json: JsonObject;
  ed25519: string;
}

/**
 * Device keys from /keys/upload: they must have the shape of "DeviceKeys" and
 * name the uploading user and device ("Uploading keys"). The spec leaves
 * checking the self-signature to the clients that download the keys (they
 * verify it before trusting a device), and deployed servers store keys they
 * cannot verify, so the server does not refuse them.
 */
export function checkDeviceKeys(value: JsonValue, userId: string, deviceId: string): CheckedDeviceKeys {
  if (!isJsonObject(value)) throw badJsonField("device_keys", "must be an object");
  if (getOwn(value, "user_id") !== userId) throw invalidParam("device_keys.user_id must be the user who is uploading the keys");
  if (getOwn(value, "device_id") !== deviceId) throw invalidParam("device_keys.device_id must be the device that is uploading the keys");
  const algorithms = getOwn(value, "algorithms");
  if (!Array.isArray(algorithms) || !algorithms.every((a) => typeof a === "string")) {
    throw badJsonField("device_keys.algorithms", "must be an array of strings");
  }
  const keys = getOwn(value, "keys");
  if (!isJsonObject(keys) || !Object.values(keys).every((k) => typeof k === "string")) {
    throw badJsonField("device_keys.keys", "must be an object of strings");
  }
  const sigs = getOwn(value, "signatures");
  if (!isJsonObject(sigs) || !Object.values(sigs).every((s) => isJsonObject(s) && Object.values(s).every((x) => typeof x === "string"))) {
    throw badJsonField("device_keys.signatures", "must map user ids to objects of strings");
  }
  if (signableText(value) === undefined) throw badJsonField("device_keys", "is not canonical JSON (floats or out-of-range integers)");
  const ed = getOwn(keys, `ed25519:${deviceId}`);
  return { json: value, ed25519: typeof ed === "string" ? ed : "" };
}

export interface CheckedCrossSigningKey {
  json: JsonObject;
  publicKey: string;
  verifyKey: VerifyKey;
}

/** A cross-signing key object ("CrossSigningKey"): one ed25519 key whose id is its public key. */
export function checkCrossSigningKey(value: JsonValue, field: string, userId: string, usage: string): CheckedCrossSigningKey {
  if (!isJsonObject(value)) throw badJsonField(field, "must be an object");
  if (getOwn(value, "user_id") !== userId) throw invalidParam(`${field}.user_id must be the user who is uploading the key`);
  const usages = getOwn(value, "usage");
  if (!Array.isArray(usages) || !usages.every((u) => typeof u === "string")) throw badJsonField(`${field}.usage`, "must be an array of strings");
  if (!usages.includes(usage)) throw invalidParam(`${field}.usage must include '${usage}'`);
  const keys = getOwn(value, "keys");
  if (!isJsonObject(keys) || Object.keys(keys).length !== 1) throw invalidParam(`${field}.keys must hold exactly one key`);
  const [keyId, pub] = Object.entries(keys)[0]!;
  const verifyKey = typeof pub === "string" && keyId === `ed25519:${pub}` ? verifyKeyFromBase64(keyId, pub) : undefined;
  if (typeof pub !== "string" || !verifyKey) throw invalidParam(`${field}.keys must be {"ed25519:<public key>": "<public key>"}`);
  const sigs = getOwn(value, "signatures");
  if (sigs !== undefined && !isJsonObject(sigs)) throw badJsonField(`${field}.signatures`, "must be an object");
  if (signableText(value) === undefined) throw badJsonField(field, "is not canonical JSON (floats or out-of-range integers)");
  return { json: value, publicKey: pub, verifyKey };
}

/** One-time and fallback keys: `<algorithm>:<key_id>` to a key object (or, for plain curve25519, a string). */
export function parseKeyMap(value: JsonValue, field: string): Array<{ algorithm: string; keyId: string; json: JsonValue }> {
  if (!isJsonObject(value)) throw badJsonField(field, "must be an object");
  const out: Array<{ algorithm: string; keyId: string; json: JsonValue }> = [];
  for (const [name, key] of Object.entries(value)) {
    const colon = name.indexOf(":");
    if (colon <= 0 || colon === name.length - 1) throw invalidParam(`${field}: '${name.slice(0, 100)}' is not '<algorithm>:<key_id>'`);
    if (!(typeof key === "string" || isJsonObject(key))) throw badJsonField(`${field}.${name}`, "must be a key object");
    if (isJsonObject(key) && signableText(key) === undefined) throw badJsonField(`${field}.${name}`, "is not canonical JSON");
    out.push({ algorithm: name.slice(0, colon), keyId: name.slice(colon + 1), json: key });
  }
  return out;
}

/** Adds signatures to a copy of a key object (signatures[user][keyId] = sig). */
export function withSignatures(obj: JsonObject, sigs: ReadonlyArray<{ userId: string; keyId: string; signature: string }>): JsonObject {
  if (sigs.length === 0) return obj;
  const existing = getOwn(obj, "signatures");
  const all: JsonObject = isJsonObject(existing) ? { ...existing } : {};
  for (const s of sigs) {
    const mine = getOwn(all, s.userId);
    all[s.userId] = { ...(isJsonObject(mine) ? mine : {}), [s.keyId]: s.signature };
  }
  return { ...obj, signatures: all };
}

function badJsonField(field: string, message: string): MatrixError {
  return new MatrixError(400, "M_BAD_JSON", `Invalid value for '${field}': ${message}`);
}
