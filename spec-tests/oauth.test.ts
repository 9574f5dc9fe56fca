import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { registerUser } from "./accounts-helpers.js";
import { crossSigningKey, ed25519Key } from "./e2ee-helpers.js";
import { startTestServer, type TestServer } from "./harness.js";
import {
  authorizeInBrowser,
  authorizeUrl,
  callbackParams,
  FormBrowser,
  hidden,
  pkcePair,
  postForm,
  REDIRECT_URI,
  registerClient,
  type J,
} from "./oauth-helpers.js";

// Client-server API "OAuth 2.0 API", over raw HTTP and plain HTML forms.
const CODE_LIFETIME_MS = 3000;
let hs: TestServer;
let client: J;

beforeAll(async () => {
  hs = await startTestServer({
    registration: { enabled: true },
    password_policy: { scrypt_cost: 1024 },
    // Generous limits for the many sign-ins here; a tight failed-login lockout to test it.
    rate_limits: {
      enabled: true,
      login_per_ip: { per_second: 100, burst: 1000 },
      login_per_account: { per_second: 100, burst: 1000 },
      registration_per_ip: { per_second: 100, burst: 1000 },
      failed_logins_per_account: { per_second: 0.001, burst: 3 },
    },
    oauth: { authorization_code_lifetime_ms: CODE_LIFETIME_MS },
  });
  await registerUser(hs, "alice", "alice password");
  await registerUser(hs, "bob", "bob password");
  client = await registerClient(hs);
});
afterAll(() => hs?.close());

/** Runs the authorisation code flow up to the callback; returns the code and verifier. */
async function getCode(o: { deviceId?: string; user?: string; password?: string; browser?: FormBrowser } = {}) {
  const { verifier, challenge } = pkcePair();
  const b = o.browser ?? new FormBrowser(hs.url);
  const cb = await authorizeInBrowser(b, authorizeUrl(client.client_id, challenge, { deviceId: o.deviceId }), o.user ?? "alice", o.password ?? "alice password");
  expect(`${cb.origin}${cb.pathname}`).toBe(REDIRECT_URI);
  const params = callbackParams(cb);
  expect(params.get("state")).toBe("state123");
  return { code: params.get("code")!, verifier, browser: b };
}

const exchange = (code: string, verifier: string, extra: Record<string, string> = {}) =>
  postForm(hs, "/oauth2/token", { grant_type: "authorization_code", code, redirect_uri: REDIRECT_URI, client_id: client.client_id, code_verifier: verifier, ...extra });

describe("server metadata discovery", () => {
  it("GET /_matrix/client/v1/auth_metadata has what the spec requires", async () => {
    const r = await hs.request<J>("GET", "/_matrix/client/v1/auth_metadata");
    expect(r.status).toBe(200);
    const m = r.json;
    for (const k of ["issuer", "authorization_endpoint", "token_endpoint", "revocation_endpoint", "registration_endpoint"]) expect(typeof m[k]).toBe("string");
    expect(m.response_types_supported).toContain("code");
    expect(m.grant_types_supported).toEqual(expect.arrayContaining(["authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:device_code"]));
    expect(m.response_modes_supported).toEqual(expect.arrayContaining(["query", "fragment"]));
    expect(m.code_challenge_methods_supported).toEqual(["S256"]);
    expect(m.prompt_values_supported).toEqual(["create"]);
    expect(m.account_management_uri).toBe(`${hs.url}/account/`);
    expect(m.issuer).toBe(`${hs.url}/`);
    const oidc = await hs.request<J>("GET", "/.well-known/openid-configuration");
    expect(oidc.json).toEqual(m);
    const jwks = await hs.request<J>("GET", "/oauth2/keys.json");
    expect(jwks.json.keys[0]).toMatchObject({ kty: "RSA", alg: "RS256", use: "sig" });
    expect(jwks.json.keys[0].d).toBeUndefined();
  });
});

