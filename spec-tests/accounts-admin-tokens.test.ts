import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { login, sharedSecretRegister, type J } from "./accounts-helpers.js";
import { startTestServer, type TestServer } from "./harness.js";

const SECRET = "s3cret";
let hs: TestServer;
let admin: J;
beforeAll(async () => {
  hs = await startTestServer({
    registration: { enabled: true, shared_secret: SECRET, allow_guests: true, require_token: true },
    password_policy: { scrypt_cost: 1024 },
    auth: { refreshable_access_token_lifetime_ms: 1500, allow_access_token_query_param: false },
    user_directory: { search_all_users: true },
    public_baseurl: "https://matrix.example.org/",
  });
  admin = await sharedSecretRegister(hs, SECRET, "admin", "admin-pass", true);
});
afterAll(() => hs?.close());

describe("shared-secret registration", () => {
  it("registers an admin with a correct HMAC", async () => {
    expect(admin.user_id).toBe("@admin:localhost");
    expect(typeof admin.access_token).toBe("string");
    const who = await hs.request<J>("GET", "/_matrix/client/v3/account/whoami", { token: admin.access_token });
    expect(who.json.user_id).toBe("@admin:localhost");
  });

  it("refuses a wrong HMAC, a reused nonce and an unknown nonce", async () => {
    const n = await hs.request<J>("GET", "/_synapse/admin/v1/register");
    const body = { nonce: n.json.nonce, username: "mallory", password: "x", admin: true, mac: "0".repeat(40) };
    const bad = await hs.request<J>("POST", "/_synapse/admin/v1/register", { body });
    expect(bad.status).toBe(403);
    expect(bad.json.errcode).toBe("M_FORBIDDEN");
    const reused = await hs.request<J>("POST", "/_synapse/admin/v1/register", { body });
    expect(reused.status).toBe(400);
    const missing = await hs.request<J>("POST", "/_synapse/admin/v1/register", { body: { nonce: "x", username: "m" } });
    expect(missing.status).toBe(400);
    expect(missing.json.errcode).toBe("M_BAD_JSON");
  });
});

