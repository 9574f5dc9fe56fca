import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "./harness.js";

let hs: TestServer;
beforeAll(async () => {
  hs = await startTestServer({
    registration: { enabled: true },
    password_policy: { scrypt_cost: 1024 },
    rate_limits: {
      enabled: true,
      login_per_ip: { per_second: 10, burst: 100 },
      login_per_account: { per_second: 10, burst: 100 },
      failed_logins_per_account: { per_second: 0.01, burst: 2 },
      registration_per_ip: { per_second: 10, burst: 100 },
    },
  });
});
afterAll(() => hs?.close());

type J = Record<string, any>;

async function register(username: string, password = "pass-word-1", extra: J = {}) {
  const first = await hs.request<J>("POST", "/_matrix/client/v3/register", { body: { username, password, ...extra } });
  expect(first.status).toBe(401);
  const r = await hs.request<J>("POST", "/_matrix/client/v3/register", {
    body: { username, password, ...extra, auth: { type: "m.login.dummy", session: first.json.session } },
  });
  return r;
}

describe("registration with m.login.dummy", () => {
  it("401 challenge carries flows and a session and no errcode", async () => {
    const r = await hs.request<J>("POST", "/_matrix/client/v3/register", { body: {} });
    expect(r.status).toBe(401);
    expect(r.json.flows).toEqual([{ stages: ["m.login.dummy"] }]);
    expect(typeof r.json.session).toBe("string");
    expect(r.json.errcode).toBeUndefined();
  });

  it("completes and logs in", async () => {
    const r = await register("alice", "pass-word-1", { initial_device_display_name: "Alice's phone" });
    expect(r.status).toBe(200);
    expect(r.json.user_id).toBe("@alice:localhost");
    expect(typeof r.json.access_token).toBe("string");
    expect(typeof r.json.device_id).toBe("string");
    const who = await hs.request<J>("GET", "/_matrix/client/v3/account/whoami", { token: r.json.access_token });
    expect(who.status).toBe(200);
    expect(who.json).toEqual({ user_id: "@alice:localhost", device_id: r.json.device_id, is_guest: false });
  });

  it("rejects a taken username with M_USER_IN_USE", async () => {
    const r = await hs.request<J>("POST", "/_matrix/client/v3/register", { body: { username: "alice", password: "x" } });
    expect(r.status).toBe(400);
    expect(r.json.errcode).toBe("M_USER_IN_USE");
  });

  it("rejects invalid usernames with M_INVALID_USERNAME", async () => {
    for (const username of ["bad name", "ümlaut", "1234", "a:b", ""]) {
      const r = await hs.request<J>("POST", "/_matrix/client/v3/register", { body: { username, password: "x" } });
      expect(r.status, username).toBe(400);
      expect(r.json.errcode, username).toBe("M_INVALID_USERNAME");
    }
  });

  it("inhibit_login returns no token", async () => {
    const r = await register("bob", "pw", { inhibit_login: true });
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ user_id: "@bob:localhost", home_server: "localhost" });
  });
});

describe("login", () => {
  it("GET /login lists flows", async () => {
    const r = await hs.request<J>("GET", "/_matrix/client/v3/login");
    expect(r.status).toBe(200);
    expect(r.json.flows.map((f: J) => f.type)).toContain("m.login.password");
  });

  it("logs in by localpart, user id and identifier; wrong password is 403 M_FORBIDDEN", async () => {
    for (const body of [
      { type: "m.login.password", user: "alice", password: "pass-word-1" },
      { type: "m.login.password", identifier: { type: "m.id.user", user: "@alice:localhost" }, password: "pass-word-1" },
      { type: "m.login.password", identifier: { type: "m.id.user", user: "ALICE" }, password: "pass-word-1" },
    ]) {
      const r = await hs.request<J>("POST", "/_matrix/client/v3/login", { body });
      expect(r.status).toBe(200);
      expect(r.json.user_id).toBe("@alice:localhost");
    }
    const bad = await hs.request<J>("POST", "/_matrix/client/v3/login", { body: { type: "m.login.password", user: "alice", password: "nope" } });
    expect(bad.status).toBe(403);
    expect(bad.json.errcode).toBe("M_FORBIDDEN");
  });

  it("unknown login type is M_UNKNOWN", async () => {
    const r = await hs.request<J>("POST", "/_matrix/client/v3/login", { body: { type: "m.login.magic" } });
    expect(r.status).toBe(400);
    expect(r.json.errcode).toBe("M_UNKNOWN");
  });

  it("logout revokes the token", async () => {
    const r = await hs.request<J>("POST", "/_matrix/client/v3/login", { body: { type: "m.login.password", user: "alice", password: "pass-word-1" } });
    const token = r.json.access_token;
    expect((await hs.request("POST", "/_matrix/client/v3/logout", { token, body: {} })).status).toBe(200);
    const who = await hs.request<J>("GET", "/_matrix/client/v3/account/whoami", { token });
    expect(who.status).toBe(401);
    expect(who.json.errcode).toBe("M_UNKNOWN_TOKEN");
    expect(who.json.soft_logout).toBe(false);
  });

  it("the deprecated access_token query parameter works when allowed", async () => {
    const r = await hs.request<J>("POST", "/_matrix/client/v3/login", { body: { type: "m.login.password", user: "alice", password: "pass-word-1" } });
    const who = await hs.request<J>("GET", `/_matrix/client/v3/account/whoami?access_token=${encodeURIComponent(r.json.access_token)}`);
    expect(who.status).toBe(200);
    expect(who.json.user_id).toBe("@alice:localhost");
  });

  it("missing token is M_MISSING_TOKEN", async () => {
    const who = await hs.request<J>("GET", "/_matrix/client/v3/account/whoami");
    expect(who.status).toBe(401);
    expect(who.json.errcode).toBe("M_MISSING_TOKEN");
  });
});