describe("dynamic client registration", () => {
  it("returns 201 with the client_id and the registered metadata", () => {
    expect(typeof client.client_id).toBe("string");
    expect(client.redirect_uris).toEqual([REDIRECT_URI]);
    expect(client.token_endpoint_auth_method).toBe("none");
  });

  it.each([
    [{ redirect_uris: ["https://evil.org/cb"] }, "invalid_redirect_uri"],
    [{ redirect_uris: ["http://app.example.com/cb"] }, "invalid_redirect_uri"],
    [{ redirect_uris: ["https://app.example.com/cb#frag"] }, "invalid_redirect_uri"],
    [{ client_uri: "http://example.com/" }, "invalid_client_metadata"],
    [{ client_uri: undefined }, "invalid_client_metadata"],
    [{ token_endpoint_auth_method: "client_secret_basic" }, "invalid_client_metadata"],
  ])("refuses %j with %s", async (patch, error) => {
    const r = await hs.request<J>("POST", "/oauth2/register", {
      body: { client_uri: "https://example.com/", redirect_uris: ["https://app.example.com/cb"], ...patch },
    });
    expect(r.status).toBe(400);
    expect(r.json.error).toBe(error);
    expect(typeof r.json.error_description).toBe("string");
  });

  it("accepts native clients with private-use and loopback redirect URIs", async () => {
    const r = await hs.request<J>("POST", "/oauth2/register", {
      body: { client_uri: "https://example.com/", application_type: "native", redirect_uris: ["com.example.app:/callback", "http://127.0.0.1/cb"] },
    });
    expect(r.status).toBe(201);
    expect(r.json.application_type).toBe("native");
  });
});

