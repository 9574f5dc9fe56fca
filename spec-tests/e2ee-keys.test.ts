import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { login, registerSession, registerUser, type J, type Session } from "./accounts-helpers.js";
import { crossSigningKey, ed25519Key, makeDeviceKeys, makeOneTimeKeys, pub, sign } from "./e2ee-helpers.js";
import { startTestServer, type TestServer } from "./harness.js";

let hs: TestServer;
const PW = "correct horse";
beforeAll(async () => {
  hs = await startTestServer({ registration: { enabled: true }, password_policy: { scrypt_cost: 1024 } });
});
afterAll(() => hs?.close());

// registerSession uses the same default password as PW.
const user = (name: string): Promise<Session> => registerSession(hs, name);

async function post(s: Session, path: string, body: unknown) {
  return hs.request<J>("POST", `/_matrix/client/v3${path}`, { token: s.token, body });
}

const ZERO = "s1_0_0_0_0_0_0_0";
const FAR = "s1_999999_999999_999999_999999_999999_999999_999999";

describe("/keys/upload, /keys/query", () => {
  it("stores signed device keys, one-time and fallback keys; others can query them", async () => {
    const alice = await user("ka1");
    const bob = await user("kb1");
    const dev = makeDeviceKeys(alice.userId, alice.deviceId);
    const up = await post(alice, "/keys/upload", {
      device_keys: dev.keys,
      one_time_keys: makeOneTimeKeys(alice.userId, dev.key, 5),
      fallback_keys: makeOneTimeKeys(alice.userId, dev.key, 1, 100, true),
    });
    expect(up.status, up.text).toBe(200);
    expect(up.json).toEqual({ one_time_key_counts: { signed_curve25519: 5 } });

    const q = await post(bob, "/keys/query", { device_keys: { [alice.userId]: [] } });
    expect(q.status).toBe(200);
    const got = q.json.device_keys[alice.userId][alice.deviceId];
    expect(got.keys).toEqual(dev.keys.keys);
    expect(got.signatures).toEqual(dev.keys.signatures);
    expect(got.algorithms).toEqual(dev.keys.algorithms);
    expect(typeof got.unsigned).toBe("object");
    expect(q.json.failures).toEqual({});

    // A device filter naming an unknown device gives an empty map for that user.
    const f = await post(bob, "/keys/query", { device_keys: { [alice.userId]: ["NOPE"] } });
    expect(f.json.device_keys[alice.userId]).toEqual({});

    // Uploading only one-time keys adds to the count.
    const more = await post(alice, "/keys/upload", { one_time_keys: makeOneTimeKeys(alice.userId, dev.key, 3, 10) });
    expect(more.json.one_time_key_counts).toEqual({ signed_curve25519: 8 });
    const none = await post(alice, "/keys/upload", {});
    expect(none.json.one_time_key_counts).toEqual({ signed_curve25519: 8 });
  });

  it("shows the device display name in unsigned", async () => {
    await registerUser(hs, "kname", PW);
    const l = await login(hs, "kname", PW, { initial_device_display_name: "Kitchen tablet" });
    const s = { userId: l.user_id, deviceId: l.device_id, token: l.access_token };
    await post(s, "/keys/upload", { device_keys: makeDeviceKeys(s.userId, s.deviceId).keys });
    const q = await post(s, "/keys/query", { device_keys: { [s.userId]: [s.deviceId] } });
    expect(q.json.device_keys[s.userId][s.deviceId].unsigned).toEqual({ device_display_name: "Kitchen tablet" });
  });

  it("stores device keys it cannot verify (as deployed servers do) but refuses another device's or a malformed object", async () => {
    const a = await user("ka2");
    const other = ed25519Key(a.deviceId);
    // Another device id / user id, and malformed objects: nothing is stored.
    let r = await post(a, "/keys/upload", { device_keys: makeDeviceKeys(a.userId, "OTHERDEV").keys });
    expect([r.status, r.json.errcode]).toEqual([400, "M_INVALID_PARAM"]);
    r = await post(a, "/keys/upload", { device_keys: makeDeviceKeys("@someone:localhost", a.deviceId).keys });
    expect([r.status, r.json.errcode]).toEqual([400, "M_INVALID_PARAM"]);
    r = await post(a, "/keys/upload", { device_keys: "nope" });
    expect([r.status, r.json.errcode]).toEqual([400, "M_BAD_JSON"]);
    r = await post(a, "/keys/upload", { device_keys: { user_id: a.userId, device_id: a.deviceId }, one_time_keys: makeOneTimeKeys(a.userId, other, 2) });
    expect([r.status, r.json.errcode]).toEqual([400, "M_BAD_JSON"]);
    let q = await post(a, "/keys/query", { device_keys: { [a.userId]: [] } });
    expect(q.json.device_keys[a.userId]).toEqual({});
    const counts = await post(a, "/keys/upload", {});
    expect(counts.json.one_time_key_counts).toEqual({});

    // Placeholder keys with a signature nobody can check are stored as given (clients verify them).
    const placeholder = {
      user_id: a.userId,
      device_id: a.deviceId,
      algorithms: ["m.olm.curve25519-aes-sha256", "m.megolm.v1.aes-sha"],
      keys: { [`curve25519:${a.deviceId}`]: "curve25519+key", [`ed25519:${a.deviceId}`]: "ed25519+key" },
      signatures: { [a.userId]: { [`ed25519:${a.deviceId}`]: "self+signature" } },
    };
    r = await post(a, "/keys/upload", { device_keys: placeholder, one_time_keys: { "my_algorithm:my_id_1": "KIhHVkAQi8r41aPNql2zTqQsInpFa8XdslQLC8F8BHc" } });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    expect(r.json.one_time_key_counts).toEqual({ my_algorithm: 1 });
    q = await post(a, "/keys/query", { device_keys: { [a.userId]: [] } });
    expect(q.json.device_keys[a.userId][a.deviceId].keys).toEqual(placeholder.keys);
    expect(q.json.device_keys[a.userId][a.deviceId].signatures).toEqual(placeholder.signatures);
  });

  it("conflicting re-upload of different device keys -> 400; the same keys again are fine", async () => {
    const a = await user("ka3");
    const first = makeDeviceKeys(a.userId, a.deviceId);
    expect((await post(a, "/keys/upload", { device_keys: first.keys })).status).toBe(200);
    expect((await post(a, "/keys/upload", { device_keys: first.keys })).status).toBe(200);
    const second = makeDeviceKeys(a.userId, a.deviceId);
    const r = await post(a, "/keys/upload", { device_keys: second.keys });
    expect(r.status).toBe(400);
    expect(r.json.errcode).toBe("M_INVALID_PARAM");
    const q = await post(a, "/keys/query", { device_keys: { [a.userId]: [] } });
    expect(q.json.device_keys[a.userId][a.deviceId].keys).toEqual(first.keys.keys);

    // A one-time key id reused with a different key is refused too.
    const otk = makeOneTimeKeys(a.userId, first.key, 1);
    expect((await post(a, "/keys/upload", { one_time_keys: otk })).status).toBe(200);
    expect((await post(a, "/keys/upload", { one_time_keys: otk })).json.one_time_key_counts).toEqual({ signed_curve25519: 1 });
    const clash = await post(a, "/keys/upload", { one_time_keys: makeOneTimeKeys(a.userId, first.key, 1) });
    expect([clash.status, clash.json.errcode]).toEqual([400, "M_INVALID_PARAM"]);
    // Two fallback keys of one algorithm in one upload.
    const two = await post(a, "/keys/upload", { fallback_keys: makeOneTimeKeys(a.userId, first.key, 2, 0, true) });
    expect([two.status, two.json.errcode]).toEqual([400, "M_INVALID_PARAM"]);
  });

  it("reports users on servers that cannot be reached as failures", async () => {
    const a = await user("ka4");
    const q = await post(a, "/keys/query", { device_keys: { "@x:remote.example": [] } });
    expect(q.status).toBe(200);
    expect(Object.keys(q.json.failures)).toEqual(["remote.example"]);
    const c = await post(a, "/keys/claim", { one_time_keys: { "@x:remote.example": { D: "signed_curve25519" } } });
    expect(Object.keys(c.json.failures)).toEqual(["remote.example"]);
  });

  it("needs an access token and a well-formed body", async () => {
    const r = await hs.request<J>("POST", "/_matrix/client/v3/keys/query", { body: { device_keys: {} } });
    expect([r.status, r.json.errcode]).toEqual([401, "M_MISSING_TOKEN"]);
    const a = await user("ka5");
    const bad = await post(a, "/keys/query", { device_keys: { [a.userId]: "all" } });
    expect([bad.status, bad.json.errcode]).toEqual([400, "M_BAD_JSON"]);
    const missing = await post(a, "/keys/claim", {});
    expect([missing.status, missing.json.errcode]).toEqual([400, "M_BAD_JSON"]);
  });
});