describe("registration tokens", () => {
  it("only admins manage tokens", async () => {
    const user = await sharedSecretRegister(hs, SECRET, "plain", "plain-pass", false);
    const r = await hs.request<J>("POST", "/_synapse/admin/v1/registration_tokens/new", { token: user.access_token, body: {} });
    expect(r.status).toBe(403);
    expect(r.json.errcode).toBe("M_FORBIDDEN");
  });

  it("creates, lists, updates and deletes tokens", async () => {
    const t = admin.access_token;
    const c = await hs.request<J>("POST", "/_synapse/admin/v1/registration_tokens/new", { token: t, body: { token: "abc", uses_allowed: 1 } });
    expect(c.status).toBe(200);
    expect(c.json).toEqual({ token: "abc", uses_allowed: 1, pending: 0, completed: 0, expiry_time: null });
    const gen = await hs.request<J>("POST", "/_synapse/admin/v1/registration_tokens/new", { token: t, body: { length: 20 } });
    expect(gen.json.token).toHaveLength(20);
    const dup = await hs.request<J>("POST", "/_synapse/admin/v1/registration_tokens/new", { token: t, body: { token: "abc" } });
    expect(dup.status).toBe(400);
    expect(dup.json.errcode).toBe("M_INVALID_PARAM");
    const badChars = await hs.request<J>("POST", "/_synapse/admin/v1/registration_tokens/new", { token: t, body: { token: "a b" } });
    expect(badChars.json.errcode).toBe("M_INVALID_PARAM");
    const list = await hs.request<J>("GET", "/_synapse/admin/v1/registration_tokens", { token: t });
    expect(list.json.registration_tokens.map((x: J) => x.token)).toContain("abc");
    const upd = await hs.request<J>("PUT", `/_synapse/admin/v1/registration_tokens/${gen.json.token}`, { token: t, body: { uses_allowed: 5 } });
    expect(upd.json.uses_allowed).toBe(5);
    expect((await hs.request("DELETE", `/_synapse/admin/v1/registration_tokens/${gen.json.token}`, { token: t })).status).toBe(200);
    const nf = await hs.request<J>("GET", `/_synapse/admin/v1/registration_tokens/${gen.json.token}`, { token: t });
    expect(nf.status).toBe(404);
  });

  it("registration needs a valid token; a used-up token is refused", async () => {
    const v = await hs.request<J>("GET", "/_matrix/client/v1/register/m.login.registration_token/validity?token=abc");
    expect(v.json).toEqual({ valid: true });
    const c = await hs.request<J>("POST", "/_matrix/client/v3/register", { body: { username: "tok1", password: "pw" } });
    expect(c.status).toBe(401);
    expect(c.json.flows).toEqual([{ stages: ["m.login.registration_token"] }]);
    const session = c.json.session;
    const dummy = await hs.request<J>("POST", "/_matrix/client/v3/register", { body: { username: "tok1", password: "pw", auth: { type: "m.login.dummy", session } } });
    // A stage the flows do not offer fails like any stage: 401 with the flows again.
    expect(dummy.status).toBe(401);
    expect(dummy.json.errcode).toBe("M_UNRECOGNIZED");
    expect(dummy.json.flows).toEqual([{ stages: ["m.login.registration_token"] }]);
    const wrong = await hs.request<J>("POST", "/_matrix/client/v3/register", {
      body: { username: "tok1", password: "pw", auth: { type: "m.login.registration_token", token: "nope", session } },
    });
    expect(wrong.status).toBe(401);
    expect(wrong.json.errcode).toBe("M_UNAUTHORIZED");
    const ok = await hs.request<J>("POST", "/_matrix/client/v3/register", {
      body: { username: "tok1", password: "pw", auth: { type: "m.login.registration_token", token: "abc", session } },
    });
    expect(ok.status).toBe(200);
    expect(ok.json.user_id).toBe("@tok1:localhost");
    const info = await hs.request<J>("GET", "/_synapse/admin/v1/registration_tokens/abc", { token: admin.access_token });
    expect(info.json).toMatchObject({ pending: 0, completed: 1 });
    const v2 = await hs.request<J>("GET", "/_matrix/client/v1/register/m.login.registration_token/validity?token=abc");
    expect(v2.json).toEqual({ valid: false });
    const c2 = await hs.request<J>("POST", "/_matrix/client/v3/register", { body: { username: "tok2", password: "pw" } });
    const used = await hs.request<J>("POST", "/_matrix/client/v3/register", {
      body: { username: "tok2", password: "pw", auth: { type: "m.login.registration_token", token: "abc", session: c2.json.session } },
    });
    expect(used.status).toBe(401);
    expect(used.json.errcode).toBe("M_UNAUTHORIZED");
  });
});

describe("guests", () => {
  it("registers a guest with a numeric localpart", async () => {
    const g = await hs.request<J>("POST", "/_matrix/client/v3/register?kind=guest", { body: {} });
    expect(g.status).toBe(200);
    expect(g.json.user_id).toMatch(/^@\d+:localhost$/);
    const who = await hs.request<J>("GET", "/_matrix/client/v3/account/whoami", { token: g.json.access_token });
    expect(who.json.is_guest).toBe(true);
    // Guests may not use endpoints outside the spec's guest list.
    const denied = await hs.request<J>("POST", "/_matrix/client/v3/account/deactivate", { token: g.json.access_token, body: {} });
    expect(denied.status).toBe(403);
    expect(denied.json.errcode).toBe("M_GUEST_ACCESS_FORBIDDEN");
    await hs.request("PUT", `/_matrix/client/v3/profile/${g.json.user_id}/displayname`, { token: g.json.access_token, body: { displayname: "Visitor" } });
    const denied2 = await hs.request<J>("PUT", `/_matrix/client/v3/profile/${g.json.user_id}/avatar_url`, { token: g.json.access_token, body: { avatar_url: "mxc://a/b" } });
    expect(denied2.status).toBe(403);
    expect(denied2.json.errcode).toBe("M_FORBIDDEN");
    const bad = await hs.request<J>("POST", "/_matrix/client/v3/register?kind=robot", { body: {} });
    expect(bad.status).toBe(400);
    expect(bad.json.errcode).toBe("M_INVALID_PARAM");
  });
});