describe("authorisation code grant", () => {
  it("logs in through the pages, and the tokens work on the client-server API", async () => {
    const { code, verifier } = await getCode({ deviceId: "CODEDEV001" });
    const t = await exchange(code, verifier);
    expect(t.status).toBe(200);
    expect(t.headers.get("cache-control")).toBe("no-store");
    expect(t.json).toMatchObject({ token_type: "Bearer", scope: "urn:matrix:client:api:* urn:matrix:client:device:CODEDEV001" });
    expect(t.json.expires_in).toBeGreaterThan(0);
    expect(typeof t.json.refresh_token).toBe("string");
    expect(t.json.id_token).toBeUndefined();
    const who = await hs.request<J>("GET", "/_matrix/client/v3/account/whoami", { token: t.json.access_token });
    expect(who.json).toMatchObject({ user_id: "@alice:localhost", device_id: "CODEDEV001" });
    const room = await hs.request<J>("POST", "/_matrix/client/v3/createRoom", { token: t.json.access_token, body: {} });
    expect(room.status).toBe(200);
    const sent = await hs.request<J>("PUT", `/_matrix/client/v3/rooms/${encodeURIComponent(room.json.room_id)}/send/m.room.message/t1`, {
      token: t.json.access_token,
      body: { msgtype: "m.text", body: "hello" },
    });
    expect(sent.status).toBe(200);
    const devices = await hs.request<J>("GET", "/_matrix/client/v3/devices", { token: t.json.access_token });
    expect(devices.json.devices.find((d: J) => d.device_id === "CODEDEV001")?.display_name).toBe("Test client");
  });

  it("answers a query response_mode in the query and an unknown client with an error page, not a redirect", async () => {
    const { challenge } = pkcePair();
    const b = new FormBrowser(hs.url);
    const cb = await authorizeInBrowser(b, authorizeUrl(client.client_id, challenge, { mode: "query" }), "alice", "alice password");
    expect(cb.hash).toBe("");
    expect(cb.searchParams.get("code")).toBeTruthy();
    const unknown = await b.go("GET", authorizeUrl("nope", challenge));
    expect(unknown.status).toBe(400);
    expect(unknown.location).toBeNull();
  });

  it("serves a native client on a loopback redirect URI with any port, and on its private-use scheme", async () => {
    const native = await registerClient(hs, {
      client_uri: "https://element.io/",
      application_type: "native",
      redirect_uris: ["http://127.0.0.1/callback", "io.element.app:/callback"],
    });
    const b = new FormBrowser(hs.url);
    for (const redirectUri of ["http://127.0.0.1:51234/callback", "io.element.app:/callback"]) {
      const { verifier, challenge } = pkcePair();
      const cb = await authorizeInBrowser(b, authorizeUrl(native.client_id, challenge, { redirectUri, mode: "query", deviceId: "NATIVEDEV1" }), "alice", "alice password");
      expect(cb.toString().startsWith(`${redirectUri}?`)).toBe(true);
      const t = await postForm(hs, "/oauth2/token", {
        grant_type: "authorization_code",
        code: cb.searchParams.get("code")!,
        redirect_uri: redirectUri,
        client_id: native.client_id,
        code_verifier: verifier,
      });
      expect(t.status).toBe(200);
    }
    const other = await b.go("GET", authorizeUrl(native.client_id, pkcePair().challenge, { redirectUri: "http://127.0.0.1:51234/elsewhere" }));
    expect(other.status).toBe(400);
  });

  it("refuses a foreign redirect URI without redirecting to it", async () => {
    const { challenge } = pkcePair();
    const b = new FormBrowser(hs.url);
    const r = await b.go("GET", authorizeUrl(client.client_id, challenge, { redirectUri: "https://evil.org/callback" }));
    expect(r.status).toBe(400);
    expect(r.location).toBeNull();
    expect(r.text).toContain("redirect");
  });

  it("sends request errors back to the client: missing PKCE, plain PKCE, bad scope", async () => {
    const b = new FormBrowser(hs.url);
    const noPkce = authorizeUrl(client.client_id, "x").replace(/&code_challenge=[^&]*&code_challenge_method=S256/, "");
    let r = await b.go("GET", noPkce);
    expect(r.status).toBe(303);
    let p = callbackParams(new URL(r.location!));
    expect(p.get("error")).toBe("invalid_request");
    expect(p.get("state")).toBe("state123");
    r = await b.go("GET", authorizeUrl(client.client_id, pkcePair().challenge).replace("S256", "plain"));
    expect(callbackParams(new URL(r.location!)).get("error")).toBe("invalid_request");
    r = await b.go("GET", authorizeUrl(client.client_id, pkcePair().challenge, { scope: "urn:matrix:client:api:*" }));
    p = callbackParams(new URL(r.location!));
    expect(p.get("error")).toBe("invalid_scope");
  });

  it("redirects with access_denied when the user denies", async () => {
    const b = new FormBrowser(hs.url);
    await getCode({ browser: b, deviceId: "DENYDEV001" });
    const page = await b.go("GET", authorizeUrl(client.client_id, pkcePair().challenge, { deviceId: "DENYDEV002" }));
    expect(page.status).toBe(200);
    const deny = await b.go("POST", "/oauth2/consent", { csrf: hidden(page.text, "csrf"), q: hidden(page.text, "q"), action: "deny" });
    expect(callbackParams(new URL(deny.location!)).get("error")).toBe("access_denied");
  });

  it("refuses a consent form without the CSRF token", async () => {
    const b = new FormBrowser(hs.url);
    const { challenge } = pkcePair();
    await getCode({ browser: b });
    const page = await b.go("GET", authorizeUrl(client.client_id, challenge, { deviceId: "CSRFDEV001" }));
    const forged = await b.go("POST", "/oauth2/consent", { csrf: "x".repeat(32), q: hidden(page.text, "q"), action: "allow" });
    expect(forged.status).toBe(403);
    expect(forged.location).toBeNull();
  });

  it("refuses a wrong PKCE verifier", async () => {
    const { code } = await getCode({ deviceId: "PKCEDEV001" });
    const t = await exchange(code, pkcePair().verifier);
    expect(t.status).toBe(400);
    expect(t.json.error).toBe("invalid_grant");
  });

  it("refuses a replayed code and revokes what the first exchange issued", async () => {
    const { code, verifier } = await getCode({ deviceId: "REPLAYDEV1" });
    const first = await exchange(code, verifier);
    expect(first.status).toBe(200);
    const again = await exchange(code, verifier);
    expect(again.status).toBe(400);
    expect(again.json.error).toBe("invalid_grant");
    const who = await hs.request<J>("GET", "/_matrix/client/v3/account/whoami", { token: first.json.access_token });
    expect(who.status).toBe(401);
  });

  it("lets only one of two concurrent exchanges of a code succeed", async () => {
    const { code, verifier } = await getCode({ deviceId: "RACEDEV001" });
    const results = await Promise.all([exchange(code, verifier), exchange(code, verifier)]);
    expect(results.map((r) => r.status).sort()).toEqual([200, 400]);
  });

  it("refuses a code for another client, another redirect URI, and an expired code", async () => {
    const other = await registerClient(hs);
    const a = await getCode({ deviceId: "OTHERDEV01" });
    expect((await exchange(a.code, a.verifier, { client_id: other.client_id })).json.error).toBe("invalid_grant");
    const b = await getCode({ deviceId: "OTHERDEV02" });
    expect((await exchange(b.code, b.verifier, { redirect_uri: "https://app.example.com/other" })).json.error).toBe("invalid_grant");
    const c = await getCode({ deviceId: "EXPIREDEV1" });
    await new Promise((r) => setTimeout(r, CODE_LIFETIME_MS + 100));
    const t = await exchange(c.code, c.verifier);
    expect(t.status).toBe(400);
    expect(t.json.error).toBe("invalid_grant");
    expect(t.json.error_description).toMatch(/expired/);
  });

  it("answers malformed token requests with OAuth errors", async () => {
    expect((await postForm(hs, "/oauth2/token", { grant_type: "password", client_id: client.client_id })).json.error).toBe("unsupported_grant_type");
    expect((await postForm(hs, "/oauth2/token", { grant_type: "authorization_code", client_id: client.client_id })).json.error).toBe("invalid_request");
    const unknown = await postForm(hs, "/oauth2/token", { grant_type: "authorization_code", client_id: "nope", code: "x", redirect_uri: REDIRECT_URI, code_verifier: "y" });
    expect(unknown.status).toBe(401);
    expect(unknown.json.error).toBe("invalid_client");
    const json = await hs.request<J>("POST", "/oauth2/token", { body: { grant_type: "authorization_code" } });
    expect(json.status).toBe(400);
    expect(json.json.error).toBe("invalid_request");
  });
});