describe("/keys/claim", () => {
  it("hands out one-time keys oldest upload first, then the fallback key", async () => {
    const a = await user("kc1");
    const b = await user("kc2");
    const dev = makeDeviceKeys(a.userId, a.deviceId);
    const batch1 = makeOneTimeKeys(a.userId, dev.key, 1, 0);
    const batch2 = makeOneTimeKeys(a.userId, dev.key, 1, 1);
    const fb = makeOneTimeKeys(a.userId, dev.key, 1, 50, true);
    await post(a, "/keys/upload", { device_keys: dev.keys, one_time_keys: batch1 });
    await post(a, "/keys/upload", { one_time_keys: batch2, fallback_keys: fb });
    const want = { one_time_keys: { [a.userId]: { [a.deviceId]: "signed_curve25519" } } };
    const c1 = await post(b, "/keys/claim", want);
    expect(c1.json.one_time_keys).toEqual({ [a.userId]: { [a.deviceId]: batch1 } });
    const c2 = await post(b, "/keys/claim", want);
    expect(c2.json.one_time_keys).toEqual({ [a.userId]: { [a.deviceId]: batch2 } });
    const c3 = await post(b, "/keys/claim", want);
    expect(c3.json.one_time_keys).toEqual({ [a.userId]: { [a.deviceId]: fb } });
    const c4 = await post(b, "/keys/claim", want);
    expect(c4.json.one_time_keys).toEqual({ [a.userId]: { [a.deviceId]: fb } });
    expect((await post(a, "/keys/upload", {})).json.one_time_key_counts).toEqual({});
    // Unknown devices and algorithms yield nothing.
    const none = await post(b, "/keys/claim", { one_time_keys: { [a.userId]: { NODEVICE: "signed_curve25519", [a.deviceId]: "other_alg" } } });
    expect(none.json.one_time_keys).toEqual({});
  });

  it("50 concurrent claims on 10 one-time keys hand out each key at most once, then the fallback", async () => {
    const a = await user("kc3");
    const b = await user("kc4");
    const dev = makeDeviceKeys(a.userId, a.deviceId);
    const otks = makeOneTimeKeys(a.userId, dev.key, 10);
    const fb = makeOneTimeKeys(a.userId, dev.key, 1, 99, true);
    await post(a, "/keys/upload", { device_keys: dev.keys, one_time_keys: otks, fallback_keys: fb });
    const want = { one_time_keys: { [a.userId]: { [a.deviceId]: "signed_curve25519" } } };
    const results = await Promise.all(Array.from({ length: 50 }, () => post(b, "/keys/claim", want)));
    const ids = results.map((r) => {
      expect(r.status).toBe(200);
      const keys = Object.keys(r.json.one_time_keys[a.userId][a.deviceId]);
      expect(keys).toHaveLength(1);
      return keys[0]!;
    });
    const fallbackId = Object.keys(fb)[0]!;
    const oneTime = ids.filter((id) => id !== fallbackId);
    expect(oneTime.sort()).toEqual(Object.keys(otks).sort());
    expect(new Set(oneTime).size).toBe(10);
    expect(ids.filter((id) => id === fallbackId)).toHaveLength(40);
    expect((await post(a, "/keys/upload", {})).json.one_time_key_counts).toEqual({});
  });
});

