import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createClient,
  KnownMembership,
  Preset,
  type MatrixClient,
} from "matrix-js-sdk";
import { logger } from "matrix-js-sdk/lib/logger.js";
import { login, registerUser, type J } from "./accounts-helpers.js";
import { startTestServer, type TestServer } from "./harness.js";
import { decrypted, roomOf, startAndWait, } from "./js-sdk-helpers.js";

// matrix-js-sdk clients with their Rust crypto against the server: key
// upload and claim, to-device delivery, device-list tracking through /sync,
// cross-signing (with UIA) and key backup.
let hs: TestServer;
const PW = "correct horse";
const clients: MatrixClient[] = [];
beforeAll(async () => {
  // The SDK logs through loglevel; quiet unless SDK_LOG is set.
  if (!process.env.SDK_LOG) (logger as unknown as { disableAll(): void }).disableAll();
  hs = await startTestServer({ registration: { enabled: true }, password_policy: { scrypt_cost: 1024 } });
});
afterAll(async () => {
  for (const c of clients) c.stopClient();
  await hs?.close();
});

async function cryptoClient(session: J, secretStorageKey?: () => Uint8Array | undefined): Promise<MatrixClient> {
  const client = createClient({
    baseUrl: hs.url,
    userId: session.user_id,
    deviceId: session.device_id,
    accessToken: session.access_token,
    // Secret storage (4S): the test plays the user who knows the key.
    cryptoCallbacks: secretStorageKey
      ? {
          getSecretStorageKey: async ({ keys }) => {
            const key = secretStorageKey();
            return key ? [Object.keys(keys)[0]!, key] : null;
          },
        }
      : undefined,
  });
  clients.push(client);
  await client.initRustCrypto({ useIndexedDB: false });
  return client;
}