describe("guest upgrade", () => {
  it("a guest registers with its token and keeps its user id", async () => {
    const g = await hs.request<J>("POST", "/_matrix/client/v3/register?kind=guest", { body: {} });
    const localpart = g.json.user_id.slice(1, g.json.user_id.indexOf(":"));
    const tok = await hs.request<J>("POST", "/_synapse/admin/v1/registration_tokens/new", { token: admin.access_token, body: {} });
    const wrongName = await hs.request<J>("POST", "/_matrix/client/v3/register", {
      body: { username: "someoneelse", password: "pw", guest_access_token: g.json.access_token },
    });
    expect(wrongName.status).toBe(403);
    expect(wrongName.json.errcode).toBe("M_FORBIDDEN");
    const notGuest = await hs.request<J>("POST", "/_matrix/client/v3/register", { body: { password: "pw", guest_access_token: admin.access_token } });
    expect(notGuest.status).toBe(403);
    const c = await hs.request<J>("POST", "/_matrix/client/v3/register", { body: { password: "guest-pw", guest_access_token: g.json.access_token } });
    expect(c.status).toBe(401);
    const ok = await hs.request<J>("POST", "/_matrix/client/v3/register", {
      body: {
        password: "guest-pw",
        guest_access_token: g.json.access_token,
        auth: { type: "m.login.registration_token", token: tok.json.token, session: c.json.session },
      },
    });
    expect(ok.status, JSON.stringify(ok.json)).toBe(200);
    expect(ok.json.user_id).toBe(g.json.user_id);
    const who = await hs.request<J>("GET", "/_matrix/client/v3/account/whoami", { token: ok.json.access_token });
    expect(who.json).toMatchObject({ user_id: g.json.user_id, is_guest: false });
    await login(hs, localpart, "guest-pw");
  });
});

describe("refresh tokens and soft logout", () => {
  it("issues refreshable tokens that expire with soft_logout and refresh", async () => {
    const u = await login(hs, "admin", "admin-pass", { refresh_token: true });
    expect(typeof u.refresh_token).toBe("string");
    expect(u.well_known).toEqual({ "m.homeserver": { base_url: "https://matrix.example.org/" } });
    expect(u.expires_in_ms).toBe(1500);
    expect((await hs.request("GET", "/_matrix/client/v3/account/whoami", { token: u.access_token })).status).toBe(200);
    await new Promise((r) => setTimeout(r, 1600));
    const expired = await hs.request<J>("GET", "/_matrix/client/v3/account/whoami", { token: u.access_token });
    expect(expired.status).toBe(401);
    expect(expired.json).toMatchObject({ errcode: "M_UNKNOWN_TOKEN", soft_logout: true });

    const r1 = await hs.request<J>("POST", "/_matrix/client/v3/refresh", { body: { refresh_token: u.refresh_token } });
    expect(r1.status).toBe(200);
    expect(r1.json.expires_in_ms).toBe(1500);
    // Until the new pair is used, the old refresh token still works (lost responses).
    const r1again = await hs.request<J>("POST", "/_matrix/client/v3/refresh", { body: { refresh_token: u.refresh_token } });
    expect(r1again.status).toBe(200);
    const who = await hs.request<J>("GET", "/_matrix/client/v3/account/whoami", { token: r1again.json.access_token });
    expect(who.status).toBe(200);
    expect(who.json.device_id).toBe(u.device_id);
    const old = await hs.request<J>("POST", "/_matrix/client/v3/refresh", { body: { refresh_token: u.refresh_token } });
    expect(old.status).toBe(401);
    expect(old.json.errcode).toBe("M_UNKNOWN_TOKEN");
    const superseded = await hs.request<J>("GET", "/_matrix/client/v3/account/whoami", { token: r1.json.access_token });
    expect(superseded.status).toBe(401);
    const bad = await hs.request<J>("POST", "/_matrix/client/v3/refresh", { body: {} });
    expect(bad.json.errcode).toBe("M_BAD_JSON");
  });
});

describe("m.login.token", () => {
  it("get_token needs UIA, and the token logs in once", async () => {
    const u = await login(hs, "admin", "admin-pass");
    const c = await hs.request<J>("POST", "/_matrix/client/v1/login/get_token", { token: u.access_token, body: {} });
    expect(c.status).toBe(401);
    const ok = await hs.request<J>("POST", "/_matrix/client/v1/login/get_token", {
      token: u.access_token,
      body: { auth: { type: "m.login.password", identifier: { type: "m.id.user", user: "admin" }, password: "admin-pass", session: c.json.session } },
    });
    expect(ok.status).toBe(200);
    expect(ok.json.expires_in_ms).toBeGreaterThan(0);
    const l = await hs.request<J>("POST", "/_matrix/client/v3/login", { body: { type: "m.login.token", token: ok.json.login_token } });
    expect(l.status).toBe(200);
    expect(l.json.user_id).toBe("@admin:localhost");
    const again = await hs.request<J>("POST", "/_matrix/client/v3/login", { body: { type: "m.login.token", token: ok.json.login_token } });
    expect(again.status).toBe(403);
    expect(again.json.errcode).toBe("M_FORBIDDEN");
  });
});