describe("bad login input", () => {
  const cases: Array<[string, unknown, number, string]> = [
    ["missing type", { user: "alice", password: "x" }, 400, "M_BAD_JSON"],
    ["type not a string", { type: 1 }, 400, "M_BAD_JSON"],
    ["password not a string", { type: "m.login.password", user: "alice", password: 5 }, 400, "M_BAD_JSON"],
    ["missing password", { type: "m.login.password", user: "alice" }, 400, "M_BAD_JSON"],
    ["missing identifier", { type: "m.login.password", password: "x" }, 400, "M_MISSING_PARAM"],
    ["identifier not an object", { type: "m.login.password", identifier: "alice", password: "x" }, 400, "M_BAD_JSON"],
    ["identifier without type", { type: "m.login.password", identifier: { user: "alice" }, password: "x" }, 400, "M_MISSING_PARAM"],
    ["unknown identifier type", { type: "m.login.password", identifier: { type: "m.id.carrier_pigeon" }, password: "x" }, 400, "M_UNKNOWN"],
    ["user not a string", { type: "m.login.password", identifier: { type: "m.id.user", user: 7 }, password: "x" }, 400, "M_BAD_JSON"],
    ["overlong device name", { type: "m.login.password", user: "alice", password: "pass-word-1", initial_device_display_name: "d".repeat(101) }, 400, "M_TOO_LARGE"],
    ["overlong device id", { type: "m.login.password", user: "alice", password: "pass-word-1", device_id: "D".repeat(256) }, 400, "M_INVALID_PARAM"],
    ["refresh_token not a boolean", { type: "m.login.password", user: "alice", password: "x", refresh_token: "yes" }, 400, "M_BAD_JSON"],
    ["unknown user", { type: "m.login.password", user: "nobody", password: "x" }, 403, "M_FORBIDDEN"],
    ["user of another server", { type: "m.login.password", user: "@alice:elsewhere.example", password: "pass-word-1" }, 403, "M_FORBIDDEN"],
    ["missing login token", { type: "m.login.token" }, 400, "M_BAD_JSON"],
    ["unknown login token", { type: "m.login.token", token: "nope" }, 403, "M_FORBIDDEN"],
  ];
  for (const [name, body, status, errcode] of cases) {
    it(`${name} -> ${status} ${errcode}`, async () => {
      const r = await hs.request<J>("POST", "/_matrix/client/v3/login", { body });
      expect(r.status).toBe(status);
      expect(r.json.errcode).toBe(errcode);
    });
  }

  it("non-JSON and non-object bodies", async () => {
    const a = await hs.request<J>("POST", "/_matrix/client/v3/login", { rawBody: "not json" });
    expect(a.status).toBe(400);
    expect(a.json.errcode).toBe("M_NOT_JSON");
    const b = await hs.request<J>("POST", "/_matrix/client/v3/login", { body: ["m.login.password"] });
    expect(b.status).toBe(400);
    expect(b.json.errcode).toBe("M_BAD_JSON");
  });

  it("an application-service login without an appservice token is refused", async () => {
    const r = await hs.request<J>("POST", "/_matrix/client/v3/login", { body: { type: "m.login.application_service", identifier: { type: "m.id.user", user: "alice" } } });
    expect(r.status).toBe(401);
    expect(r.json.errcode).toBe("M_MISSING_TOKEN");
  });
});