describe("matrix-js-sdk (Rust crypto)", () => {
  it("encrypted room: B decrypts A's message; B's new device decrypts later ones; a deleted device is dropped", async () => {
    const aliceSession = await registerUser(hs, "e2alice", PW);
    const bobSession = await registerUser(hs, "e2bob", PW);
    const alice = await cryptoClient(aliceSession);
    const bob = await cryptoClient(bobSession);
    await Promise.all([startAndWait(alice), startAndWait(bob)]);

    const { room_id: roomId } = await alice.createRoom({
      preset: Preset.PrivateChat,
      invite: [bobSession.user_id],
      initial_state: [{ type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } }],
    });
    await roomOf(bob, roomId, KnownMembership.Invite);
    await bob.joinRoom(roomId);
    await roomOf(bob, roomId, KnownMembership.Join);
    await expect.poll(() => alice.getRoom(roomId)?.getJoinedMemberCount(), { timeout: 10_000 }).toBe(2);
    expect(await alice.getCrypto()!.isEncryptionEnabledInRoom(roomId)).toBe(true);

    expect(await decrypted(bob, roomId, () => alice.sendTextMessage(roomId, "hello bob, secretly"))).toBe("hello bob, secretly");

    // A second device of Bob, logged in now, reads messages sent after it appeared.
    const bob2Session = await login(hs, "e2bob", PW);
    const bob2 = await cryptoClient(bob2Session);
    await startAndWait(bob2);
    await expect
      .poll(async () => (await alice.getCrypto()!.getUserDeviceInfo([bobSession.user_id])).get(bobSession.user_id)?.has(bob2Session.device_id), {
        timeout: 15_000,
      })
      .toBe(true);
    expect(await decrypted(bob2, roomId, () => alice.sendTextMessage(roomId, "for both of your devices"))).toBe("for both of your devices");

    // Bob deletes that device; Alice's client learns it through device_lists and stops encrypting to it.
    bob2.stopClient();
    const challenge = await hs.request<J>("DELETE", `/_matrix/client/v3/devices/${bob2Session.device_id}`, { token: bobSession.access_token, body: {} });
    const del = await hs.request<J>("DELETE", `/_matrix/client/v3/devices/${bob2Session.device_id}`, {
      token: bobSession.access_token,
      body: { auth: { type: "m.login.password", identifier: { type: "m.id.user", user: "e2bob" }, password: PW, session: challenge.json.session } },
    });
    expect(del.status).toBe(200);
    await expect
      .poll(async () => (await alice.getCrypto()!.getUserDeviceInfo([bobSession.user_id])).get(bobSession.user_id)?.has(bob2Session.device_id), {
        timeout: 15_000,
      })
      .toBe(false);
    expect(await decrypted(bob, roomId, () => alice.sendTextMessage(roomId, "only for the device you kept"))).toBe("only for the device you kept");
    // Nothing addressed to the deleted device was stored.
    const toGone = await hs.server.sql.query("SELECT 1 FROM to_device_messages WHERE user_id = $1 AND device_id = $2", [bobSession.user_id, bob2Session.device_id]);
    expect(toGone).toHaveLength(0);
  }, 90_000);

  it("bootstraps cross-signing and a trusted key backup; another user sees the cross-signed device", async () => {
    const reg = await registerUser(hs, "sdk1", PW);
    const a1 = await cryptoClient(reg);
    const crypto = a1.getCrypto()!;
    let uiaRounds = 0;
    await crypto.bootstrapCrossSigning({
      authUploadDeviceSigningKeys: async (makeRequest) => {
        uiaRounds++;
        await makeRequest({ type: "m.login.password", identifier: { type: "m.id.user", user: "sdk1" }, password: PW });
      },
    });
    expect(uiaRounds).toBe(1);
    expect(await crypto.isCrossSigningReady()).toBe(true);

    // The server holds what the client uploaded: the device is signed by the self-signing key.
    const q = await hs.request<J>("POST", "/_matrix/client/v3/keys/query", { token: reg.access_token, body: { device_keys: { [reg.user_id]: [] } } });
    const ssk = Object.keys(q.json.self_signing_keys[reg.user_id].keys)[0];
    expect(Object.keys(q.json.device_keys[reg.user_id][reg.device_id].signatures[reg.user_id])).toContain(ssk);

    // resetKeyBackup starts the backup engine without waiting for it; the check does.
    await crypto.resetKeyBackup();
    const check = await crypto.checkKeyBackupAndEnable();
    expect(check?.trustInfo.trusted).toBe(true);
    const version = await crypto.getActiveSessionBackupVersion();
    expect(version).not.toBeNull();
    expect(check?.backupInfo.version).toBe(version);
    const info = await hs.request<J>("GET", "/_matrix/client/v3/room_keys/version", { token: reg.access_token });
    expect(info.json.version).toBe(version);
    expect(info.json.algorithm).toBe("m.megolm_backup.v1.curve25519-aes-sha2");

    // Another user's client downloads A's keys and sees the device signed by A's cross-signing keys.
    const b = await cryptoClient(await registerUser(hs, "sdk2", PW));
    const devices = await b.getCrypto()!.getUserDeviceInfo([reg.user_id], true);
    expect([...devices.get(reg.user_id)!.keys()]).toEqual([reg.device_id]);
    const device = devices.get(reg.user_id)!.get(reg.device_id)!;
    expect(device.getFingerprint()).toBe(q.json.device_keys[reg.user_id][reg.device_id].keys[`ed25519:${reg.device_id}`]);
    expect([...(device.signatures.get(reg.user_id)?.keys() ?? [])]).toContain(ssk);
  });

  it("a backup restored on a fresh device decrypts old messages", async () => {
    const reg = await registerUser(hs, "e2carol", PW);
    const c1 = await cryptoClient(reg);
    await startAndWait(c1);
    const crypto = c1.getCrypto()!;
    await crypto.bootstrapCrossSigning({
      authUploadDeviceSigningKeys: async (makeRequest) => {
        await makeRequest({ type: "m.login.password", identifier: { type: "m.id.user", user: "e2carol" }, password: PW });
      },
    });
    await crypto.resetKeyBackup();
    await crypto.checkKeyBackupAndEnable();
    const version = (await crypto.getActiveSessionBackupVersion())!;
    expect(version).not.toBeNull();

    const { room_id: roomId } = await c1.createRoom({
      preset: Preset.PrivateChat,
      initial_state: [{ type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } }],
    });
    await roomOf(c1, roomId, KnownMembership.Join);
    const { event_id: eventId } = await c1.sendTextMessage(roomId, "an old secret");
    // The client backs its megolm session up in the background.
    await expect
      .poll(async () => (await hs.request<J>("GET", `/_matrix/client/v3/room_keys/version/${version}`, { token: reg.access_token })).json.count, {
        timeout: 20_000,
      })
      .toBeGreaterThan(0);
    const backupKey = (await crypto.getSessionBackupPrivateKey())!;
    expect(backupKey).not.toBeNull();

    const fresh = await login(hs, "e2carol", PW);
    const c2 = await cryptoClient(fresh);
    await startAndWait(c2);
    await expect.poll(() => c2.getRoom(roomId)?.findEventById(eventId), { timeout: 10_000 }).toBeDefined();
    const event = c2.getRoom(roomId)!.findEventById(eventId)!;
    await expect.poll(() => event.isBeingDecrypted(), { timeout: 10_000 }).toBe(false);
    expect(event.isDecryptionFailure()).toBe(true);

    await c2.getCrypto()!.storeSessionBackupPrivateKey(backupKey, version);
    const restored = await c2.getCrypto()!.restoreKeyBackup();
    expect(restored.imported).toBeGreaterThan(0);
    await expect.poll(() => event.getContent().body, { timeout: 15_000 }).toBe("an old secret");
  }, 90_000);

  it("a dehydrated device receives room keys while the user is offline; a new login rehydrates it and decrypts", async () => {
    const aliceSession = await registerUser(hs, "dhalice", PW);
    const bobSession = await registerUser(hs, "dhbob", PW);
    // The secret storage key is created below; the callback reads it when asked.
    const keyHolder: { key?: Uint8Array } = {};
    const a1 = await cryptoClient(aliceSession, () => keyHolder.key);
    const bob = await cryptoClient(bobSession);
    await Promise.all([startAndWait(a1), startAndWait(bob)]);
    const crypto = a1.getCrypto()!;
    await crypto.bootstrapCrossSigning({
      authUploadDeviceSigningKeys: async (makeRequest) => {
        await makeRequest({ type: "m.login.password", identifier: { type: "m.id.user", user: "dhalice" }, password: PW });
      },
    });
    const recovery = await crypto.createRecoveryKeyFromPassphrase();
    keyHolder.key = recovery.privateKey;
    await crypto.bootstrapSecretStorage({ createSecretStorageKey: async () => recovery, setupNewSecretStorage: true });
    expect(await crypto.isDehydrationSupported()).toBe(true);
    await crypto.startDehydration({ createNewKey: true });
    const dehydrated = await hs.request<J>("GET", "/_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device", { token: aliceSession.access_token });
    expect(dehydrated.status).toBe(200);
    const dehydratedId = dehydrated.json.device_id as string;

    const { room_id: roomId } = await a1.createRoom({
      preset: Preset.PrivateChat,
      invite: [bobSession.user_id],
      initial_state: [{ type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } }],
    });
    await roomOf(bob, roomId, KnownMembership.Invite);
    await bob.joinRoom(roomId);
    await roomOf(bob, roomId, KnownMembership.Join);
    await expect
      .poll(async () => (await bob.getCrypto()!.getUserDeviceInfo([aliceSession.user_id])).get(aliceSession.user_id)?.has(dehydratedId), { timeout: 15_000 })
      .toBe(true);

    // Alice's only device goes away (logged out); Bob writes to her.
    a1.stopClient();
    expect((await hs.request("POST", "/_matrix/client/v3/logout", { token: aliceSession.access_token, body: {} })).status).toBe(200);
    const { event_id: eventId } = await bob.sendTextMessage(roomId, "while you were away");
    await expect
      .poll(async () => (await hs.server.sql.query("SELECT 1 FROM to_device_messages WHERE device_id = $1", [dehydratedId])).length, { timeout: 10_000 })
      .toBeGreaterThan(0);

    // A new login of Alice rehydrates the device and reads the message.
    const a2Session = await login(hs, "dhalice", PW);
    const a2 = await cryptoClient(a2Session, () => recovery.privateKey);
    await startAndWait(a2);
    // As a client does after "enter your recovery key": cross-signing keys come from secret storage.
    // (Once its own /keys/query has brought the public keys the private ones must match.)
    await expect.poll(async () => (await a2.getCrypto()!.getCrossSigningStatus()).publicKeysOnDevice, { timeout: 10_000 }).toBe(true);
    await a2.getCrypto()!.bootstrapCrossSigning({});
    await a2.getCrypto()!.startDehydration({ rehydrate: true });
    // The old dehydrated device's messages were fetched and acknowledged; a fresh one replaced it.
    expect(await hs.server.sql.query("SELECT 1 FROM to_device_messages WHERE device_id = $1", [dehydratedId])).toHaveLength(0);
    const replaced = await hs.request<J>("GET", "/_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device", { token: a2Session.access_token });
    expect(replaced.json.device_id).not.toBe(dehydratedId);
    await expect.poll(() => a2.getRoom(roomId)?.findEventById(eventId), { timeout: 10_000 }).toBeDefined();
    const event = a2.getRoom(roomId)!.findEventById(eventId)!;
    await expect.poll(() => event.getContent().body, { timeout: 15_000 }).toBe("while you were away");
  }, 120_000);
});
