import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { login, registerSession, type J, type Session } from "./accounts-helpers.js";
import { makeDeviceKeys, makeOneTimeKeys } from "./e2ee-helpers.js";
import { startTestServer, type TestServer } from "./harness.js";

let hs: TestServer;
const PW = "correct horse";
beforeAll(async () => {
  hs = await startTestServer({ registration: { enabled: true }, password_policy: { scrypt_cost: 1024 } });
});
afterAll(() => hs?.close());

// registerSession uses the same default password as PW.
const user = (name: string): Promise<Session> => registerSession(hs, name);

const call = (s: Session, method: string, path: string, body?: unknown) =>
  hs.request<J>(method, `/_matrix/client/v3${path}`, { token: s.token, body });

const ALG = "m.megolm_backup.v1.curve25519-aes-sha2";
const key = (fmi: number, fc: number, verified: boolean, tag = "x") => ({
  first_message_index: fmi,
  forwarded_count: fc,
  is_verified: verified,
  session_data: { ephemeral: `e-${tag}`, ciphertext: `c-${tag}`, mac: `m-${tag}` },
});
const ROOM = "!room:localhost";
const enc = encodeURIComponent;

describe("key backup versions", () => {
  it("create, read, update and delete", async () => {
    const a = await user("bk1");
    const none = await call(a, "GET", "/room_keys/version");
    expect([none.status, none.json.errcode]).toEqual([404, "M_NOT_FOUND"]);

    const c = await call(a, "POST", "/room_keys/version", { algorithm: ALG, auth_data: { public_key: "abc", signatures: {} } });
    expect(c.status).toBe(200);
    expect(typeof c.json.version).toBe("string");
    const v1 = c.json.version as string;
    const cur = await call(a, "GET", "/room_keys/version");
    expect(cur.json).toEqual({ algorithm: ALG, auth_data: { public_key: "abc", signatures: {} }, count: 0, etag: expect.any(String), version: v1 });
    expect((await call(a, "GET", `/room_keys/version/${v1}`)).json.version).toBe(v1);

    const upd = await call(a, "PUT", `/room_keys/version/${v1}`, { algorithm: ALG, auth_data: { public_key: "abc", extra: 1 }, version: v1 });
    expect(upd.status).toBe(200);
    expect((await call(a, "GET", `/room_keys/version/${v1}`)).json.auth_data).toEqual({ public_key: "abc", extra: 1 });
    const wrongVersion = await call(a, "PUT", `/room_keys/version/${v1}`, { algorithm: ALG, auth_data: {}, version: "999" });
    expect([wrongVersion.status, wrongVersion.json.errcode]).toEqual([400, "M_INVALID_PARAM"]);
    const wrongAlg = await call(a, "PUT", `/room_keys/version/${v1}`, { algorithm: "other.alg", auth_data: {} });
    expect([wrongAlg.status, wrongAlg.json.errcode]).toEqual([400, "M_INVALID_PARAM"]);
    const unknown = await call(a, "PUT", "/room_keys/version/999", { algorithm: ALG, auth_data: {} });
    expect([unknown.status, unknown.json.errcode]).toEqual([404, "M_NOT_FOUND"]);
    expect((await call(a, "GET", "/room_keys/version/999")).status).toBe(404);
    expect((await call(a, "GET", "/room_keys/version/notanumber")).status).toBe(404);
    const bad = await call(a, "POST", "/room_keys/version", { algorithm: ALG });
    expect([bad.status, bad.json.errcode]).toEqual([400, "M_BAD_JSON"]);

    const c2 = await call(a, "POST", "/room_keys/version", { algorithm: ALG, auth_data: { public_key: "def" } });
    expect(Number(c2.json.version)).toBeGreaterThan(Number(v1));
    expect((await call(a, "GET", "/room_keys/version")).json.version).toBe(c2.json.version);

    expect((await call(a, "DELETE", `/room_keys/version/${c2.json.version}`)).status).toBe(200);
    // Deleting again succeeds; a version that never existed is 404.
    expect((await call(a, "DELETE", `/room_keys/version/${c2.json.version}`)).status).toBe(200);
    expect((await call(a, "DELETE", "/room_keys/version/12345")).status).toBe(404);
    expect((await call(a, "GET", `/room_keys/version/${c2.json.version}`)).status).toBe(404);
    // The older version is current again; a new one never reuses a deleted number.
    expect((await call(a, "GET", "/room_keys/version")).json.version).toBe(v1);
    const c3 = await call(a, "POST", "/room_keys/version", { algorithm: ALG, auth_data: {} });
    expect(Number(c3.json.version)).toBeGreaterThan(Number(c2.json.version));

    // Backups are per user.
    const b = await user("bk2");
    expect((await call(b, "GET", `/room_keys/version/${v1}`)).status).toBe(404);
  });
});

