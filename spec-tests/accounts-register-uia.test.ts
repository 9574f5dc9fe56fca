import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { J } from "./accounts-helpers.js";
import { startTestServer, type TestServer } from "./harness.js";

// "User-interactive authentication" for POST /register across its steps: the
// session remembers the first request, and a repeat after success answers alike.
let hs: TestServer;
const register = (body: J) => hs.request<J>("POST", "/_matrix/client/v3/register", { body });
const login = (user: string, password: string) =>
  hs.request<J>("POST", "/_matrix/client/v3/login", { body: { type: "m.login.password", identifier: { type: "m.id.user", user }, password } });

async function start(body: J): Promise<string> {
  const r = await register(body);
  expect(r.status).toBe(401);
  expect(typeof r.json.session).toBe("string");
  return r.json.session as string;
}

beforeAll(async () => {
  hs = await startTestServer({ registration: { enabled: true }, password_policy: { scrypt_cost: 1024 } });
}, 60_000);
afterAll(() => hs?.close());

describe("POST /register across UIA steps", () => {
  it("a repeat of the completed request answers for the same user, with and without a username", async () => {
    const session = await start({ password: "sUp3rs3kr1t" });
    const first = await register({ password: "sUp3rs3kr1t", auth: { session, type: "m.login.dummy" } });
    expect(first.status, JSON.stringify(first.json)).toBe(200);
    const again = await register({ password: "sUp3rs3kr1t", auth: { session, type: "m.login.dummy" } });
    expect(again.status).toBe(200);
    expect(again.json.user_id).toBe(first.json.user_id);
    expect(typeof again.json.access_token).toBe("string");

    const named = await start({ username: "idem", password: "sUp3rs3kr1t" });
    const a = await register({ username: "idem", password: "sUp3rs3kr1t", auth: { session: named, type: "m.login.dummy" } });
    const b = await register({ username: "idem", password: "sUp3rs3kr1t", auth: { session: named, type: "m.login.dummy" } });
    expect([a.status, b.status]).toEqual([200, 200]);
    expect(b.json.user_id).toBe("@idem:localhost");
    // A fresh session for the same name is refused: the account exists.
    const other = await register({ username: "idem", password: "sUp3rs3kr1t" });
    expect([other.status, other.json.errcode]).toEqual([400, "M_USER_IN_USE"]);
  });

  it("remembers username, password, device and display name of the first step", async () => {
    const session = await start({ username: "remember", password: "sUp3rs3kr1t", device_id: "xyzzy", initial_device_display_name: "display_name" });
    const r = await register({ auth: { session, type: "m.login.dummy" } });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    expect(r.json.user_id).toBe("@remember:localhost");
    expect(r.json.device_id).toBe("xyzzy");
    const device = await hs.request<J>("GET", "/_matrix/client/v3/devices/xyzzy", { token: r.json.access_token });
    expect(device.json.display_name).toBe("display_name");
    expect((await login("remember", "sUp3rs3kr1t")).status).toBe(200);
    expect((await login("remember", "wrong")).status).toBe(403);
  });

  it("accepts non-ASCII passwords and remembers inhibit_login", async () => {
    const s1 = await start({ username: "uebers", password: "übers3kr1t" });
    expect((await register({ auth: { session: s1, type: "m.login.dummy" } })).status).toBe(200);
    expect((await login("uebers", "übers3kr1t")).status).toBe(200);

    const s2 = await start({ username: "inhibited", password: "sUp3rs3kr1t", inhibit_login: true });
    const r = await register({ auth: { session: s2, type: "m.login.dummy" } });
    expect(r.status).toBe(200);
    expect(r.json.user_id).toBe("@inhibited:localhost");
    expect(r.json).not.toHaveProperty("access_token");
    expect(r.json).not.toHaveProperty("device_id");
  });

  it("still needs a password from some step, and keeps refusing bad input", async () => {
    const session = await start({ username: "nopass" });
    const r = await register({ auth: { session, type: "m.login.dummy" } });
    expect([r.status, r.json.errcode]).toEqual([400, "M_MISSING_PARAM"]);
    expect((await hs.request("GET", "/_matrix/client/v3/register/available?username=nopass")).json.available).toBe(true);
    const bad = await register({ username: "bad name!", password: "sUp3rs3kr1t" });
    expect([bad.status, bad.json.errcode]).toEqual([400, "M_INVALID_USERNAME"]);
  });
});