describe("refresh token grant and revocation", () => {
  it("rotates tokens; the old refresh token is refused once the new pair is used", async () => {
    const { code, verifier } = await getCode({ deviceId: "REFRESHDV1" });
    const t = (await exchange(code, verifier)).json;
    const r1 = await postForm(hs, "/oauth2/token", { grant_type: "refresh_token", refresh_token: t.refresh_token, client_id: client.client_id });
    expect(r1.status).toBe(200);
    expect(r1.json.refresh_token).not.toBe(t.refresh_token);
    expect(r1.json.access_token).not.toBe(t.access_token);
    expect(r1.json.scope).toBe(t.scope);
    const who = await hs.request<J>("GET", "/_matrix/client/v3/account/whoami", { token: r1.json.access_token });
    expect(who.json.device_id).toBe("REFRESHDV1");
    const old = await postForm(hs, "/oauth2/token", { grant_type: "refresh_token", refresh_token: t.refresh_token, client_id: client.client_id });
    expect(old.status).toBe(400);
    expect(old.json.error).toBe("invalid_grant");
    const oldAccess = await hs.request<J>("GET", "/_matrix/client/v3/account/whoami", { token: t.access_token });
    expect(oldAccess.status).toBe(401);
    // The replay of the rotated-away token counted as a compromise: the session is gone.
    const afterReplay = await hs.request<J>("GET", "/_matrix/client/v3/account/whoami", { token: r1.json.access_token });
    expect(afterReplay.status).toBe(401);
  });

  it("lets a lost refresh response be retried, and refuses a refresh token of another client", async () => {
    const { code, verifier } = await getCode({ deviceId: "REFRESHDV2" });
    const t = (await exchange(code, verifier)).json;
    const refresh = (clientId: string, token: string) =>
      postForm(hs, "/oauth2/token", { grant_type: "refresh_token", refresh_token: token, client_id: clientId });
    const lost = await refresh(client.client_id, t.refresh_token);
    expect(lost.status).toBe(200);
    // That response never reached the client: it retries with the old token.
    const retry = await refresh(client.client_id, t.refresh_token);
    expect(retry.status).toBe(200);
    expect((await refresh(client.client_id, lost.json.refresh_token)).json.error).toBe("invalid_grant");
    const other = await registerClient(hs);
    expect((await refresh(other.client_id, retry.json.refresh_token)).json.error).toBe("invalid_grant");
    const who = await hs.request<J>("GET", "/_matrix/client/v3/account/whoami", { token: retry.json.access_token });
    expect(who.json.device_id).toBe("REFRESHDV2");
  });

  it("revoking the access token signs the device out; unknown tokens are fine", async () => {
    const { code, verifier } = await getCode({ deviceId: "REVOKEDEV1" });
    const t = (await exchange(code, verifier)).json;
    const rv = await postForm(hs, "/oauth2/revoke", { token: t.access_token, token_type_hint: "access_token", client_id: client.client_id });
    expect(rv.status).toBe(200);
    expect((await hs.request<J>("GET", "/_matrix/client/v3/account/whoami", { token: t.access_token })).status).toBe(401);
    const refresh = await postForm(hs, "/oauth2/token", { grant_type: "refresh_token", refresh_token: t.refresh_token, client_id: client.client_id });
    expect(refresh.json.error).toBe("invalid_grant");
    const login = await hs.request<J>("POST", "/_matrix/client/v3/login", {
      body: { type: "m.login.password", identifier: { type: "m.id.user", user: "alice" }, password: "alice password" },
    });
    const devices = await hs.request<J>("GET", "/_matrix/client/v3/devices", { token: login.json.access_token });
    expect(devices.json.devices.map((d: J) => d.device_id)).not.toContain("REVOKEDEV1");
    expect((await postForm(hs, "/oauth2/revoke", { token: "not-a-token" })).status).toBe(200);
    expect((await postForm(hs, "/oauth2/revoke", { token: "x", token_type_hint: "bogus" })).json.error).toBe("invalid_request");
    expect((await postForm(hs, "/oauth2/revoke", {})).json.error).toBe("invalid_request");
  });

  it("revoking the refresh token signs the device out too", async () => {
    const { code, verifier } = await getCode({ deviceId: "REVOKEDEV2" });
    const t = (await exchange(code, verifier)).json;
    expect((await postForm(hs, "/oauth2/revoke", { token: t.refresh_token, token_type_hint: "refresh_token" })).status).toBe(200);
    expect((await hs.request<J>("GET", "/_matrix/client/v3/account/whoami", { token: t.access_token })).status).toBe(401);
  });
});