describe("key backup keys", () => {
  it("stores keys under the spec's replacement rules with etag and count", async () => {
    const a = await user("bk3");
    const v = (await call(a, "POST", "/room_keys/version", { algorithm: ALG, auth_data: {} })).json.version as string;
    const path = `/room_keys/keys/${enc(ROOM)}/sess1?version=${v}`;

    const first = await call(a, "PUT", path, key(5, 1, false, "a"));
    expect(first.status, first.text).toBe(200);
    expect(first.json.count).toBe(1);
    const etag1 = first.json.etag as string;
    expect(typeof etag1).toBe("string");

    // Worse keys are ignored (higher index; same index and more forwards); the etag stays.
    for (const worse of [key(6, 0, false, "b"), key(5, 2, false, "c"), key(5, 1, false, "same")]) {
      const r = await call(a, "PUT", path, worse);
      expect(r.json).toEqual({ etag: etag1, count: 1 });
    }
    expect((await call(a, "GET", path)).json).toEqual(key(5, 1, false, "a"));

    // Lower forwarded_count wins at equal index; then lower index; then verified beats everything.
    let r = await call(a, "PUT", path, key(5, 0, false, "d"));
    expect(r.json.etag).not.toBe(etag1);
    expect((await call(a, "GET", path)).json).toEqual(key(5, 0, false, "d"));
    await call(a, "PUT", path, key(2, 3, false, "e"));
    expect((await call(a, "GET", path)).json).toEqual(key(2, 3, false, "e"));
    await call(a, "PUT", path, key(9, 9, true, "f"));
    expect((await call(a, "GET", path)).json).toEqual(key(9, 9, true, "f"));
    // An unverified key never replaces a verified one, however good.
    await call(a, "PUT", path, key(0, 0, false, "g"));
    expect((await call(a, "GET", path)).json).toEqual(key(9, 9, true, "f"));

    // Bulk forms.
    r = await call(a, "PUT", `/room_keys/keys/${enc(ROOM)}?version=${v}`, { sessions: { sess2: key(0, 0, false), sess3: key(0, 0, true) } });
    expect(r.json.count).toBe(3);
    r = await call(a, "PUT", `/room_keys/keys?version=${v}`, { rooms: { "!other:localhost": { sessions: { s4: key(1, 0, false) } } } });
    expect(r.json.count).toBe(4);

    const all = await call(a, "GET", `/room_keys/keys?version=${v}`);
    expect(Object.keys(all.json.rooms).sort()).toEqual(["!other:localhost", ROOM]);
    expect(Object.keys(all.json.rooms[ROOM].sessions).sort()).toEqual(["sess1", "sess2", "sess3"]);
    const room = await call(a, "GET", `/room_keys/keys/${enc(ROOM)}?version=${v}`);
    expect(room.json.sessions.sess2).toEqual(key(0, 0, false));
    const emptyRoom = await call(a, "GET", `/room_keys/keys/${enc("!nothing:localhost")}?version=${v}`);
    expect(emptyRoom.json).toEqual({ sessions: {} });
    const missing = await call(a, "GET", `/room_keys/keys/${enc(ROOM)}/nosuch?version=${v}`);
    expect([missing.status, missing.json.errcode]).toEqual([404, "M_NOT_FOUND"]);

    const info = await call(a, "GET", `/room_keys/version/${v}`);
    expect(info.json.count).toBe(4);
    expect(info.json.etag).toBe(r.json.etag);

    // Deletes: one session, one room, everything.
    const before = info.json.etag;
    let d = await call(a, "DELETE", `/room_keys/keys/${enc(ROOM)}/sess1?version=${v}`);
    expect(d.json.count).toBe(3);
    expect(d.json.etag).not.toBe(before);
    d = await call(a, "DELETE", `/room_keys/keys/${enc(ROOM)}?version=${v}`);
    expect(d.json.count).toBe(1);
    d = await call(a, "DELETE", `/room_keys/keys?version=${v}`);
    expect(d.json.count).toBe(0);
    expect((await call(a, "GET", `/room_keys/keys?version=${v}`)).json).toEqual({ rooms: {} });
  });

  it("writes to anything but the current version -> 403 M_WRONG_ROOM_KEYS_VERSION; no backup -> 404", async () => {
    const a = await user("bk4");
    const noBackup = await call(a, "PUT", `/room_keys/keys/${enc(ROOM)}/s?version=1`, key(0, 0, false));
    expect([noBackup.status, noBackup.json.errcode]).toEqual([404, "M_NOT_FOUND"]);
    const v1 = (await call(a, "POST", "/room_keys/version", { algorithm: ALG, auth_data: {} })).json.version as string;
    await call(a, "PUT", `/room_keys/keys/${enc(ROOM)}/old?version=${v1}`, key(0, 0, false));
    const v2 = (await call(a, "POST", "/room_keys/version", { algorithm: ALG, auth_data: {} })).json.version as string;
    const r = await call(a, "PUT", `/room_keys/keys/${enc(ROOM)}/s?version=${v1}`, key(0, 0, false));
    expect(r.status).toBe(403);
    expect(r.json.errcode).toBe("M_WRONG_ROOM_KEYS_VERSION");
    expect(r.json.current_version).toBe(v2);
    const bulk = await call(a, "PUT", `/room_keys/keys?version=${v1}`, { rooms: {} });
    expect([bulk.status, bulk.json.errcode]).toEqual([403, "M_WRONG_ROOM_KEYS_VERSION"]);
    // Reading an older version still works; its key was kept.
    expect((await call(a, "GET", `/room_keys/keys/${enc(ROOM)}/old?version=${v1}`)).status).toBe(200);
    // Version is a required query parameter; key data is checked.
    const noVersion = await call(a, "PUT", `/room_keys/keys/${enc(ROOM)}/s`, key(0, 0, false));
    expect([noVersion.status, noVersion.json.errcode]).toEqual([400, "M_MISSING_PARAM"]);
    const badData = await call(a, "PUT", `/room_keys/keys/${enc(ROOM)}/s?version=${v2}`, { first_message_index: "0" });
    expect([badData.status, badData.json.errcode]).toEqual([400, "M_BAD_JSON"]);
    // Deleting a version deletes its keys.
    await call(a, "DELETE", `/room_keys/version/${v1}`);
    expect((await call(a, "GET", `/room_keys/keys?version=${v1}`)).status).toBe(404);
    const rows = await hs.server.sql.query("SELECT 1 FROM e2e_room_keys WHERE user_id = $1 AND version = $2", [a.userId, Number(v1)]);
    expect(rows).toHaveLength(0);
  });
});