describe("/keys/changes and device deletion", () => {
  it("lists the user after a key upload; bad tokens are refused", async () => {
    const a = await user("kd1");
    await post(a, "/keys/upload", { device_keys: makeDeviceKeys(a.userId, a.deviceId).keys });
    const r = await hs.request<J>("GET", `/_matrix/client/v3/keys/changes?from=${ZERO}&to=${FAR}`, { token: a.token });
    expect(r.status).toBe(200);
    expect(r.json.changed).toContain(a.userId);
    expect(r.json.left).toEqual([]);
    // Nothing changed in an empty window.
    const empty = await hs.request<J>("GET", `/_matrix/client/v3/keys/changes?from=${FAR}&to=${FAR}`, { token: a.token });
    expect(empty.json.changed).toEqual([]);
    const bad = await hs.request<J>("GET", `/_matrix/client/v3/keys/changes?from=garbage&to=${FAR}`, { token: a.token });
    expect([bad.status, bad.json.errcode]).toEqual([400, "M_INVALID_PARAM"]);
    const missing = await hs.request<J>("GET", `/_matrix/client/v3/keys/changes?from=${ZERO}`, { token: a.token });
    expect([missing.status, missing.json.errcode]).toEqual([400, "M_MISSING_PARAM"]);
  });

  it("a deleted device's keys, one-time keys and fallback key are gone", async () => {
    const a = await user("kd2");
    const l = await login(hs, "kd2", PW);
    const second = { userId: a.userId, deviceId: l.device_id as string, token: l.access_token as string };
    const dev = makeDeviceKeys(a.userId, second.deviceId);
    await post(second, "/keys/upload", {
      device_keys: dev.keys,
      one_time_keys: makeOneTimeKeys(a.userId, dev.key, 3),
      fallback_keys: makeOneTimeKeys(a.userId, dev.key, 1, 9, true),
    });
    const before = await post(a, "/keys/query", { device_keys: { [a.userId]: [] } });
    expect(Object.keys(before.json.device_keys[a.userId])).toEqual([second.deviceId]);

    const del = await hs.request<J>("DELETE", `/_matrix/client/v3/devices/${second.deviceId}`, { token: a.token, body: {} });
    expect(del.status).toBe(401);
    const ok = await hs.request<J>("DELETE", `/_matrix/client/v3/devices/${second.deviceId}`, {
      token: a.token,
      body: { auth: { type: "m.login.password", identifier: { type: "m.id.user", user: "kd2" }, password: PW, session: del.json.session } },
    });
    expect(ok.status, ok.text).toBe(200);

    const after = await post(a, "/keys/query", { device_keys: { [a.userId]: [] } });
    expect(after.json.device_keys[a.userId]).toEqual({});
    const claim = await post(a, "/keys/claim", { one_time_keys: { [a.userId]: { [second.deviceId]: "signed_curve25519" } } });
    expect(claim.json.one_time_keys).toEqual({});
    const rows = await hs.server.sql.query("SELECT 1 FROM e2e_device_keys WHERE user_id = $1", [a.userId]);
    expect(rows).toHaveLength(0);
  });
});