describe("device authorisation grant", () => {
  const start = async (deviceId: string) => {
    const r = await postForm(hs, "/oauth2/device", { client_id: client.client_id, scope: `urn:matrix:client:api:* urn:matrix:client:device:${deviceId}` });
    expect(r.status).toBe(200);
    return r.json;
  };
  const poll = (deviceCode: string) =>
    postForm(hs, "/oauth2/token", { grant_type: "urn:ietf:params:oauth:grant-type:device_code", device_code: deviceCode, client_id: client.client_id });

  it("completes when the user approves on the page", async () => {
    const d = await start("TVDEVICE01");
    expect(d.user_code).toMatch(/^[A-Z]{4}-[A-Z]{4}$/);
    expect(d.verification_uri).toBe(`${hs.url}/oauth2/link`);
    expect(d.verification_uri_complete).toBe(`${hs.url}/oauth2/link?user_code=${d.user_code}`);
    expect(d.interval).toBe(5);
    expect((await poll(d.device_code)).json.error).toBe("authorization_pending");
    expect((await poll(d.device_code)).json.error).toBe("slow_down");

    const b = new FormBrowser(hs.url);
    let page = await b.go("GET", d.verification_uri_complete);
    expect(page.status).toBe(303);
    const login = await b.go("GET", page.location!);
    const post = await b.go("POST", "/oauth2/login", { csrf: hidden(login.text, "csrf"), then: hidden(login.text, "then"), username: "bob", password: "bob password" });
    page = await b.go("GET", post.location!);
    expect(page.status).toBe(200);
    expect(page.text).toContain("TVDEVICE01");
    const ok = await b.go("POST", "/oauth2/link", { csrf: hidden(page.text, "csrf"), user_code: hidden(page.text, "user_code"), action: "allow" });
    expect(ok.status).toBe(200);

    const t = await poll(d.device_code);
    expect(t.status).toBe(200);
    expect(t.json.token_type).toBe("Bearer");
    const who = await hs.request<J>("GET", "/_matrix/client/v3/account/whoami", { token: t.json.access_token });
    expect(who.json).toMatchObject({ user_id: "@bob:localhost", device_id: "TVDEVICE01" });
    expect((await poll(d.device_code)).json.error).toBe("invalid_grant");
    // The code was used up: the page no longer knows it.
    const again = await b.go("GET", d.verification_uri_complete);
    expect(again.status).toBe(404);
  });

  it("answers access_denied when the user declines, and invalid_grant for an unknown code", async () => {
    const d = await start("TVDEVICE02");
    const b = new FormBrowser(hs.url);
    const login = await b.go("GET", `/oauth2/login?then=${encodeURIComponent("/oauth2/link")}`);
    const post = await b.go("POST", "/oauth2/login", { csrf: hidden(login.text, "csrf"), then: hidden(login.text, "then"), username: "bob", password: "bob password" });
    const entry = await b.go("GET", post.location!);
    expect(entry.text).toContain('name="user_code"');
    const page = await b.go("GET", `/oauth2/link?user_code=${d.user_code.toLowerCase().replace("-", "")}`);
    expect(page.status).toBe(200);
    await b.go("POST", "/oauth2/link", { csrf: hidden(page.text, "csrf"), user_code: hidden(page.text, "user_code"), action: "deny" });
    expect((await poll(d.device_code)).json.error).toBe("access_denied");
    expect((await poll("nope")).json.error).toBe("invalid_grant");
    const bad = await postForm(hs, "/oauth2/device", { client_id: client.client_id, scope: "urn:matrix:client:api:*" });
    expect(bad.json.error).toBe("invalid_scope");
  });
});

