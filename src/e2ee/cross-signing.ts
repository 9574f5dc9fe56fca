import { getOwn, isJsonObject, serverNameOf, verifyJsonSignature, verifyKeyFromBase64, type JsonObject, type JsonValue } from "../core/index.js";
import { MatrixError } from "../http/errors.js";
import type { CrossSigningKeyType, E2eeCrossSigningRepo, StoredCrossSigningKey, StoredSignature } from "../storage/e2ee-cross-signing-repo.js";
import type { E2eeKeysRepo } from "../storage/e2ee-keys-repo.js";
import type { Sql } from "../storage/sql.js";
import type { Clock, DeviceDirectory, ReauthGate } from "./deps.js";
import type { DeviceListService } from "./device-lists.js";
import { checkCrossSigningKey, invalidSignature, sameSignedContent, type CheckedCrossSigningKey } from "./key-objects.js";

export interface SigningKeysBody {
  master_key?: JsonValue;
  self_signing_key?: JsonValue;
  user_signing_key?: JsonValue;
  auth?: unknown;
}

export interface CrossSigningRequester {
  userId: string;
  deviceId: string | null;
  appServiceId?: string;
}

const FIELDS: ReadonlyArray<[keyof SigningKeysBody, CrossSigningKeyType]> = [
  ["master_key", "master"],
  ["self_signing_key", "self_signing"],
  ["user_signing_key", "user_signing"],
];

type Failure = { errcode: string; error: string };

/** "Cross-signing": the user's three signing keys and the signatures made with them. */
export class CrossSigningService {
  constructor(
    private readonly deps: {
      sql: Sql;
      crossSigning: E2eeCrossSigningRepo;
      keys: E2eeKeysRepo;
      devices: DeviceDirectory;
      deviceLists: DeviceListService;
      reauth: ReauthGate;
      clock: Clock;
      serverName: string;
    },
  ) {}

  /** POST /keys/device_signing/upload. */
  async uploadSigningKeys(requester: CrossSigningRequester, body: SigningKeysBody): Promise<void> {
    const { userId } = requester;
    const provided = new Map<CrossSigningKeyType, CheckedCrossSigningKey>();
    for (const [field, type] of FIELDS) {
      const v = body[field];
      if (v !== undefined && v !== null) provided.set(type, checkCrossSigningKey(v as JsonValue, field, userId, type));
    }
    const stored = new Map((await this.deps.crossSigning.getKeys([userId])).map((k) => [k.key_type, k]));
    const storedMaster = stored.get("master");

    const master = provided.get("master") ?? (storedMaster ? parseStored(storedMaster, userId) : undefined);
    for (const type of ["self_signing", "user_signing"] as const) {
      const key = provided.get(type);
      if (!key) continue;
      if (!master) throw new MatrixError(400, "M_MISSING_PARAM", "No master signing key is available to check the other keys against");
      const check = verifyJsonSignature(key.json, userId, master.verifyKey);
      if (!check.ok) throw invalidSignature(`The ${type.replace("_", "-")} key is not signed by the master key: ${check.reason}`);
    }
    // "Servers therefore must ensure that device IDs will not collide with cross-signing public keys."
    const deviceIds = new Set((await this.deps.devices.listDevices(userId)).map((d) => d.deviceId));
    for (const key of provided.values()) {
      if (deviceIds.has(key.publicKey)) throw new MatrixError(403, "M_FORBIDDEN", "The public key of a cross-signing key is the id of one of your devices");
    }

    // UIA is needed unless this is the first upload or it repeats the stored
    // keys exactly (spec, POST /keys/device_signing/upload), and never for an
    // application service.
    const changedTypes = [...provided].filter(([type, key]) => {
      const old = stored.get(type);
      return !old || !sameSignedContent(JSON.parse(old.key_json) as JsonObject, key.json);
    });
    if (changedTypes.length === 0) return;
    if (storedMaster && requester.appServiceId === undefined) {
      await this.deps.reauth.requireAuth({ userId, deviceId: requester.deviceId, auth: body.auth, operation: "POST /keys/device_signing/upload" });
    }

    const now = this.deps.clock.now();
    await this.deps.sql.transaction(async (tx) => {
      for (const [type, key] of changedTypes) {
        await this.deps.crossSigning.putKey({ userId, keyType: type, publicKey: key.publicKey, keyJson: JSON.stringify(key.json), ts: now }, tx);
        const old = stored.get(type);
        if (old && old.public_key !== key.publicKey) await this.deps.crossSigning.deleteSignaturesOn(userId, [old.public_key], tx);
      }
    });
    // "Cross-signing": the user-signing key is private to its owner, so a change of it
    // alone is announced to the user only; master and self-signing keys to everyone.
    await this.deps.deviceLists.markChanged(userId, { selfOnly: changedTypes.every(([type]) => type === "user_signing") });
  }

