import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type J, registerSession, type Session } from "./accounts-helpers.js";
import { crossSigningKey, ed25519Key } from "./e2ee-helpers.js";
import { startTestServer, type TestServer } from "./harness.js";

// "Tracking the device list for a user": who learns of which key changes.
let hs: TestServer;
let alice: Session;
let bob: Session;
let room: string;

const enc = encodeURIComponent;
const PW = "correct horse";
const v3 = <T = J>(method: string, path: string, token: string, body?: unknown) => hs.request<T>(method, `/_matrix/client/v3${path}`, { token, body });
const nextBatch = async (u: Session) => (await v3("GET", "/sync?timeout=0", u.token)).json.next_batch as string;
const changes = async (u: Session, from: string, to: string) =>
  (await v3("GET", `/keys/changes?from=${enc(from)}&to=${enc(to)}`, u.token)).json as { changed: string[]; left: string[] };
const password = (userId: string, session: string) => ({ type: "m.login.password", identifier: { type: "m.id.user", user: userId }, password: PW, session });

async function uploadWithAuth(u: Session, body: J): Promise<void> {
  const first = await v3("POST", "/keys/device_signing/upload", u.token, body);
  if (first.status === 200) return;
  expect(first.status).toBe(401);
  const done = await v3("POST", "/keys/device_signing/upload", u.token, { ...body, auth: password(u.userId, first.json.session as string) });
  expect(done.status, done.text).toBe(200);
}

beforeAll(async () => {
  hs = await startTestServer({ registration: { enabled: true }, password_policy: { scrypt_cost: 1024 } });
  [alice, bob] = await Promise.all([registerSession(hs, "alice"), registerSession(hs, "bob")]);
  room = (await v3("POST", "/createRoom", alice.token, { preset: "public_chat" })).json.room_id as string;
}, 60_000);
afterAll(() => hs?.close());

describe("/keys/changes", () => {
  it("lists a user who newly shares a room, as /sync's device_lists does", async () => {
    const from = await nextBatch(alice);
    expect((await v3("POST", `/join/${enc(room)}`, bob.token, {})).status).toBe(200);
    const to = await nextBatch(alice);
    expect((await changes(alice, from, to)).changed).toContain(bob.userId);
    // Nothing new between the same token.
    expect((await changes(alice, to, to)).changed).toEqual([]);
  });

  it("a new user-signing key alone is announced to its owner only; a new master key to everyone", async () => {
    const master = ed25519Key();
    await uploadWithAuth(alice, {
      master_key: crossSigningKey(alice.userId, "master", master),
      self_signing_key: crossSigningKey(alice.userId, "self_signing", ed25519Key(), master),
      user_signing_key: crossSigningKey(alice.userId, "user_signing", ed25519Key(), master),
    });
    const [a0, b0] = [await nextBatch(alice), await nextBatch(bob)];
    await uploadWithAuth(alice, { user_signing_key: crossSigningKey(alice.userId, "user_signing", ed25519Key(), master) });
    const [a1, b1] = [await nextBatch(alice), await nextBatch(bob)];
    expect((await changes(bob, b0, b1)).changed).not.toContain(alice.userId);
    expect((await changes(alice, a0, a1)).changed).toContain(alice.userId);
    const bobSync = (await v3("GET", `/sync?since=${enc(b0)}&timeout=0`, bob.token)).json;
    expect(bobSync.device_lists?.changed ?? []).not.toContain(alice.userId);

    const master2 = ed25519Key();
    await uploadWithAuth(alice, {
      master_key: crossSigningKey(alice.userId, "master", master2),
      self_signing_key: crossSigningKey(alice.userId, "self_signing", ed25519Key(), master2),
      user_signing_key: crossSigningKey(alice.userId, "user_signing", ed25519Key(), master2),
    });
    const b2 = await nextBatch(bob);
    expect((await changes(bob, b1, b2)).changed).toContain(alice.userId);
  });
});