describe("bad registration input", () => {
  const cases: Array<[string, unknown, number, string]> = [
    ["username not a string", { username: 5, password: "x" }, 400, "M_BAD_JSON"],
    ["password not a string", { username: "carol", password: ["x"] }, 400, "M_BAD_JSON"],
    ["overlong password", { username: "carol", password: "p".repeat(513) }, 400, "M_INVALID_PARAM"],
    ["overlong username", { username: "u".repeat(250), password: "x" }, 400, "M_INVALID_USERNAME"],
    ["reserved underscore", { username: "_bridge", password: "x" }, 400, "M_INVALID_USERNAME"],
    ["auth not an object", { username: "carol", password: "x", auth: "dummy" }, 400, "M_BAD_JSON"],
    ["unknown session", { username: "carol", password: "x", auth: { type: "m.login.dummy", session: "nope" } }, 400, "M_UNKNOWN"],
    ["overlong device name", { username: "carol", password: "x", initial_device_display_name: "d".repeat(101) }, 400, "M_TOO_LARGE"],
    ["overlong device id", { username: "carol", password: "x", device_id: "D".repeat(256) }, 400, "M_INVALID_PARAM"],
    ["inhibit_login not a boolean", { username: "carol", password: "x", inhibit_login: "yes" }, 400, "M_BAD_JSON"],
  ];
  for (const [name, body, status, errcode] of cases) {
    it(`${name} -> ${status} ${errcode}`, async () => {
      const r = await hs.request<J>("POST", "/_matrix/client/v3/register", { body });
      expect(r.status).toBe(status);
      expect(r.json.errcode).toBe(errcode);
    });
  }

  it("completing the stages without a password is M_MISSING_PARAM", async () => {
    const c = await hs.request<J>("POST", "/_matrix/client/v3/register", { body: { username: "nopass" } });
    const r = await hs.request<J>("POST", "/_matrix/client/v3/register", { body: { username: "nopass", auth: { type: "m.login.dummy", session: c.json.session } } });
    expect(r.status).toBe(400);
    expect(r.json.errcode).toBe("M_MISSING_PARAM");
  });

  it("username availability", async () => {
    const free = await hs.request<J>("GET", "/_matrix/client/v3/register/available?username=someone-new");
    expect(free.json).toEqual({ available: true });
    const taken = await hs.request<J>("GET", "/_matrix/client/v3/register/available?username=alice");
    expect(taken.status).toBe(400);
    expect(taken.json.errcode).toBe("M_USER_IN_USE");
    const bad = await hs.request<J>("GET", "/_matrix/client/v3/register/available?username=Not%20Valid");
    expect(bad.json.errcode).toBe("M_INVALID_USERNAME");
    const missing = await hs.request<J>("GET", "/_matrix/client/v3/register/available");
    expect(missing.status).toBe(400);
    expect(missing.json.errcode).toBe("M_MISSING_PARAM");
  });

  it("a username without one is generated by the server", async () => {
    const c = await hs.request<J>("POST", "/_matrix/client/v3/register", { body: { password: "pw" } });
    const r = await hs.request<J>("POST", "/_matrix/client/v3/register", { body: { password: "pw", auth: { type: "m.login.dummy", session: c.json.session } } });
    expect(r.status).toBe(200);
    expect(r.json.user_id).toMatch(/^@u[a-z0-9]{11}:localhost$/);
  });

  it("upper-case usernames are lower-cased at registration", async () => {
    const c = await hs.request<J>("POST", "/_matrix/client/v3/register", { body: { username: "MixedCase", password: "pw" } });
    const r = await hs.request<J>("POST", "/_matrix/client/v3/register", { body: { username: "MixedCase", password: "pw", auth: { type: "m.login.dummy", session: c.json.session } } });
    expect(r.json.user_id).toBe("@mixedcase:localhost");
  });
});

describe("rate limits", () => {
  it("repeated wrong passwords for one account get 429 M_LIMIT_EXCEEDED with retry_after_ms", async () => {
    await register("limited", "right-password");
    const bad = { type: "m.login.password", user: "limited", password: "wrong" };
    expect((await hs.request("POST", "/_matrix/client/v3/login", { body: bad })).status).toBe(403);
    expect((await hs.request("POST", "/_matrix/client/v3/login", { body: bad })).status).toBe(403);
    const r = await hs.request<J>("POST", "/_matrix/client/v3/login", { body: { ...bad, password: "right-password" } });
    expect(r.status).toBe(429);
    expect(r.json.errcode).toBe("M_LIMIT_EXCEEDED");
    expect(r.json.retry_after_ms).toBeGreaterThan(0);
    expect(r.headers.get("retry-after")).toMatch(/^\d+$/);
  });
});