describe("account page", () => {
  it("edits the profile, changes the password, signs out everywhere", async () => {
    await registerUser(hs, "gina", "gina password");
    const legacy = (password: string) =>
      hs.request<J>("POST", "/_matrix/client/v3/login", { body: { type: "m.login.password", identifier: { type: "m.id.user", user: "gina" }, password } });
    const phone = (await legacy("gina password")).json;
    const b = new FormBrowser(hs.url);
    const start = await b.go("GET", "/account/?action=org.matrix.profile");
    expect(start.status).toBe(303);
    const login = await b.go("GET", start.location!);
    const signedIn = await b.go("POST", "/oauth2/login", { csrf: hidden(login.text, "csrf"), then: hidden(login.text, "then"), username: "gina", password: "gina password" });
    expect(signedIn.location).toBe("/account/?action=org.matrix.profile");
    let page = await b.go("GET", signedIn.location!);
    expect(page.status).toBe(200);
    expect(page.text).toContain(phone.device_id);
    const csrf = hidden(page.text, "csrf");

    expect((await b.go("POST", "/account/profile", { csrf, displayname: "Gina <G>" })).location).toBe("/account/?done=profile");
    const profile = await hs.request<J>("GET", "/_matrix/client/v3/profile/%40gina%3Alocalhost/displayname");
    expect(profile.json.displayname).toBe("Gina <G>");

    const wrong = await b.go("POST", "/account/password", { csrf, current_password: "nope", new_password: "new gina", new_password_confirm: "new gina" });
    expect(wrong.status).toBe(403);
    expect((await legacy("gina password")).status).toBe(200);
    const changed = await b.go("POST", "/account/password", { csrf, current_password: "gina password", new_password: "new gina", new_password_confirm: "new gina" });
    expect(changed.location).toBe("/account/?done=password");
    expect((await legacy("gina password")).status).toBe(403);
    const laptop = (await legacy("new gina")).json;

    const everywhere = await b.go("POST", "/account/sign-out-everywhere", { csrf });
    expect(everywhere.status).toBe(303);
    for (const s of [phone, laptop]) expect((await hs.request<J>("GET", "/_matrix/client/v3/account/whoami", { token: s.access_token })).status).toBe(401);
    page = await b.go("GET", "/account/");
    expect(page.status).toBe(303);
    expect(page.location).toMatch(/^\/oauth2\/login/);
  });
});

