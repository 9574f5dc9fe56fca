import { existsSync } from "node:fs";
import {
  completeAuthorizationCodeGrant,
  createClient,
  discoverAndValidateOIDCIssuerWellKnown,
  generateOidcAuthorizationUrl,
  registerOidcClient,
  type MatrixClient,
} from "matrix-js-sdk";
import { createLocalJWKSet, jwtVerify, type JWK } from "jose";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sharedSecretRegister } from "./accounts-helpers.js";
import { startTestServer, type TestServer } from "./harness.js";
import { startAndWait } from "./js-sdk-helpers.js";
import { postForm, type J } from "./oauth-helpers.js";
import { logger } from "matrix-js-sdk/lib/logger.js";

if (!process.env.SDK_LOG) (logger as unknown as { disableAll(): void }).disableAll();

// matrix-js-sdk's OIDC ("next-generation auth") helpers against the built-in
// OAuth 2.0 API, with the login, consent, device-link and account pages
// driven by headless Chromium.

const CHROMIUM = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => existsSync(p));
const APP = "https://app.example.com";
const REDIRECT = `${APP}/callback`;

/** The bits of a browser window matrix-js-sdk's OIDC helpers use (sessionStorage, location.origin). */
class MemoryStorage {
  private readonly m = new Map<string, string>();
  get length() {
    return this.m.size;
  }
  key(i: number) {
    return [...this.m.keys()][i] ?? null;
  }
  getItem(k: string) {
    return this.m.get(k) ?? null;
  }
  setItem(k: string, v: string) {
    this.m.set(k, String(v));
  }
  removeItem(k: string) {
    this.m.delete(k);
  }
  clear() {
    this.m.clear();
  }
}

let hs: TestServer;
let browser: Browser;
let page: Page;
const clients: MatrixClient[] = [];

beforeAll(async () => {
  if (!CHROMIUM) throw new Error("Chromium is needed for this test (apt-get install chromium; .ci/run installs it)");
  // auth.oauth_only: the OAuth 2.0 API is the only way in (accounts come from the admin API or the registration page).
  hs = await startTestServer({
    registration: { enabled: true, shared_secret: "s3cret" },
    auth: { oauth_only: true },
    password_policy: { scrypt_cost: 1024 },
  });
  // Only after the server started: PGlite takes a global `window` for a browser.
  const g = globalThis as unknown as { window: unknown; localStorage: unknown };
  g.localStorage = new MemoryStorage();
  g.window = { sessionStorage: new MemoryStorage(), localStorage: g.localStorage, location: { origin: APP } };
  await sharedSecretRegister(hs, "s3cret", "carol", "carol password");
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"] });
  page = await (await browser.newContext({ javaScriptEnabled: false })).newPage();
});
afterAll(async () => {
  for (const c of clients) c.stopClient();
  await browser?.close();
  await hs?.close();
  delete (globalThis as { window?: unknown }).window;
  delete (globalThis as { localStorage?: unknown }).localStorage;
});

/** Follows the page to the client's redirect URI (which never loads: the request is caught) and returns it. */
async function callbackAfter(action: () => Promise<unknown>): Promise<URL> {
  let resolve!: (u: URL) => void;
  const seen = new Promise<URL>((r) => (resolve = r));
  await page.route(`${APP}/**`, async (route) => {
    resolve(new URL(route.request().url()));
    await route.fulfill({ status: 200, contentType: "text/plain", body: "back in the app" });
  });
  await action();
  const url = await seen;
  await page.unroute(`${APP}/**`);
  return url;
}