describe("sendToDevice", () => {
  const inbox = (userId: string, deviceId: string) =>
    hs.server.sql.query<{ sender: string; type: string; content: string; stream_pos: number }>(
      "SELECT sender, type, content, stream_pos FROM to_device_messages WHERE user_id = $1 AND device_id = $2 ORDER BY stream_pos",
      [userId, deviceId],
    );

  it("is idempotent per transaction id and expands `*` to every device", async () => {
    const a = await user("td1");
    const b = await user("td2");
    const b2 = await login(hs, "td2", PW);
    const msg = { messages: { [b.userId]: { "*": { n: 1 } } } };
    expect((await call(a, "PUT", "/sendToDevice/m.test/txn1", msg)).status).toBe(200);
    const again = await call(a, "PUT", "/sendToDevice/m.test/txn1", msg);
    expect([again.status, again.json]).toEqual([200, {}]);
    for (const d of [b.deviceId, b2.device_id as string]) {
      const rows = await inbox(b.userId, d);
      expect(rows.map((r) => [r.sender, r.type, JSON.parse(r.content)])).toEqual([[a.userId, "m.test", { n: 1 }]]);
    }
    // Same txn id, other event type: another endpoint path, so a new message.
    await call(a, "PUT", "/sendToDevice/m.other/txn1", msg);
    expect((await inbox(b.userId, b.deviceId)).map((r) => r.type)).toEqual(["m.test", "m.other"]);
    // An explicit device beats the wildcard for that device; unknown devices are skipped.
    await call(a, "PUT", "/sendToDevice/m.test/txn2", { messages: { [b.userId]: { "*": { n: 2 }, [b.deviceId]: { n: 3 }, NODEVICE: { n: 4 } } } });
    expect((await inbox(b.userId, b.deviceId)).map((r) => JSON.parse(r.content).n)).toEqual([1, 1, 3]);
    expect((await inbox(b.userId, b2.device_id as string)).map((r) => JSON.parse(r.content).n)).toEqual([1, 1, 2]);
    expect(await hs.server.sql.query("SELECT 1 FROM to_device_messages WHERE device_id = 'NODEVICE'")).toHaveLength(0);
    // The same txn id from another device of the sender is a new request.
    const a2 = await login(hs, "td1", PW);
    await hs.request("PUT", "/_matrix/client/v3/sendToDevice/m.test/txn1", { token: a2.access_token, body: msg });
    expect(await inbox(b.userId, b.deviceId)).toHaveLength(4);
    const positions = (await inbox(b.userId, b.deviceId)).map((r) => r.stream_pos);
    expect([...positions].sort((x, y) => x - y)).toEqual(positions);
  });

  it("a deleted device's pending messages go", async () => {
    const a = await user("td3");
    const b = await user("td4");
    const b2 = await login(hs, "td4", PW);
    await call(a, "PUT", "/sendToDevice/m.test/t", { messages: { [b.userId]: { [b2.device_id]: { x: 1 } } } });
    expect(await inbox(b.userId, b2.device_id)).toHaveLength(1);
    const del = await call(b, "DELETE", `/devices/${b2.device_id}`, {});
    await call(b, "DELETE", `/devices/${b2.device_id}`, {
      auth: { type: "m.login.password", identifier: { type: "m.id.user", user: "td4" }, password: PW, session: del.json.session },
    });
    expect(await inbox(b.userId, b2.device_id)).toHaveLength(0);
  });

  it("refuses malformed messages and unauthenticated requests", async () => {
    const a = await user("td5");
    let r = await call(a, "PUT", "/sendToDevice/m.test/b1", { messages: { [a.userId]: { D: "not an object" } } });
    expect([r.status, r.json.errcode]).toEqual([400, "M_BAD_JSON"]);
    r = await call(a, "PUT", "/sendToDevice/m.test/b2", {});
    expect([r.status, r.json.errcode]).toEqual([400, "M_BAD_JSON"]);
    r = await call(a, "PUT", "/sendToDevice/m.test/b3", { messages: { "not-a-user": { D: {} } } });
    expect([r.status, r.json.errcode]).toEqual([400, "M_INVALID_PARAM"]);
    r = await hs.request<J>("PUT", "/_matrix/client/v3/sendToDevice/m.test/b4", { body: { messages: {} } });
    expect([r.status, r.json.errcode]).toEqual([401, "M_MISSING_TOKEN"]);
  });
});

