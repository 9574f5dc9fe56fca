/**
 * Server-server "Retrieving server keys": the key response this server
 * publishes, and the checks on a response another server (or a notary for it)
 * sends.
 */
import {
  encodeBase64,
  getOwn,
  isJsonObject,
  signJson,
  verifyJsonSignature,
  verifyKeyFromBase64,
  type JsonObject,
  type SigningKey,
  type VerifyKey,
} from "../core/index.js";

/** How long our published response is valid ("should avoid responses that expire in less than an hour"). */
export const OWN_KEYS_VALID_MS = 24 * 60 * 60 * 1000;

/** "Servers MUST use the lesser of this field and 7 days into the future when determining if a key is valid." */
export const MAX_KEY_VALIDITY_MS = 7 * 24 * 60 * 60 * 1000;

const KEY_ID = /^ed25519:[a-zA-Z0-9_]+$/;

export interface OldVerifyKey {
  key: string;
  expired_ts: number;
}

/** Our own `GET /_matrix/key/v2/server` body: current key, old keys, self-signed. */
export function ownKeyResponse(serverName: string, key: SigningKey, oldKeys: Readonly<Record<string, OldVerifyKey>>, now: number): JsonObject {
  const oldVerifyKeys: JsonObject = {};
  for (const [keyId, k] of Object.entries(oldKeys)) {
    if (keyId !== key.keyId) oldVerifyKeys[keyId] = { key: k.key, expired_ts: k.expired_ts };
  }
  const body: JsonObject = {
    server_name: serverName,
    verify_keys: { [key.keyId]: { key: encodeBase64(key.publicKey) } },
    old_verify_keys: oldVerifyKeys,
    valid_until_ts: now + OWN_KEYS_VALID_MS,
  };
  return signJson(body, serverName, key);
}

export interface ParsedKey {
  keyId: string;
  /** Unpadded base64 as published. */
  key: string;
  verifyKey: VerifyKey;
  /** Null for `verify_keys`, the expiry for `old_verify_keys`. */
  expiredTs: number | null;
}

export interface ParsedKeyResponse {
  serverName: string;
  /** As published (not capped). */
  validUntilTs: number;
  keys: ParsedKey[];
  json: JsonObject;
}

export type KeyResponseCheck = { ok: true; value: ParsedKeyResponse } | { ok: false; reason: string };

function parseKeyMap(value: unknown, old: boolean, out: ParsedKey[]): string | undefined {
  if (value === undefined && old) return undefined;
  if (!isJsonObject(value)) return `${old ? "old_verify_keys" : "verify_keys"} is not an object`;
  for (const [keyId, entry] of Object.entries(value)) {
    if (!KEY_ID.test(keyId)) continue; // algorithms we do not understand
    if (!isJsonObject(entry)) return `key ${keyId} is not an object`;
    const key = getOwn(entry, "key");
    if (typeof key !== "string") return `key ${keyId} has no key`;
    const verifyKey = verifyKeyFromBase64(keyId, key);
    if (verifyKey === undefined) return `key ${keyId} is not a 32-byte Ed25519 key`;
    let expiredTs: number | null = null;
    if (old) {
      const e = getOwn(entry, "expired_ts");
      if (typeof e !== "number" || !Number.isSafeInteger(e)) return `old key ${keyId} has no expired_ts`;
      expiredTs = e;
    }
    out.push({ keyId, key, verifyKey, expiredTs });
  }
  return undefined;
}

/**
 * Checks a key response for `serverName`: the shape of "Server Keys", and that
 * it is signed by the server with at least one of its own `verify_keys`, every
 * such signature verifying. Signatures by other entities (notaries) are left
 * to the caller.
 */
export function checkKeyResponse(json: unknown, serverName: string): KeyResponseCheck {
  if (!isJsonObject(json)) return { ok: false, reason: "key response is not an object" };
  if (getOwn(json, "server_name") !== serverName) return { ok: false, reason: `key response is not for ${serverName}` };
  const validUntil = getOwn(json, "valid_until_ts");
  if (typeof validUntil !== "number" || !Number.isSafeInteger(validUntil)) return { ok: false, reason: "valid_until_ts is missing" };
  const current: ParsedKey[] = [];
  const bad = parseKeyMap(getOwn(json, "verify_keys"), false, current) ?? parseKeyMap(getOwn(json, "old_verify_keys"), true, current);
  if (bad !== undefined) return { ok: false, reason: bad };
  const sigs = getOwn(json, "signatures");
  const own = isJsonObject(sigs) ? getOwn(sigs, serverName) : undefined;
  if (!isJsonObject(own)) return { ok: false, reason: "key response is not signed by its server" };
  let verified = 0;
  for (const keyId of Object.keys(own)) {
    const k = current.find((c) => c.keyId === keyId && c.expiredTs === null);
    if (k === undefined) continue;
    const r = verifyJsonSignature(json, serverName, k.verifyKey);
    if (!r.ok) return { ok: false, reason: `self-signature with ${keyId}: ${r.reason}` };
    verified++;
  }
  if (verified === 0) return { ok: false, reason: "key response is not signed with any of its verify_keys" };
  // A key listed both as current and old counts as current.
  const keys = current.filter((k) => k.expiredTs === null || !current.some((c) => c.keyId === k.keyId && c.expiredTs === null));
  return { ok: true, value: { serverName, validUntilTs: validUntil, keys, json } };
}
