import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { login, registerUser, type J } from "./accounts-helpers.js";
import { startTestServer, type TestServer } from "./harness.js";

let hs: TestServer;
beforeAll(async () => {
  hs = await startTestServer({ registration: { enabled: true }, password_policy: { scrypt_cost: 1024 } });
});
afterAll(() => hs?.close());

const PW = "correct horse";

describe("devices", () => {
  it("lists, renames and reads devices", async () => {
    const reg = await registerUser(hs, "dev1", PW, { initial_device_display_name: "first", device_id: "DEVONE" });
    expect(reg.device_id).toBe("DEVONE");
    const second = await login(hs, "dev1", PW, { initial_device_display_name: "second" });
    const list = await hs.request<J>("GET", "/_matrix/client/v3/devices", { token: reg.access_token });
    expect(list.status).toBe(200);
    const names = Object.fromEntries(list.json.devices.map((d: J) => [d.device_id, d.display_name]));
    expect(names).toEqual({ DEVONE: "first", [second.device_id]: "second" });

    const put = await hs.request("PUT", "/_matrix/client/v3/devices/DEVONE", { token: reg.access_token, body: { display_name: "renamed" } });
    expect(put.status).toBe(200);
    const one = await hs.request<J>("GET", "/_matrix/client/v3/devices/DEVONE", { token: reg.access_token });
    expect(one.json.display_name).toBe("renamed");
    expect(one.json.device_id).toBe("DEVONE");

    const missing = await hs.request<J>("GET", "/_matrix/client/v3/devices/NOPE", { token: reg.access_token });
    expect(missing.status).toBe(404);
    expect(missing.json.errcode).toBe("M_NOT_FOUND");
    const putMissing = await hs.request<J>("PUT", "/_matrix/client/v3/devices/NOPE", { token: reg.access_token, body: { display_name: "x" } });
    expect(putMissing.status).toBe(404);
    const tooLong = await hs.request<J>("PUT", "/_matrix/client/v3/devices/DEVONE", { token: reg.access_token, body: { display_name: "x".repeat(101) } });
    expect(tooLong.status).toBe(400);
    expect(tooLong.json.errcode).toBe("M_TOO_LARGE");
    const wrongType = await hs.request<J>("PUT", "/_matrix/client/v3/devices/DEVONE", { token: reg.access_token, body: { display_name: 5 } });
    expect(wrongType.json.errcode).toBe("M_BAD_JSON");
  });

  it("deleting a device runs the UIA dance and revokes its token", async () => {
    const reg = await registerUser(hs, "dev2", PW);
    const other = await login(hs, "dev2", PW);
    const path = `/_matrix/client/v3/devices/${other.device_id}`;
    // Used once first, so the authenticator holds it in its cache: the deletion must still win at once.
    expect((await hs.request("GET", "/_matrix/client/v3/account/whoami", { token: other.access_token })).status).toBe(200);

    const challenge = await hs.request<J>("DELETE", path, { token: reg.access_token, body: {} });
    expect(challenge.status).toBe(401);
    expect(challenge.json.flows).toEqual([{ stages: ["m.login.password"] }]);
    expect(challenge.json.errcode).toBeUndefined();
    const session = challenge.json.session;

    const wrong = await hs.request<J>("DELETE", path, {
      token: reg.access_token,
      body: { auth: { type: "m.login.password", identifier: { type: "m.id.user", user: "dev2" }, password: "wrong", session } },
    });
    expect(wrong.status).toBe(401);
    expect(wrong.json.errcode).toBe("M_FORBIDDEN");
    expect(wrong.json.session).toBe(session);
    expect(wrong.json.flows).toEqual([{ stages: ["m.login.password"] }]);

    // Another user's (valid) password does not re-authenticate this one: 403.
    await registerUser(hs, "dev2b", PW);
    const otherUser = await hs.request<J>("DELETE", path, {
      token: reg.access_token,
      body: { auth: { type: "m.login.password", identifier: { type: "m.id.user", user: "dev2b" }, password: PW, session } },
    });
    expect(otherUser.status).toBe(403);
    expect(otherUser.json.errcode).toBe("M_FORBIDDEN");
    expect(otherUser.json.flows).toBeUndefined();

    const ok = await hs.request<J>("DELETE", path, {
      token: reg.access_token,
      body: { auth: { type: "m.login.password", identifier: { type: "m.id.user", user: "@dev2:localhost" }, password: PW, session } },
    });
    expect(ok.status).toBe(200);
    const who = await hs.request<J>("GET", "/_matrix/client/v3/account/whoami", { token: other.access_token });
    expect(who.status).toBe(401);
    expect(who.json.errcode).toBe("M_UNKNOWN_TOKEN");
    const still = await hs.request<J>("GET", "/_matrix/client/v3/account/whoami", { token: reg.access_token });
    expect(still.status).toBe(200);
    // The finished session cannot be reused.
    const replay = await hs.request<J>("DELETE", path, { token: reg.access_token, body: { auth: { session } } });
    expect(replay.status).toBe(400);
  });

  it("POST /delete_devices deletes several devices", async () => {
    const reg = await registerUser(hs, "dev3", PW);
    const a = await login(hs, "dev3", PW);
    const b = await login(hs, "dev3", PW);
    const body = { devices: [a.device_id, b.device_id] };
    expect((await hs.request("GET", "/_matrix/client/v3/account/whoami", { token: b.access_token })).status).toBe(200);
    const c = await hs.request<J>("POST", "/_matrix/client/v3/delete_devices", { token: reg.access_token, body });
    expect(c.status).toBe(401);
    const ok = await hs.request<J>("POST", "/_matrix/client/v3/delete_devices", {
      token: reg.access_token,
      body: { ...body, auth: { type: "m.login.password", user: "dev3", password: PW, session: c.json.session } },
    });
    expect(ok.status).toBe(200);
    const list = await hs.request<J>("GET", "/_matrix/client/v3/devices", { token: reg.access_token });
    expect(list.json.devices.map((d: J) => d.device_id)).toEqual([reg.device_id]);
    expect((await hs.request<J>("GET", "/_matrix/client/v3/account/whoami", { token: b.access_token })).json.errcode).toBe("M_UNKNOWN_TOKEN");
    const bad = await hs.request<J>("POST", "/_matrix/client/v3/delete_devices", { token: reg.access_token, body: { devices: "x" } });
    expect(bad.status).toBe(400);
    expect(bad.json.errcode).toBe("M_BAD_JSON");
  });

  it("logout/all revokes every token", async () => {
    const reg = await registerUser(hs, "dev4", PW);
    const a = await login(hs, "dev4", PW);
    expect((await hs.request("GET", "/_matrix/client/v3/account/whoami", { token: reg.access_token })).status).toBe(200);
    expect((await hs.request("POST", "/_matrix/client/v3/logout/all", { token: a.access_token, body: {} })).status).toBe(200);
    for (const t of [reg.access_token, a.access_token]) {
      expect((await hs.request("GET", "/_matrix/client/v3/account/whoami", { token: t })).status).toBe(401);
    }
    const list = await hs.request<J>("GET", "/_matrix/client/v3/devices", { token: (await login(hs, "dev4", PW)).access_token });
    expect(list.json.devices).toHaveLength(1);
  });
});