describe("access token transport", () => {
  it("refuses the query parameter when the config says so", async () => {
    const r = await hs.request<J>("GET", `/_matrix/client/v3/account/whoami?access_token=${admin.access_token}`);
    expect(r.status).toBe(401);
    expect(r.json.errcode).toBe("M_MISSING_TOKEN");
    const malformed = await hs.request<J>("GET", "/_matrix/client/v3/account/whoami", { headers: { authorization: "Basic abc" } });
    expect(malformed.status).toBe(401);
    expect(malformed.json.errcode).toBe("M_MISSING_TOKEN");
  });
});

describe("whois", () => {
  it("admins see a user's devices; others are refused", async () => {
    const u = await sharedSecretRegister(hs, SECRET, "watched", "pw-watched", false);
    await hs.request("GET", "/_matrix/client/v3/account/whoami", { token: u.access_token, headers: { "user-agent": "test-agent" } });
    await new Promise((r) => setTimeout(r, 100));
    const w = await hs.request<J>("GET", "/_matrix/client/v3/admin/whois/@watched:localhost", { token: admin.access_token });
    expect(w.status).toBe(200);
    expect(w.json.user_id).toBe("@watched:localhost");
    const conn = w.json.devices[u.device_id].sessions[0].connections[0];
    expect(conn.user_agent).toBe("test-agent");
    expect(conn.ip).toMatch(/127\.0\.0\.1/);
    const denied = await hs.request<J>("GET", "/_matrix/client/v3/admin/whois/@admin:localhost", { token: u.access_token });
    expect(denied.status).toBe(403);
    expect(denied.json.errcode).toBe("M_FORBIDDEN");
  });
});

describe("user directory with search_all_users", () => {
  it("finds local users who share no room, but not guests", async () => {
    await sharedSecretRegister(hs, SECRET, "loner", "pw-loner", false);
    const r = await hs.request<J>("POST", "/_matrix/client/v3/user_directory/search", { token: admin.access_token, body: { search_term: "loner" } });
    expect(r.json.results).toEqual([{ user_id: "@loner:localhost", display_name: "loner" }]);
    const guests = await hs.request<J>("POST", "/_matrix/client/v3/user_directory/search", { token: admin.access_token, body: { search_term: "1" } });
    expect(guests.json.results.filter((x: J) => /^@\d+:/.test(x.user_id))).toEqual([]);
  });
});