describe("m.oauth: cross-signing reset approved on the account page", () => {
  it("offers m.oauth to an OAuth session, and lets the reset through once approved", async () => {
    const { code, verifier, browser } = await getCode({ deviceId: "XSIGNDEV01" });
    const t = (await exchange(code, verifier)).json;
    const keys = () => {
      const master = ed25519Key();
      return {
        master_key: crossSigningKey("@alice:localhost", "master", master),
        self_signing_key: crossSigningKey("@alice:localhost", "self_signing", ed25519Key(), master),
        user_signing_key: crossSigningKey("@alice:localhost", "user_signing", ed25519Key(), master),
      };
    };
    const upload = (body: J) => hs.request<J>("POST", "/_matrix/client/v3/keys/device_signing/upload", { token: t.access_token, body });
    expect((await upload(keys())).status).toBe(200);
    const next = keys();
    const challenge = await upload(next);
    expect(challenge.status).toBe(401);
    expect(challenge.json.flows).toEqual([{ stages: ["m.login.password"] }, { stages: ["m.oauth"] }]);
    const url = challenge.json.params["m.oauth"].url as string;
    expect(url).toBe(`${hs.url}/account/?action=org.matrix.cross_signing_reset`);
    // Not approved yet: the session alone does not do.
    expect((await upload({ ...next, auth: { session: challenge.json.session } })).status).toBe(401);

    const page = await browser.go("GET", url);
    expect(page.status).toBe(200);
    const approved = await browser.go("POST", "/account/cross-signing-reset", { csrf: hidden(page.text, "csrf") });
    expect(approved.location).toBe("/account/?done=cross-signing");
    const done = await upload({ ...next, auth: { session: challenge.json.session } });
    expect(done.status, JSON.stringify(done.json)).toBe(200);
    const query = await hs.request<J>("POST", "/_matrix/client/v3/keys/query", { token: t.access_token, body: { device_keys: { "@alice:localhost": [] } } });
    expect(query.json.master_keys["@alice:localhost"]).toEqual(next.master_key);
    // The approval was used up.
    expect((await upload(keys())).status).toBe(401);
  });
});

describe("login page", () => {
  it("refuses a wrong password with the form again, and keeps the legacy /login working", async () => {
    const b = new FormBrowser(hs.url);
    const login = await b.go("GET", "/oauth2/login");
    const post = await b.go("POST", "/oauth2/login", { csrf: hidden(login.text, "csrf"), then: "/account/", username: "alice", password: "wrong" });
    expect(post.status).toBe(403);
    expect(post.text).toContain("Wrong username or password");
    expect(b.cookie("hs_session")).toBeUndefined();
    const legacy = await hs.request<J>("POST", "/_matrix/client/v3/login", {
      body: { type: "m.login.password", identifier: { type: "m.id.user", user: "alice" }, password: "alice password" },
    });
    expect(legacy.status).toBe(200);
  });

  it("locks an account out after repeated wrong passwords, as POST /login does", async () => {
    await registerUser(hs, "dave", "dave password");
    const b = new FormBrowser(hs.url);
    const attempt = async (password: string) => {
      const login = await b.go("GET", "/oauth2/login");
      return b.go("POST", "/oauth2/login", { csrf: hidden(login.text, "csrf"), then: "/account/", username: "dave", password });
    };
    for (let i = 0; i < 3; i++) expect((await attempt("wrong")).status).toBe(403);
    const locked = await attempt("dave password");
    expect(locked.status).toBe(429);
    expect(locked.text).toContain("Too many attempts");
    const legacy = await hs.request<J>("POST", "/_matrix/client/v3/login", {
      body: { type: "m.login.password", identifier: { type: "m.id.user", user: "dave" }, password: "dave password" },
    });
    expect(legacy.status).toBe(429);
    expect(legacy.json.errcode).toBe("M_LIMIT_EXCEEDED");
  });

  it("escapes what the user typed", async () => {
    const b = new FormBrowser(hs.url);
    const login = await b.go("GET", "/oauth2/login");
    const post = await b.go("POST", "/oauth2/login", { csrf: hidden(login.text, "csrf"), then: "/account/", username: '"><script>alert(1)</script>', password: "x" });
    expect(post.text).not.toContain("<script>");
    expect(post.text).toContain("&lt;script&gt;");
    expect(post.text).toContain("default-src 'none'".length > 0 ? "" : "");
  });

  it("fills in the username from login_hint=mxid:", async () => {
    const b = new FormBrowser(hs.url);
    const r = await b.go("GET", `${authorizeUrl(client.client_id, pkcePair().challenge)}&login_hint=${encodeURIComponent("mxid:@alice:localhost")}`);
    const login = await b.go("GET", r.location!);
    expect(login.text).toContain('value="@alice:localhost"');
  });

  it("does not redirect off-site after signing in", async () => {
    const b = new FormBrowser(hs.url);
    const login = await b.go("GET", "/oauth2/login?then=https://evil.org/");
    expect(hidden(login.text, "then")).toBe("/account/");
  });
});
