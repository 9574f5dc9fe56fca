/**
 * Auth rule for `m.room.member` invites with `third_party_invite`
 * ("If content has a third_party_invite property", steps 1-8).
 */
import { verifyKeyFromBase64 } from "../crypto.js";
import { getOwn, isJsonObject, type JsonObject } from "../json.js";
import { verifyJsonSignature } from "../signing.js";
import type { RoomEvent } from "../events/pdu.js";
import type { AuthState } from "../events/state-map.js";
import type { AuthResult } from "./result.js";
import { allow, reject } from "./result.js";

function publicKeysOf(content: JsonObject): string[] {
  const keys: string[] = [];
  const single = getOwn(content, "public_key");
  if (typeof single === "string") keys.push(single);
  const list = getOwn(content, "public_keys");
  if (Array.isArray(list)) {
    for (const entry of list) {
      if (isJsonObject(entry)) {
        const k = getOwn(entry, "public_key");
        if (typeof k === "string") keys.push(k);
      }
    }
  }
  return keys;
}

/** The first of the public keys that verifies a signature in `signed`, if any. */
function signingKeyOf(signed: JsonObject, publicKeys: readonly string[]): string | undefined {
  const sigs = getOwn(signed, "signatures");
  if (!isJsonObject(sigs)) return undefined;
  for (const pk of publicKeys) {
    for (const server of Object.keys(sigs)) {
      const entity = sigs[server];
      if (!isJsonObject(entity)) continue;
      for (const keyId of Object.keys(entity)) {
        if (!keyId.startsWith("ed25519:")) continue;
        const key = verifyKeyFromBase64(keyId, pk);
        if (key !== undefined && verifyJsonSignature(signed, server, key).ok) return pk;
      }
    }
  }
  return undefined;
}

function signedByAnyKey(signed: JsonObject, publicKeys: readonly string[]): boolean {
  return signingKeyOf(signed, publicKeys) !== undefined;
}

/**
 * Which public key of an `m.room.third_party_invite` event's content signed
 * `signed`, with the URL where its validity can be checked (the key's own
 * `key_validity_url`, or the event's for its top-level `public_key`).
 */
export function thirdPartyInviteSigningKey(
  signed: JsonObject,
  inviteContent: JsonObject,
): { publicKey: string; keyValidityUrl: string | undefined } | undefined {
  const publicKey = signingKeyOf(signed, publicKeysOf(inviteContent));
  if (publicKey === undefined) return undefined;
  const list = getOwn(inviteContent, "public_keys");
  if (Array.isArray(list)) {
    for (const entry of list) {
      if (!isJsonObject(entry) || getOwn(entry, "public_key") !== publicKey) continue;
      const url = getOwn(entry, "key_validity_url");
      return { publicKey, keyValidityUrl: typeof url === "string" ? url : undefined };
    }
  }
  const url = getOwn(inviteContent, "key_validity_url");
  return { publicKey, keyValidityUrl: typeof url === "string" ? url : undefined };
}

export function checkThirdPartyInvite(
  event: RoomEvent,
  tpi: JsonObject,
  targetMembership: string | undefined,
  state: AuthState,
): AuthResult {
  if (targetMembership === "ban") return reject("5.4.1.1", "target user is banned");
  const signed = getOwn(tpi, "signed");
  if (!isJsonObject(signed)) return reject("5.4.1.2", "third_party_invite has no signed property");
  const mxid = getOwn(signed, "mxid");
  const token = getOwn(signed, "token");
  if (typeof mxid !== "string" || typeof token !== "string") return reject("5.4.1.3", "signed lacks mxid or token");
  if (mxid !== event.stateKey) return reject("5.4.1.4", "mxid does not match state_key");
  const invite = state.get("m.room.third_party_invite", token);
  if (invite === undefined) return reject("5.4.1.5", "no m.room.third_party_invite for token");
  if (invite.sender !== event.sender) return reject("5.4.1.6", "sender does not match the third party invite's sender");
  if (signedByAnyKey(signed, publicKeysOf(invite.content))) return allow("5.4.1.7");
  return reject("5.4.1.8", "no valid signature from the third party invite's keys");
}