describe("Synapse admin user API", () => {
  const u = "/_synapse/admin/v2/users/@managed:localhost";
  it("creates, reads, lists and modifies users", async () => {
    const t = admin.access_token;
    const created = await hs.request<J>("PUT", u, { token: t, body: { password: "managed-pw", displayname: "Managed One" } });
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({ name: "@managed:localhost", displayname: "Managed One", admin: false, deactivated: false, locked: false });
    await login(hs, "managed", "managed-pw");
    const modified = await hs.request<J>("PUT", u, { token: t, body: { displayname: "Managed Two", admin: true } });
    expect(modified.status).toBe(200);
    expect(modified.json).toMatchObject({ displayname: "Managed Two", admin: true });
    const flag = await hs.request<J>("GET", "/_synapse/admin/v1/users/@managed:localhost/admin", { token: t });
    expect(flag.json).toEqual({ admin: true });
    expect((await hs.request("PUT", "/_synapse/admin/v1/users/@managed:localhost/admin", { token: t, body: { admin: false } })).status).toBe(200);
    const self = await hs.request<J>("PUT", "/_synapse/admin/v1/users/@admin:localhost/admin", { token: t, body: { admin: false } });
    expect(self.status).toBe(400);

    const list = await hs.request<J>("GET", "/_synapse/admin/v2/users?name=manag&limit=10", { token: t });
    expect(list.json.users.map((x: J) => x.name)).toEqual(["@managed:localhost"]);
    expect(list.json.total).toBe(1);
    const page = await hs.request<J>("GET", "/_synapse/admin/v2/users?limit=1&guests=false", { token: t });
    expect(page.json.users).toHaveLength(1);
    expect(page.json.next_token).toBe("1");
    const nf = await hs.request<J>("GET", "/_synapse/admin/v2/users/@nobody:localhost", { token: t });
    expect(nf.status).toBe(404);
    const remote = await hs.request<J>("GET", "/_synapse/admin/v2/users/@x:elsewhere.org", { token: t });
    expect(remote.status).toBe(400);
  });

  it("locks and unlocks an account (M_USER_LOCKED with soft_logout)", async () => {
    const t = admin.access_token;
    const s = await login(hs, "managed", "managed-pw");
    // Cached by this first use; the lock must still take effect at once.
    expect((await hs.request("GET", "/_matrix/client/v3/account/whoami", { token: s.access_token })).status).toBe(200);
    const lock = await hs.request<J>("PUT", u, { token: t, body: { locked: true } });
    expect(lock.json.locked, JSON.stringify(lock.json)).toBe(true);
    const who = await hs.request<J>("GET", "/_matrix/client/v3/account/whoami", { token: s.access_token });
    expect(who.status).toBe(401);
    expect(who.json).toMatchObject({ errcode: "M_USER_LOCKED", soft_logout: true });
    const l = await hs.request<J>("POST", "/_matrix/client/v3/login", { body: { type: "m.login.password", user: "managed", password: "managed-pw" } });
    expect(l.status).toBe(401);
    expect(l.json.errcode).toBe("M_USER_LOCKED");
    // A locked user may still log out.
    expect((await hs.request("POST", "/_matrix/client/v3/logout", { token: s.access_token, body: {} })).status).toBe(200);
    await hs.request("PUT", u, { token: t, body: { locked: false } });
    await login(hs, "managed", "managed-pw");
  });

  it("resets passwords, logs in as a user, lists and deletes devices, deactivates and reactivates", async () => {
    const t = admin.access_token;
    const s = await login(hs, "managed", "managed-pw");
    expect((await hs.request("POST", "/_synapse/admin/v1/reset_password/@managed:localhost", { token: t, body: { new_password: "reset-1" } })).status).toBe(200);
    expect((await hs.request("GET", "/_matrix/client/v3/account/whoami", { token: s.access_token })).status).toBe(401);
    const s2 = await login(hs, "managed", "reset-1");

    const puppet = await hs.request<J>("POST", "/_synapse/admin/v1/users/@managed:localhost/login", { token: t, body: {} });
    expect(puppet.status).toBe(200);
    const who = await hs.request<J>("GET", "/_matrix/client/v3/account/whoami", { token: puppet.json.access_token });
    expect(who.json).toEqual({ user_id: "@managed:localhost", is_guest: false });

    const devs = await hs.request<J>("GET", "/_synapse/admin/v2/users/@managed:localhost/devices", { token: t });
    expect(devs.json.devices.map((d: J) => d.device_id)).toEqual([s2.device_id]);
    expect((await hs.request("DELETE", `/_synapse/admin/v2/users/@managed:localhost/devices/${s2.device_id}`, { token: t })).status).toBe(200);
    expect((await hs.request("GET", "/_matrix/client/v3/account/whoami", { token: s2.access_token })).status).toBe(401);

    const whois = await hs.request<J>("GET", "/_synapse/admin/v1/whois/@managed:localhost", { token: t });
    expect(whois.json.user_id).toBe("@managed:localhost");

    const d = await hs.request<J>("POST", "/_synapse/admin/v1/deactivate/@managed:localhost", { token: t, body: { erase: false } });
    expect(d.json).toEqual({ id_server_unbind_result: "success" });
    expect((await hs.request("POST", "/_matrix/client/v3/login", { body: { type: "m.login.password", user: "managed", password: "reset-1" } })).status).toBe(403);
    const noPw = await hs.request<J>("PUT", u, { token: t, body: { deactivated: false } });
    expect(noPw.status).toBe(400);
    expect(noPw.json.errcode).toBe("M_MISSING_PARAM");
    const back = await hs.request<J>("PUT", u, { token: t, body: { deactivated: false, password: "back-again" } });
    expect(back.json.deactivated).toBe(false);
    await login(hs, "managed", "back-again");
  });

  it("refuses non-admins", async () => {
    const plain = await login(hs, "plain", "plain-pass");
    for (const [method, path] of [
      ["GET", "/_synapse/admin/v2/users"],
      ["GET", u],
      ["POST", "/_synapse/admin/v1/deactivate/@managed:localhost"],
      ["POST", "/_synapse/admin/v1/users/@managed:localhost/login"],
    ] as const) {
      const r = await hs.request<J>(method, path, { token: plain.access_token, body: method === "POST" ? {} : undefined });
      expect(r.status, path).toBe(403);
      expect(r.json.errcode).toBe("M_FORBIDDEN");
    }
  });
});

