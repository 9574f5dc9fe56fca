import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient, KnownMembership, type MatrixClient, } from "matrix-js-sdk";
import { logger } from "matrix-js-sdk/lib/logger.js";
import { login, registerUser, type J } from "./accounts-helpers.js";
import { freePort, makeTestCertificate, removeTestCertificate, startFederated, type TlsFiles } from "./federation-helpers.js";
import type { TestServer } from "./harness.js";
import { decrypted, roomOf, startAndWait } from "./js-sdk-helpers.js";

// An encrypted conversation between matrix-js-sdk clients (Rust crypto) on two
// instances, A and B, federating for real: bob on B joins alice's room on A
// over federation, keys are queried and claimed across servers, room keys
// travel as to-device EDUs and new devices as device list updates, all through
// the servers' own senders.

const PW = "correct horse";
let tls: TlsFiles;
let a: TestServer;
let b: TestServer;
const clients: MatrixClient[] = [];

async function cryptoClient(hs: TestServer, session: J): Promise<MatrixClient> {
  const client = createClient({ baseUrl: hs.url, userId: session.user_id, deviceId: session.device_id, accessToken: session.access_token });
  clients.push(client);
  await client.initRustCrypto({ useIndexedDB: false });
  return client;
}

beforeAll(async () => {
  if (!process.env.SDK_LOG) (logger as unknown as { disableAll(): void }).disableAll();
  tls = makeTestCertificate();
  const [pa, pb] = [await freePort(), await freePort()];
  // Short retry delays, so a transaction refused while a key is still unknown is retried quickly.
  const quick = { sender: { min_backoff_ms: 200, max_backoff_ms: 1000 } };
  a = await startFederated(tls, pa, quick);
  b = await startFederated(tls, pb, quick);
}, 120_000);

afterAll(async () => {
  for (const c of clients) c.stopClient();
  await a?.close();
  await b?.close();
  removeTestCertificate(tls);
});

describe("matrix-js-sdk (Rust crypto) across two servers", () => {
  it("encrypted messages both ways; a new device on A decrypts later messages; a key backup restored on B", async () => {
    const aliceSession = await registerUser(a, "alice", PW);
    const bobSession = await registerUser(b, "bob", PW);
    const alice = await cryptoClient(a, aliceSession);
    const bob = await cryptoClient(b, bobSession);
    await Promise.all([startAndWait(alice), startAndWait(bob)]);

    // The room: created on A, encrypted from the start; bob invited and joining over federation.
    const created = await a.request<J>("POST", "/_matrix/client/v3/createRoom", {
      token: aliceSession.access_token,
      body: {
        preset: "private_chat",
        room_version: "10",
        invite: [bobSession.user_id],
        initial_state: [{ type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } }],
      },
    });
    expect(created.status).toBe(200);
    const roomId = created.json.room_id as string;
    const nameA = a.server.config.server_name;
    await expect.poll(() => bob.getRoom(roomId)?.getMyMembership(), { timeout: 20_000 }).toBe(KnownMembership.Invite);
    const joined = await b.request<J>("POST", `/_matrix/client/v3/join/${encodeURIComponent(roomId)}?server_name=${encodeURIComponent(nameA)}`, {
      token: bobSession.access_token,
      body: {},
    });
    expect(joined.status, JSON.stringify(joined.json)).toBe(200);

    await roomOf(bob, roomId, KnownMembership.Join);
    await expect.poll(() => alice.getRoom(roomId)?.getJoinedMemberCount(), { timeout: 15_000 }).toBe(2);
    await expect.poll(() => bob.getRoom(roomId)?.getJoinedMemberCount(), { timeout: 15_000 }).toBe(2);
    expect(await bob.getCrypto()!.isEncryptionEnabledInRoom(roomId)).toBe(true);

    expect(await decrypted(bob, roomId, () => alice.sendTextMessage(roomId, "hello bob, from A"))).toBe("hello bob, from A");
    expect(await decrypted(alice, roomId, () => bob.sendTextMessage(roomId, "hello alice, from B"))).toBe("hello alice, from B");

    // Alice logs in a second device on A: B's client hears of it through the device list update and encrypts to it.
    const alice2Session = await login(a, "alice", PW);
    const alice2 = await cryptoClient(a, alice2Session);
    await startAndWait(alice2);
    await expect
      .poll(async () => (await bob.getCrypto()!.getUserDeviceInfo([aliceSession.user_id])).get(aliceSession.user_id)?.has(alice2Session.device_id), {
        timeout: 20_000,
      })
      .toBe(true);
    expect(await decrypted(alice2, roomId, () => bob.sendTextMessage(roomId, "for both of alice's devices"))).toBe("for both of alice's devices");

    // Bob keeps a key backup on B; a fresh device of his restores it and reads a message A's user sent before it existed.
    const crypto = bob.getCrypto()!;
    await crypto.bootstrapCrossSigning({
      authUploadDeviceSigningKeys: async (makeRequest) => {
        await makeRequest({ type: "m.login.password", identifier: { type: "m.id.user", user: "bob" }, password: PW });
      },
    });
    await crypto.resetKeyBackup();
    await crypto.checkKeyBackupAndEnable();
    const version = (await crypto.getActiveSessionBackupVersion())!;
    expect(version).not.toBeNull();
    let eventId = "";
    expect(
      await decrypted(bob, roomId, async () => {
        const r = await alice.sendTextMessage(roomId, "kept in bob's backup");
        eventId = r.event_id;
        return r;
      }),
    ).toBe("kept in bob's backup");
    await expect
      .poll(async () => (await b.request<J>("GET", `/_matrix/client/v3/room_keys/version/${version}`, { token: bobSession.access_token })).json.count, {
        timeout: 20_000,
      })
      .toBeGreaterThan(0);
    const backupKey = (await crypto.getSessionBackupPrivateKey())!;
    const bob2 = await cryptoClient(b, await login(b, "bob", PW));
    await startAndWait(bob2);
    await expect.poll(() => bob2.getRoom(roomId)?.findEventById(eventId), { timeout: 15_000 }).toBeDefined();
    const event = bob2.getRoom(roomId)!.findEventById(eventId)!;
    await expect.poll(() => event.isBeingDecrypted(), { timeout: 10_000 }).toBe(false);
    expect(event.isDecryptionFailure()).toBe(true); // sent before this device existed
    await bob2.getCrypto()!.storeSessionBackupPrivateKey(backupKey, version);
    const restored = await bob2.getCrypto()!.restoreKeyBackup();
    expect(restored.imported).toBeGreaterThan(0);
    await expect.poll(() => event.getContent().body, { timeout: 15_000 }).toBe("kept in bob's backup");
  }, 150_000);
});