  /**
   * POST /keys/signatures/upload. Each signed object must equal the stored key
   * apart from `signatures`; only the requester's own signatures are taken,
   * each checked against the key that must have made it:
   * - own device keys: the self-signing key;
   * - own master key: one of the user's devices;
   * - another user's master key: the user-signing key.
   */
  async uploadSignatures(requester: CrossSigningRequester, body: Record<string, JsonValue>): Promise<{ failures: Record<string, Record<string, Failure>> }> {
    const me = requester.userId;
    const failures: Record<string, Record<string, Failure>> = {};
    const toStore: StoredSignature[] = [];
    const changedUsers = new Set<string>();
    const myKeys = new Map((await this.deps.crossSigning.getKeys([me])).map((k) => [k.key_type, k]));

    for (const [targetUser, byKey] of Object.entries(body)) {
      if (!isJsonObject(byKey)) {
        failures[targetUser] = { "*": { errcode: "M_INVALID_PARAM", error: "Expected an object of key id to signed key" } };
        continue;
      }
      const targetKeys = targetUser === me ? myKeys : new Map((await this.deps.crossSigning.getKeys([targetUser])).map((k) => [k.key_type, k]));
      for (const [keyId, signed] of Object.entries(byKey)) {
        const fail = (errcode: string, error: string) => {
          (failures[targetUser] ??= {})[keyId] = { errcode, error };
        };
        if (!isJsonObject(signed)) {
          fail("M_INVALID_PARAM", "The signed key must be an object");
          continue;
        }
        if (serverNameOf(targetUser) !== this.deps.serverName) {
          fail("M_UNRECOGNIZED", "Signing keys of users on other servers needs federation, which is not available yet");
          continue;
        }
        const master = targetKeys.get("master");
        let found: Array<{ keyId: string; signature: string }> | Failure;
        if (targetUser === me && master?.public_key !== keyId) {
          found = await this.checkOwnDevice(me, keyId, signed, myKeys.get("self_signing"));
        } else if (targetUser === me) {
          found = await this.checkOwnMaster(me, signed, master!);
        } else {
          found = checkOtherMaster(me, keyId, signed, master, myKeys.get("user_signing"));
        }
        if (!Array.isArray(found)) {
          fail(found.errcode, found.error);
          continue;
        }
        for (const s of found) {
          toStore.push({ signer_user_id: me, signer_key_id: s.keyId, target_user_id: targetUser, target_key_id: keyId, signature: s.signature });
        }
        changedUsers.add(targetUser);
      }
    }
    if (toStore.length > 0) await this.deps.crossSigning.putSignatures(toStore);
    for (const u of changedUsers) await this.deps.deviceLists.markChanged(u);
    return { failures };
  }

  private async checkOwnDevice(
    me: string,
    deviceId: string,
    signed: JsonObject,
    ssk: StoredCrossSigningKey | undefined,
  ): Promise<Array<{ keyId: string; signature: string }> | Failure> {
    const device = await this.deps.keys.getDeviceKeys(me, deviceId);
    if (!device) return { errcode: "M_NOT_FOUND", error: "No device or master key with this id" };
    if (!sameSignedContent(JSON.parse(device.key_json) as JsonObject, signed)) {
      return { errcode: "M_INVALID_PARAM", error: "The signed object does not match the stored device keys" };
    }
    if (!ssk) return { errcode: "M_INVALID_SIGNATURE", error: "No self-signing key is uploaded to sign devices with" };
    return checkSignature(signed, me, `ed25519:${ssk.public_key}`, ssk.public_key);
  }

  private async checkOwnMaster(me: string, signed: JsonObject, master: StoredCrossSigningKey): Promise<Array<{ keyId: string; signature: string }> | Failure> {
    if (!sameSignedContent(JSON.parse(master.key_json) as JsonObject, signed)) {
      return { errcode: "M_INVALID_PARAM", error: "The signed object does not match the stored master key" };
    }
    // A master key is signed by the user's devices ("ed25519:<device id>").
    const mine = getOwn(signed, "signatures");
    const entity = isJsonObject(mine) ? getOwn(mine, me) : undefined;
    const keyIds = isJsonObject(entity) ? Object.keys(entity).filter((k) => k.startsWith("ed25519:") && k !== `ed25519:${master.public_key}`) : [];
    const out: Array<{ keyId: string; signature: string }> = [];
    for (const keyId of keyIds) {
      const device = await this.deps.keys.getDeviceKeys(me, keyId.slice("ed25519:".length));
      if (!device) continue;
      const r = checkSignature(signed, me, keyId, device.ed25519_key);
      if (!Array.isArray(r)) return r;
      out.push(...r);
    }
    if (out.length === 0) return { errcode: "M_INVALID_SIGNATURE", error: "The master key carries no signature by one of your devices" };
    return out;
  }
}

function checkOtherMaster(
  me: string,
  keyId: string,
  signed: JsonObject,
  master: StoredCrossSigningKey | undefined,
  usk: StoredCrossSigningKey | undefined,
): Array<{ keyId: string; signature: string }> | Failure {
  if (!master || master.public_key !== keyId) return { errcode: "M_NOT_FOUND", error: "Only a user's current master key can be signed" };
  if (!sameSignedContent(JSON.parse(master.key_json) as JsonObject, signed)) {
    return { errcode: "M_INVALID_PARAM", error: "The signed object does not match the stored master key" };
  }
  if (!usk) return { errcode: "M_INVALID_SIGNATURE", error: "No user-signing key is uploaded to sign other users with" };
  return checkSignature(signed, me, `ed25519:${usk.public_key}`, usk.public_key);
}

function checkSignature(signed: JsonObject, signer: string, keyId: string, publicKey: string): Array<{ keyId: string; signature: string }> | Failure {
  const key = verifyKeyFromBase64(keyId, publicKey);
  if (!key) return { errcode: "M_INVALID_SIGNATURE", error: "The signing key is not a valid ed25519 key" };
  const check = verifyJsonSignature(signed, signer, key);
  if (!check.ok) return { errcode: "M_INVALID_SIGNATURE", error: `Invalid signature: ${check.reason}` };
  const sigs = signed.signatures as JsonObject;
  return [{ keyId, signature: (sigs[signer] as JsonObject)[keyId] as string }];
}

function parseStored(k: StoredCrossSigningKey, userId: string): CheckedCrossSigningKey {
  return checkCrossSigningKey(JSON.parse(k.key_json) as JsonValue, "stored master key", userId, "master");
}
