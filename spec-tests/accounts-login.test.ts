import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "./harness.js";

let hs: TestServer;
beforeAll(async () => {
  hs = await startTestServer({ registration: { enabled: true }, password_policy: { scrypt_cost: 1024 } });
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

  it("missing token is M_MISSING_TOKEN", async () => {
    const who = await hs.request<J>("GET", "/_matrix/client/v3/account/whoami");
    expect(who.status).toBe(401);
    expect(who.json.errcode).toBe("M_MISSING_TOKEN");
  });
});