describe("account locking and suspension (client-server admin API)", () => {
  it("locks through PUT /v1/admin/lock and suspends through PUT /v1/admin/suspend", async () => {
    const t = admin.access_token;
    const victim = await sharedSecretRegister(hs, SECRET, "moderated", "pw-mod", false);
    const base = "/_matrix/client/v1/admin";
    const refreshable = await login(hs, "moderated", "pw-mod", { refresh_token: true });
    expect((await hs.request<J>("GET", `${base}/lock/@moderated:localhost`, { token: t })).json).toEqual({ locked: false });
    expect((await hs.request<J>("PUT", `${base}/lock/@moderated:localhost`, { token: t, body: { locked: true } })).json).toEqual({ locked: true });
    const who = await hs.request<J>("GET", "/_matrix/client/v3/account/whoami", { token: victim.access_token });
    expect(who.status).toBe(401);
    expect(who.json).toMatchObject({ errcode: "M_USER_LOCKED", soft_logout: true });
    // A locked account cannot get a new access token by refreshing either.
    const refused = await hs.request<J>("POST", "/_matrix/client/v3/refresh", { body: { refresh_token: refreshable.refresh_token } });
    expect(refused.status).toBe(401);
    expect(refused.json).toMatchObject({ errcode: "M_USER_LOCKED", soft_logout: true });
    await hs.request("PUT", `${base}/lock/@moderated:localhost`, { token: t, body: { locked: false } });
    expect((await hs.request("GET", "/_matrix/client/v3/account/whoami", { token: victim.access_token })).status).toBe(200);
    expect((await hs.request("POST", "/_matrix/client/v3/refresh", { body: { refresh_token: refreshable.refresh_token } })).status).toBe(200);

    expect((await hs.request<J>("PUT", `${base}/suspend/@moderated:localhost`, { token: t, body: { suspended: true } })).json).toEqual({ suspended: true });
    expect((await hs.request<J>("GET", `${base}/suspend/@moderated:localhost`, { token: t })).json).toEqual({ suspended: true });
    // Suspended users keep their sessions but may not change their profile.
    expect((await hs.request("GET", "/_matrix/client/v3/account/whoami", { token: victim.access_token })).status).toBe(200);
    const p = await hs.request<J>("PUT", "/_matrix/client/v3/profile/@moderated:localhost/displayname", { token: victim.access_token, body: { displayname: "x" } });
    expect(p.status).toBe(403);
    expect(p.json.errcode).toBe("M_USER_SUSPENDED");
    await hs.request("PUT", `${base}/suspend/@moderated:localhost`, { token: t, body: { suspended: false } });

    const remote = await hs.request<J>("GET", `${base}/lock/@x:elsewhere.org`, { token: t });
    expect(remote.status).toBe(400);
    expect(remote.json.errcode).toBe("M_INVALID_PARAM");
    const missing = await hs.request<J>("GET", `${base}/suspend/@ghost:localhost`, { token: t });
    expect(missing.status).toBe(404);
    expect(missing.json.errcode).toBe("M_NOT_FOUND");
    const notAdmin = await hs.request<J>("PUT", `${base}/lock/@admin:localhost`, { token: victim.access_token, body: { locked: true } });
    expect(notAdmin.status).toBe(403);
    expect(notAdmin.json.errcode).toBe("M_FORBIDDEN");
    const badBody = await hs.request<J>("PUT", `${base}/lock/@moderated:localhost`, { token: t, body: { locked: "yes" } });
    expect(badBody.json.errcode).toBe("M_BAD_JSON");
  });

  it("m.account_moderation appears only for admins", async () => {
    const a = await hs.request<J>("GET", "/_matrix/client/v3/capabilities", { token: admin.access_token });
    expect(a.json.capabilities["m.account_moderation"]).toEqual({ lock: true, suspend: true });
    const plain = await login(hs, "plain", "plain-pass");
    const p = await hs.request<J>("GET", "/_matrix/client/v3/capabilities", { token: plain.access_token });
    expect(p.json.capabilities["m.account_moderation"]).toBeUndefined();
  });
});
