import { randomBytes } from "node:crypto";
import { encodeBase64, signJson, signingKeyFromSeed, type JsonObject, type SigningKey } from "../src/core/index.js";
import type { J } from "./accounts-helpers.js";

/**
 * Real Ed25519 keys and signatures for e2ee tests, through the core's
 * "Signing JSON". A key's id is "ed25519:<version>": the device id for device
 * keys, the unpadded base64 public key for cross-signing keys.
 */
export function ed25519Key(version?: string): SigningKey {
  const seed = randomBytes(32);
  if (version !== undefined) return signingKeyFromSeed(seed, version);
  const pub = encodeBase64(signingKeyFromSeed(seed, "x").publicKey);
  return signingKeyFromSeed(seed, pub);
}

export function pub(key: SigningKey): string {
  return encodeBase64(key.publicKey);
}

/** Signs a copy (typed loosely: tests poke into the result). */
export function sign(obj: J, userId: string, key: SigningKey): J {
  return signJson(obj as JsonObject, userId, key);
}

/** Device identity keys signed by the device's own ed25519 key. */
export function makeDeviceKeys(userId: string, deviceId: string, key: SigningKey = ed25519Key(deviceId)): { keys: J; key: SigningKey } {
  const obj: JsonObject = {
    user_id: userId,
    device_id: deviceId,
    algorithms: ["m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"],
    keys: { [`curve25519:${deviceId}`]: encodeBase64(randomBytes(32)), [`ed25519:${deviceId}`]: pub(key) },
  };
  return { keys: sign(obj, userId, key), key };
}

/** `count` signed_curve25519 one-time keys named AAAA<start+i>. */
export function makeOneTimeKeys(userId: string, key: SigningKey, count: number, start = 0, fallback = false): Record<string, J> {
  const out: Record<string, J> = {};
  for (let i = 0; i < count; i++) {
    const obj: JsonObject = { key: encodeBase64(randomBytes(32)) };
    if (fallback) obj.fallback = true;
    out[`signed_curve25519:AAAA${start + i}`] = sign(obj, userId, key);
  }
  return out;
}

export function crossSigningKey(userId: string, usage: string, key: SigningKey, signer?: SigningKey): J {
  const obj: JsonObject = { user_id: userId, usage: [usage], keys: { [key.keyId]: pub(key) } };
  return signer ? sign(obj, userId, signer) : obj;
}