describe("dehydrated devices (MSC3814)", () => {
  const P = "/_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device";
  const req = (s: Session, method: string, path: string, body?: unknown) => hs.request<J>(method, path, { token: s.token, body });
  const deviceData = { algorithm: "m.dehydration.v1.olm", device_pickle: "encrypted-pickle" };

  it("is advertised in /versions", async () => {
    const v = await hs.request<J>("GET", "/_matrix/client/versions");
    expect(v.json.unstable_features["org.matrix.msc3814"]).toBe(true);
  });

  it("create, fetch its to-device messages page by page, replace, delete", async () => {
    const a = await user("dh1");
    const b = await user("dh2");
    expect((await req(a, "GET", P)).json.errcode).toBe("M_NOT_FOUND");

    const dev = makeDeviceKeys(a.userId, "DEHYD1");
    const put = await req(a, "PUT", P, {
      device_id: "DEHYD1",
      device_data: deviceData,
      initial_device_display_name: "Dehydrated device",
      device_keys: { ...dev.keys },
      one_time_keys: makeOneTimeKeys(a.userId, dev.key, 2),
    });
    expect(put.status, put.text).toBe(200);
    expect(put.json).toEqual({ device_id: "DEHYD1" });
    expect((await req(a, "GET", P)).json).toEqual({ device_id: "DEHYD1", device_data: deviceData });
    const devices = await call(a, "GET", "/devices");
    expect(devices.json.devices.map((d: J) => d.device_id).sort()).toEqual(["DEHYD1", a.deviceId].sort());
    const q = await call(b, "POST", "/keys/query", { device_keys: { [a.userId]: ["DEHYD1"] } });
    expect(q.json.device_keys[a.userId].DEHYD1.keys).toEqual(dev.keys.keys);
    const claim = await call(b, "POST", "/keys/claim", { one_time_keys: { [a.userId]: { DEHYD1: "signed_curve25519" } } });
    expect(Object.keys(claim.json.one_time_keys[a.userId].DEHYD1)).toHaveLength(1);

    // Messages for the dehydrated device wait until a rehydrating client fetches them.
    for (let i = 0; i < 3; i++) await call(b, "PUT", `/sendToDevice/m.room_key_test/dh${i}`, { messages: { [a.userId]: { "*": { i } } } });
    const first = await req(a, "POST", `${P}/DEHYD1/events`, {});
    expect(first.status).toBe(200);
    expect(first.json.events.map((e: J) => [e.sender, e.type, e.content.i])).toEqual([
      [b.userId, "m.room_key_test", 0],
      [b.userId, "m.room_key_test", 1],
      [b.userId, "m.room_key_test", 2],
    ]);
    const next = await req(a, "POST", `${P}/DEHYD1/events`, { next_batch: first.json.next_batch });
    expect(next.json.events).toEqual([]);
    expect(await hs.server.sql.query("SELECT 1 FROM to_device_messages WHERE user_id = $1 AND device_id = 'DEHYD1'", [a.userId])).toHaveLength(0);
    const wrong = await req(a, "POST", `${P}/${a.deviceId}/events`, {});
    expect([wrong.status, wrong.json.errcode]).toEqual([403, "M_FORBIDDEN"]);
    const badToken = await req(a, "POST", `${P}/DEHYD1/events`, { next_batch: "garbage" });
    expect([badToken.status, badToken.json.errcode]).toEqual([400, "M_INVALID_PARAM"]);

    // A regular device's id cannot be taken; bad keys change nothing.
    const clash = await req(a, "PUT", P, { device_id: a.deviceId, device_data: deviceData });
    expect([clash.status, clash.json.errcode]).toEqual([400, "M_INVALID_PARAM"]);
    const forged = await req(a, "PUT", P, { device_id: "DEHYD9", device_data: deviceData, device_keys: makeDeviceKeys(a.userId, "OTHER").keys });
    expect([forged.status, forged.json.errcode]).toEqual([400, "M_INVALID_PARAM"]);
    expect((await req(a, "GET", P)).json.device_id).toBe("DEHYD1");

    // A new dehydrated device replaces the old one, whose keys go with it.
    const dev2 = makeDeviceKeys(a.userId, "DEHYD2");
    expect((await req(a, "PUT", P, { device_id: "DEHYD2", device_data: deviceData, device_keys: dev2.keys })).json).toEqual({ device_id: "DEHYD2" });
    const after = await call(b, "POST", "/keys/query", { device_keys: { [a.userId]: [] } });
    expect(Object.keys(after.json.device_keys[a.userId])).toEqual(["DEHYD2"]);
    expect((await call(a, "GET", "/devices")).json.devices.map((d: J) => d.device_id).sort()).toEqual(["DEHYD2", a.deviceId].sort());

    const del = await req(a, "DELETE", P);
    expect(del.json).toEqual({ device_id: "DEHYD2" });
    expect((await req(a, "GET", P)).status).toBe(404);
    expect((await req(a, "DELETE", P)).status).toBe(404);
    expect((await call(a, "GET", "/devices")).json.devices.map((d: J) => d.device_id)).toEqual([a.deviceId]);
  });
});