describe("cross-signing", () => {
  async function bootstrap(s: Session) {
    const master = ed25519Key();
    const ssk = ed25519Key();
    const usk = ed25519Key();
    const body = {
      master_key: crossSigningKey(s.userId, "master", master),
      self_signing_key: crossSigningKey(s.userId, "self_signing", ssk, master),
      user_signing_key: crossSigningKey(s.userId, "user_signing", usk, master),
    };
    return { master, ssk, usk, body };
  }

  it("first upload needs no UIA; a replacement does; an identical repeat does not", async () => {
    const a = await user("xs1");
    const b = await user("xs2");
    const keys = await bootstrap(a);
    const r = await post(a, "/keys/device_signing/upload", keys.body);
    expect(r.status, r.text).toBe(200);
    expect(r.json).toEqual({});
    expect((await post(a, "/keys/device_signing/upload", keys.body)).status).toBe(200);

    const seenByB = await post(b, "/keys/query", { device_keys: { [a.userId]: [] } });
    expect(seenByB.json.master_keys[a.userId]).toEqual(keys.body.master_key);
    expect(seenByB.json.self_signing_keys[a.userId]).toEqual(keys.body.self_signing_key);
    expect(seenByB.json.user_signing_keys).toEqual({});
    const seenByA = await post(a, "/keys/query", { device_keys: { [a.userId]: [] } });
    expect(seenByA.json.user_signing_keys[a.userId]).toEqual(keys.body.user_signing_key);

    const next = await bootstrap(a);
    const challenge = await post(a, "/keys/device_signing/upload", next.body);
    expect(challenge.status).toBe(401);
    expect(challenge.json.flows).toEqual([{ stages: ["m.login.password"] }]);
    expect(typeof challenge.json.session).toBe("string");
    const wrong = await post(a, "/keys/device_signing/upload", {
      ...next.body,
      auth: { type: "m.login.password", identifier: { type: "m.id.user", user: "xs1" }, password: "wrong", session: challenge.json.session },
    });
    expect([wrong.status, wrong.json.errcode]).toEqual([401, "M_FORBIDDEN"]);
    const still = await post(b, "/keys/query", { device_keys: { [a.userId]: [] } });
    expect(still.json.master_keys[a.userId]).toEqual(keys.body.master_key);
    const done = await post(a, "/keys/device_signing/upload", {
      ...next.body,
      auth: { type: "m.login.password", identifier: { type: "m.id.user", user: "xs1" }, password: PW, session: challenge.json.session },
    });
    expect(done.status, done.text).toBe(200);
    const replaced = await post(b, "/keys/query", { device_keys: { [a.userId]: [] } });
    expect(replaced.json.master_keys[a.userId]).toEqual(next.body.master_key);

    const changes = await hs.request<J>("GET", `/_matrix/client/v3/keys/changes?from=${ZERO}&to=${FAR}`, { token: a.token });
    expect(changes.json.changed).toContain(a.userId);
  });

  it("refuses keys not signed by the master key, a missing master key and malformed keys", async () => {
    const a = await user("xs3");
    const k = await bootstrap(a);
    const rogue = ed25519Key();
    let r = await post(a, "/keys/device_signing/upload", { ...k.body, self_signing_key: crossSigningKey(a.userId, "self_signing", k.ssk, rogue) });
    expect([r.status, r.json.errcode]).toEqual([400, "M_INVALID_SIGNATURE"]);
    r = await post(a, "/keys/device_signing/upload", { self_signing_key: k.body.self_signing_key });
    expect([r.status, r.json.errcode]).toEqual([400, "M_MISSING_PARAM"]);
    r = await post(a, "/keys/device_signing/upload", { master_key: { ...k.body.master_key, keys: { "ed25519:abc": "def" } } });
    expect([r.status, r.json.errcode]).toEqual([400, "M_INVALID_PARAM"]);
    r = await post(a, "/keys/device_signing/upload", { master_key: { ...k.body.master_key, user_id: "@other:localhost" } });
    expect([r.status, r.json.errcode]).toEqual([400, "M_INVALID_PARAM"]);
    r = await post(a, "/keys/device_signing/upload", { master_key: { ...k.body.master_key, usage: ["self_signing"] } });
    expect([r.status, r.json.errcode]).toEqual([400, "M_INVALID_PARAM"]);
    const q = await post(a, "/keys/query", { device_keys: { [a.userId]: [] } });
    expect(q.json.master_keys).toEqual({});
    expect(q.json.self_signing_keys).toEqual({});
  });

  it("refuses a cross-signing key whose public key is one of the user's device ids", async () => {
    const master = ed25519Key();
    await registerUser(hs, "xs4", PW);
    const l = await login(hs, "xs4", PW, { device_id: pub(master) });
    const s = { userId: l.user_id, deviceId: l.device_id, token: l.access_token };
    const r = await post(s, "/keys/device_signing/upload", { master_key: crossSigningKey(s.userId, "master", master) });
    expect([r.status, r.json.errcode]).toEqual([403, "M_FORBIDDEN"]);
  });

  it("/keys/signatures/upload checks each signature and reports per-key failures", async () => {
    const a = await user("xs5");
    const b = await user("xs6");
    const dev = makeDeviceKeys(a.userId, a.deviceId);
    await post(a, "/keys/upload", { device_keys: dev.keys });
    const ka = await bootstrap(a);
    await post(a, "/keys/device_signing/upload", ka.body);
    const kb = await bootstrap(b);
    await post(b, "/keys/device_signing/upload", kb.body);

    const { signatures: _drop, ...devUnsigned } = dev.keys;
    const signedDevice = sign(devUnsigned, a.userId, ka.ssk);
    const badDevice = sign(devUnsigned, a.userId, ed25519Key(ka.ssk.version));
    const masterSignedByDevice = sign(ka.body.master_key, a.userId, dev.key);
    const bobMasterSigned = sign(kb.body.master_key, a.userId, ka.usk);
    const tampered = sign({ ...devUnsigned, algorithms: ["x"] }, a.userId, ka.ssk);

    const r = await post(a, "/keys/signatures/upload", {
      [a.userId]: { [a.deviceId]: signedDevice, [pub(ka.master)]: masterSignedByDevice, NOSUCHDEVICE: signedDevice },
      [b.userId]: { [pub(kb.master)]: bobMasterSigned, [pub(kb.ssk)]: bobMasterSigned },
    });
    expect(r.status, r.text).toBe(200);
    expect(r.json.failures[a.userId]?.[a.deviceId]).toBeUndefined();
    expect(r.json.failures[a.userId]?.[pub(ka.master)]).toBeUndefined();
    expect(r.json.failures[a.userId].NOSUCHDEVICE.errcode).toBe("M_NOT_FOUND");
    expect(r.json.failures[b.userId]?.[pub(kb.master)]).toBeUndefined();
    expect(r.json.failures[b.userId][pub(kb.ssk)].errcode).toBe("M_NOT_FOUND");

    const bad = await post(a, "/keys/signatures/upload", { [a.userId]: { [a.deviceId]: badDevice } });
    expect(bad.status).toBe(200);
    expect(bad.json.failures[a.userId][a.deviceId].errcode).toBe("M_INVALID_SIGNATURE");
    const mismatch = await post(a, "/keys/signatures/upload", { [a.userId]: { [a.deviceId]: tampered } });
    expect(mismatch.json.failures[a.userId][a.deviceId].errcode).toBe("M_INVALID_PARAM");

    // Everyone sees the self-signing signature on A's device and A's device signature on A's master key.
    const seenByB = await post(b, "/keys/query", { device_keys: { [a.userId]: [], [b.userId]: [] } });
    expect(seenByB.json.device_keys[a.userId][a.deviceId].signatures[a.userId]).toEqual({
      ...dev.keys.signatures[a.userId],
      ...signedDevice.signatures[a.userId],
    });
    expect(seenByB.json.master_keys[a.userId].signatures[a.userId][dev.key.keyId]).toBe(masterSignedByDevice.signatures[a.userId][dev.key.keyId]);
    // A's user-signing signature on B's master key is visible to A only.
    expect(seenByB.json.master_keys[b.userId].signatures?.[a.userId]).toBeUndefined();
    const seenByA = await post(a, "/keys/query", { device_keys: { [b.userId]: [] } });
    expect(seenByA.json.master_keys[b.userId].signatures[a.userId]).toEqual(bobMasterSigned.signatures[a.userId]);
  });
});
