import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { login, registerUser, sharedSecretRegister, type J } from "./accounts-helpers.js";
import { startTestServer, type TestServer } from "./harness.js";

// Roles: server admins give the moderator role through the admin API; a
// moderator may use the moderation endpoints, and nothing else.
let hs: TestServer;
let admin: string;
let mod: string;
let plain: string;

beforeAll(async () => {
  // The OAuth 2.0 API is switched off here (checked below), so this server answers as a legacy-only one.
  hs = await startTestServer({ registration: { enabled: true, shared_secret: "s3cret" }, password_policy: { scrypt_cost: 1024 }, oauth: { enabled: false } });
  await sharedSecretRegister(hs, "s3cret", "root", "root password", true);
  admin = (await login(hs, "root", "root password")).access_token;
  mod = (await registerUser(hs, "mod", "mod password")).access_token;
  plain = (await registerUser(hs, "plain", "plain password")).access_token;
  await registerUser(hs, "target", "target password");
});
afterAll(() => hs?.close());

const roles = (userId: string) => `/_synapse/admin/v1/users/${encodeURIComponent(userId)}/roles`;
const lock = (userId: string) => `/_matrix/client/v1/admin/lock/${encodeURIComponent(userId)}`;

describe("moderator role", () => {
  it("is given and read by server admins only", async () => {
    expect((await hs.request<J>("GET", roles("@mod:localhost"), { token: admin })).json).toEqual({ roles: [] });
    const denied = await hs.request<J>("PUT", roles("@mod:localhost"), { token: plain, body: { roles: ["moderator"] } });
    expect(denied.status).toBe(403);
    expect(denied.json.errcode).toBe("M_FORBIDDEN");
    const bad = await hs.request<J>("PUT", roles("@mod:localhost"), { token: admin, body: { roles: ["overlord"] } });
    expect(bad.status).toBe(400);
    expect(bad.json.errcode).toBe("M_BAD_JSON");
    expect((await hs.request<J>("GET", roles("@mod:localhost"), { token: admin })).json).toEqual({ roles: [] });
    const set = await hs.request<J>("PUT", roles("@mod:localhost"), { token: admin, body: { roles: ["moderator"] } });
    expect(set.json).toEqual({ roles: ["moderator"] });
    expect((await hs.request<J>("GET", roles("@nobody:localhost"), { token: admin })).status).toBe(404);
  });

  it("lets a moderator lock and suspend users and list reports, but not act on admins or give roles", async () => {
    const locked = await hs.request<J>("PUT", lock("@target:localhost"), { token: mod, body: { locked: true } });
    expect(locked.status).toBe(200);
    expect((await hs.request<J>("GET", lock("@target:localhost"), { token: admin })).json).toEqual({ locked: true });
    expect((await hs.request<J>("PUT", lock("@target:localhost"), { token: mod, body: { locked: false } })).status).toBe(200);
    const suspend = await hs.request<J>("PUT", `/_matrix/client/v1/admin/suspend/${encodeURIComponent("@target:localhost")}`, { token: mod, body: { suspended: true } });
    expect(suspend.json).toEqual({ suspended: true });
    expect((await hs.request<J>("GET", "/_synapse/admin/v1/event_reports", { token: mod })).status).toBe(200);
    const onAdmin = await hs.request<J>("PUT", lock("@root:localhost"), { token: mod, body: { locked: true } });
    expect(onAdmin.status).toBe(403);
    expect((await hs.request<J>("GET", lock("@root:localhost"), { token: admin })).json).toEqual({ locked: false });
    expect((await hs.request<J>("PUT", roles("@plain:localhost"), { token: mod, body: { roles: ["moderator"] } })).status).toBe(403);
    expect((await hs.request<J>("GET", "/_synapse/admin/v2/users", { token: mod })).status).toBe(403);
  });

  it("refuses moderation to users without the role", async () => {
    const r = await hs.request<J>("PUT", lock("@target:localhost"), { token: plain, body: { locked: true } });
    expect(r.status).toBe(403);
    expect((await hs.request<J>("GET", "/_synapse/admin/v1/event_reports", { token: plain })).status).toBe(403);
    await hs.request<J>("PUT", roles("@mod:localhost"), { token: admin, body: { roles: [] } });
    expect((await hs.request<J>("PUT", lock("@target:localhost"), { token: mod, body: { locked: true } })).status).toBe(403);
  });
});

describe("oauth.enabled: false", () => {
  it("answers auth_metadata with 404 M_UNRECOGNIZED ('Authentication API discovery') and keeps /login", async () => {
    const r = await hs.request<J>("GET", "/_matrix/client/v1/auth_metadata");
    expect(r.status).toBe(404);
    expect(r.json.errcode).toBe("M_UNRECOGNIZED");
    expect((await hs.request<J>("GET", "/oauth2/login")).status).toBe(404);
    expect((await hs.request<J>("GET", "/_matrix/client/v3/login")).status).toBe(200);
  });
});