describe("matrix-js-sdk OIDC login with the built-in OAuth 2.0 API", () => {
  let accessToken: string;
  let deviceId: string;
  let issuer: string;

  it("discovers, registers, authorises in Chromium, exchanges the code, then syncs and sends", async () => {
    const meta = await hs.request<J>("GET", "/_matrix/client/v1/auth_metadata");
    issuer = meta.json.issuer;
    const config = await discoverAndValidateOIDCIssuerWellKnown(issuer);
    expect(config.signingKeys?.length).toBe(1);
    const clientId = await registerOidcClient(config, {
      clientName: "js-sdk test app",
      clientUri: `${APP}/`,
      redirectUris: [REDIRECT],
      applicationType: "web",
      contacts: [],
      tosUri: `${APP}/tos`,
      policyUri: `${APP}/privacy`,
    });
    const url = await generateOidcAuthorizationUrl({ metadata: config, redirectUri: REDIRECT, clientId, homeserverUrl: hs.url, nonce: "nonce-1234" });

    await page.goto(url);
    expect(new URL(page.url()).pathname).toBe("/oauth2/login");
    await page.fill("#username", "carol");
    await page.fill("#password", "carol password");
    await page.click("button[type=submit]");
    await page.waitForURL((u) => u.pathname === "/oauth2/auth");
    expect(await page.textContent("h1")).toContain("js-sdk test app");
    const cb = await callbackAfter(() => page.click("button[value=allow]"));
    expect(`${cb.origin}${cb.pathname}`).toBe(REDIRECT);

    const result = await completeAuthorizationCodeGrant(cb.searchParams.get("code")!, cb.searchParams.get("state")!);
    expect(result.homeserverUrl).toBe(hs.url);
    expect(result.idTokenClaims.sub).toBe("@carol:localhost");
    // The ID token is signed with the key the metadata publishes, for this client and nonce.
    const { payload } = await jwtVerify(result.tokenResponse.id_token, createLocalJWKSet({ keys: config.signingKeys as JWK[] }), {
      issuer,
      audience: clientId,
    });
    expect(payload).toMatchObject({ sub: "@carol:localhost", nonce: "nonce-1234" });
    expect(result.oidcClientSettings).toEqual({ clientId, issuer });
    expect(typeof result.tokenResponse.refresh_token).toBe("string");
    accessToken = result.tokenResponse.access_token;

    const probe = createClient({ baseUrl: hs.url, accessToken });
    const who = await probe.whoami();
    expect(who.user_id).toBe("@carol:localhost");
    deviceId = who.device_id!;
    expect(result.tokenResponse.scope).toContain(`urn:matrix:org.matrix.msc2967.client:device:${deviceId}`);

    const client = createClient({ baseUrl: hs.url, accessToken, userId: who.user_id, deviceId });
    clients.push(client);
    await startAndWait(client);
    const { room_id } = await client.createRoom({ name: "OAuth room" });
    const { event_id } = await client.sendTextMessage(room_id, "sent with an OAuth token");
    const fetched = await client.fetchRoomEvent(room_id, event_id);
    expect(fetched.content).toMatchObject({ body: "sent with an OAuth token" });
  });

  it("lists the device on the account page and signs it out from there", async () => {
    await page.goto(`${hs.url}/account/?action=org.matrix.device_delete&device_id=${encodeURIComponent(deviceId)}`);
    expect(await page.textContent("body")).toContain("js-sdk test app");
    await page.click(".card form button.danger >> nth=0");
    await page.waitForURL((u) => u.searchParams.get("done") === "signed-out");
    const r = await hs.request<J>("GET", "/_matrix/client/v3/account/whoami", { token: accessToken });
    expect(r.status).toBe(401);
    expect(r.json.errcode).toBe("M_UNKNOWN_TOKEN");
  });

  it("completes a device authorisation grant approved on the page", async () => {
    const reg = await hs.request<J>("POST", "/oauth2/register", {
      body: { client_name: "TV app", client_uri: `${APP}/`, grant_types: ["urn:ietf:params:oauth:grant-type:device_code", "refresh_token"] },
    });
    expect(reg.status).toBe(201);
    const clientId = reg.json.client_id as string;
    const d = (await postForm(hs, "/oauth2/device", { client_id: clientId, scope: "urn:matrix:client:api:* urn:matrix:client:device:LIVINGROOM" })).json;
    await page.goto(d.verification_uri_complete);
    expect(await page.textContent("body")).toContain(d.user_code);
    await page.click("button[value=allow]");
    expect(await page.textContent("h1")).toContain("Device signed in");
    const t = await postForm(hs, "/oauth2/token", { grant_type: "urn:ietf:params:oauth:grant-type:device_code", device_code: d.device_code, client_id: clientId });
    expect(t.status).toBe(200);
    const who = await createClient({ baseUrl: hs.url, accessToken: t.json.access_token }).whoami();
    expect(who).toMatchObject({ user_id: "@carol:localhost", device_id: "LIVINGROOM" });
  });

  it("registers a new account on the page for prompt=create", async () => {
    const config = await discoverAndValidateOIDCIssuerWellKnown((await hs.request<J>("GET", "/_matrix/client/v1/auth_metadata")).json.issuer);
    const clientId = await registerOidcClient(config, {
      clientName: "js-sdk test app",
      clientUri: `${APP}/`,
      redirectUris: [REDIRECT],
      applicationType: "web",
      contacts: [],
      tosUri: undefined,
      policyUri: undefined,
    });
    const url = await generateOidcAuthorizationUrl({ metadata: config, redirectUri: REDIRECT, clientId, homeserverUrl: hs.url, nonce: "nonce-5678", prompt: "create" });
    // Signed in as carol already: prompt=create still shows the registration form.
    await page.goto(url);
    expect(new URL(page.url()).pathname).toBe("/oauth2/signup");
    await page.fill("#username", "frank");
    await page.fill("#password", "frank password");
    await page.fill("#password_confirm", "frank password");
    await page.click("button[type=submit]");
    await page.waitForURL((u) => u.pathname === "/oauth2/auth");
    expect(await page.textContent("body")).toContain("@frank:localhost");
    const cb = await callbackAfter(() => page.click("button[value=allow]"));
    const result = await completeAuthorizationCodeGrant(cb.searchParams.get("code")!, cb.searchParams.get("state")!);
    expect(result.idTokenClaims.sub).toBe("@frank:localhost");
    const who = await createClient({ baseUrl: hs.url, accessToken: result.tokenResponse.access_token }).whoami();
    expect(who.user_id).toBe("@frank:localhost");
  });

  it("with auth.oauth_only, the legacy login and registration are off", async () => {
    const get = await hs.request<J>("GET", "/_matrix/client/v3/login");
    expect(get.status).toBe(404);
    expect(get.json.errcode).toBe("M_UNRECOGNIZED");
    const post = await hs.request<J>("POST", "/_matrix/client/v3/login", {
      body: { type: "m.login.password", identifier: { type: "m.id.user", user: "carol" }, password: "carol password" },
    });
    expect(post.status).toBe(400);
    expect(post.json.errcode).toBe("M_UNKNOWN");
    const reg = await hs.request<J>("POST", "/_matrix/client/v3/register", { body: { username: "eve", password: "eve password", auth: { type: "m.login.dummy" } } });
    expect(reg.status).toBe(403);
    expect(reg.json.errcode).toBe("M_FORBIDDEN");
  });
});
