/**
 * Signing outgoing events and checking signatures on received ones
 * (server-server "Adding hashes and signatures to outgoing events" and
 * "Validating hashes and signatures on received events").
 */
import { getOwn, isJsonObject, type JsonObject } from "../json.js";
import type { SigningKey, VerifyKey } from "../crypto.js";
import { serverNameOf } from "../ids.js";
import type { RoomVersion } from "../room-versions.js";
import { signJson, verifyEntitySignatures, type SignatureCheck } from "../signing.js";
import { contentHashBase64 } from "./hashes.js";
import type { Pdu } from "./pdu.js";
import { redact } from "./redaction.js";

/**
 * Adds `hashes.sha256` and our signature over the redacted event; returns a
 * new PDU. The clock is not read here: `origin_server_ts` is already set.
 */
export function hashAndSign(pdu: Pdu, serverName: string, key: SigningKey, roomVersion: RoomVersion): Pdu {
  const options = { strict: roomVersion.strictCanonicalJson };
  const hashed: Pdu = { ...pdu, hashes: { sha256: contentHashBase64(pdu, roomVersion) } };
  const signedRedacted = signJson(redact(hashed, roomVersion), serverName, key, options);
  return { ...hashed, signatures: signedRedacted.signatures as JsonObject };
}

/**
 * Servers whose signatures an event needs: the sender's server; in v1-v2 also
 * the event id's domain. (v8+ restricted joins also need the authorising
 * server's signature: auth rule "join_authorised_via_users_server".)
 */
export function requiredSignatureServers(pdu: Pdu, roomVersion: RoomVersion): string[] {
  const servers = new Set<string>();
  const sender = getOwn(pdu, "sender");
  if (typeof sender === "string") {
    const s = serverNameOf(sender);
    if (s !== undefined) servers.add(s);
  }
  if (roomVersion.eventIdDomainSignature) {
    const id = getOwn(pdu, "event_id");
    if (typeof id === "string") {
      const s = serverNameOf(id);
      if (s !== undefined) servers.add(s);
    }
  }
  if (roomVersion.restrictedJoins && getOwn(pdu, "type") === "m.room.member") {
    const content = getOwn(pdu, "content");
    if (isJsonObject(content) && getOwn(content, "membership") === "join") {
      const via = getOwn(content, "join_authorised_via_users_server");
      if (typeof via === "string") {
        const s = serverNameOf(via);
        if (s !== undefined) servers.add(s);
      }
    }
  }
  return [...servers];
}

/**
 * Looks up a server's verify key. `atTs` is the event's origin_server_ts: for
 * room versions with `enforceKeyValidity` the lookup must not return a key
 * whose (capped, 7 days) valid_until_ts is earlier (rooms "Signing key validity period").
 */
export type EventKeyLookup = (serverName: string, keyId: string, atTs: number, enforceValidity: boolean) => VerifyKey | undefined;

/** Receipt check 2: the redacted event carries valid signatures from every required server. */
export function verifyEventSignatures(pdu: Pdu, roomVersion: RoomVersion, lookupKey: EventKeyLookup): SignatureCheck {
  const redacted = redact(pdu, roomVersion);
  const ts = getOwn(pdu, "origin_server_ts");
  const atTs = typeof ts === "number" ? ts : 0;
  for (const server of requiredSignatureServers(pdu, roomVersion)) {
    const r = verifyEntitySignatures(
      redacted,
      server,
      (keyId) => lookupKey(server, keyId, atTs, roomVersion.enforceKeyValidity),
      { strict: roomVersion.strictCanonicalJson },
    );
    if (!r.ok) return { ok: false, reason: `${server}: ${r.reason}` };
  }
  return { ok: true };
}
