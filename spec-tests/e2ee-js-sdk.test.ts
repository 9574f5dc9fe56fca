import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient, type MatrixClient } from "matrix-js-sdk";
import { logger } from "matrix-js-sdk/lib/logger.js";
import { registerUser, type J } from "./accounts-helpers.js";
import { startTestServer, type TestServer } from "./harness.js";

// A real client's Rust crypto against our key endpoints. Rooms and /sync do
// not exist yet, so this covers what works without them: key upload,
// cross-signing bootstrap (with UIA), signatures, key queries and backup.
let hs: TestServer;
const PW = "correct horse";
const clients: MatrixClient[] = [];
beforeAll(async () => {
  // The SDK logs through loglevel; quiet unless SDK_LOG is set.
  if (!process.env.SDK_LOG) (logger as unknown as { setLevel(level: string): void }).setLevel("silent");
  hs = await startTestServer({ registration: { enabled: true }, password_policy: { scrypt_cost: 1024 } });
});
afterAll(async () => {
  for (const c of clients) c.stopClient();
  await hs?.close();
});

async function cryptoClient(session: J): Promise<MatrixClient> {
  const client = createClient({ baseUrl: hs.url, userId: session.user_id, deviceId: session.device_id, accessToken: session.access_token });
  clients.push(client);
  await client.initRustCrypto({ useIndexedDB: false });
  return client;
}

describe("matrix-js-sdk (Rust crypto)", () => {
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
});