describe("password change and deactivation", () => {
  it("changes the password with UIA and logs out other devices", async () => {
    const reg = await registerUser(hs, "pw1", PW);
    const other = await login(hs, "pw1", PW);
    const c = await hs.request<J>("POST", "/_matrix/client/v3/account/password", { token: reg.access_token, body: { new_password: "new secret" } });
    expect(c.status).toBe(401);
    const ok = await hs.request<J>("POST", "/_matrix/client/v3/account/password", {
      token: reg.access_token,
      body: { new_password: "new secret", auth: { type: "m.login.password", user: "pw1", password: PW, session: c.json.session } },
    });
    expect(ok.status).toBe(200);
    expect((await hs.request("GET", "/_matrix/client/v3/account/whoami", { token: reg.access_token })).status).toBe(200);
    expect((await hs.request("GET", "/_matrix/client/v3/account/whoami", { token: other.access_token })).status).toBe(401);
    const old = await hs.request<J>("POST", "/_matrix/client/v3/login", { body: { type: "m.login.password", user: "pw1", password: PW } });
    expect(old.status).toBe(403);
    await login(hs, "pw1", "new secret");
  });

  it("logout_devices: false keeps other sessions", async () => {
    const reg = await registerUser(hs, "pw2", PW);
    const other = await login(hs, "pw2", PW);
    const c = await hs.request<J>("POST", "/_matrix/client/v3/account/password", { token: reg.access_token, body: { new_password: "x2" } });
    const ok = await hs.request<J>("POST", "/_matrix/client/v3/account/password", {
      token: reg.access_token,
      body: { new_password: "x2", logout_devices: false, auth: { type: "m.login.password", user: "pw2", password: PW, session: c.json.session } },
    });
    expect(ok.status).toBe(200);
    expect((await hs.request("GET", "/_matrix/client/v3/account/whoami", { token: other.access_token })).status).toBe(200);
  });

  it("missing new_password is M_BAD_JSON", async () => {
    const reg = await registerUser(hs, "pw3", PW);
    const r = await hs.request<J>("POST", "/_matrix/client/v3/account/password", { token: reg.access_token, body: {} });
    expect(r.status).toBe(400);
    expect(r.json.errcode).toBe("M_BAD_JSON");
  });

  it("deactivation with erase clears the profile and stops login", async () => {
    const reg = await registerUser(hs, "gone", PW);
    await hs.request("PUT", "/_matrix/client/v3/profile/@gone:localhost/displayname", { token: reg.access_token, body: { displayname: "Gone Soon" } });
    const c = await hs.request<J>("POST", "/_matrix/client/v3/account/deactivate", { token: reg.access_token, body: { erase: true } });
    expect(c.status).toBe(401);
    const ok = await hs.request<J>("POST", "/_matrix/client/v3/account/deactivate", {
      token: reg.access_token,
      body: { erase: true, auth: { type: "m.login.password", user: "gone", password: PW, session: c.json.session } },
    });
    expect(ok.status).toBe(200);
    expect(ok.json.id_server_unbind_result).toBe("success");
    expect((await hs.request("GET", "/_matrix/client/v3/account/whoami", { token: reg.access_token })).status).toBe(401);
    const l = await hs.request<J>("POST", "/_matrix/client/v3/login", { body: { type: "m.login.password", user: "gone", password: PW } });
    expect(l.status).toBe(403);
    expect(l.json.errcode).toBe("M_USER_DEACTIVATED");
    const p = await hs.request<J>("GET", "/_matrix/client/v3/profile/@gone:localhost");
    expect(p.json.displayname).toBeUndefined();
    // The name stays taken.
    const avail = await hs.request<J>("GET", "/_matrix/client/v3/register/available?username=gone");
    expect(avail.json.errcode).toBe("M_USER_IN_USE");
  });

  it("a deactivated user leaves their rooms", async () => {
    const owner = await registerUser(hs, "roomowner", PW);
    const leaver = await registerUser(hs, "leaver", PW);
    const room = await hs.request<J>("POST", "/_matrix/client/v3/createRoom", { token: owner.access_token, body: { preset: "public_chat" } });
    expect(room.status).toBe(200);
    const roomPath = `/_matrix/client/v3/rooms/${encodeURIComponent(room.json.room_id)}`;
    expect((await hs.request("POST", `/_matrix/client/v3/join/${encodeURIComponent(room.json.room_id)}`, { token: leaver.access_token, body: {} })).status).toBe(200);
    const before = await hs.request<J>("GET", `${roomPath}/joined_members`, { token: owner.access_token });
    expect(Object.keys(before.json.joined)).toContain("@leaver:localhost");
    const c = await hs.request<J>("POST", "/_matrix/client/v3/account/deactivate", { token: leaver.access_token, body: {} });
    const ok = await hs.request<J>("POST", "/_matrix/client/v3/account/deactivate", {
      token: leaver.access_token,
      body: { auth: { type: "m.login.password", user: "leaver", password: PW, session: c.json.session } },
    });
    expect(ok.status).toBe(200);
    const after = await hs.request<J>("GET", `${roomPath}/joined_members`, { token: owner.access_token });
    expect(Object.keys(after.json.joined)).not.toContain("@leaver:localhost");
  });
});
