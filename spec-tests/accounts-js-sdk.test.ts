import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient, InteractiveAuth, type AuthDict, type RegisterResponse } from "matrix-js-sdk";
import { logger } from "matrix-js-sdk/lib/logger.js";
import { startTestServer, type TestServer } from "./harness.js";

// The SDK logs every request through loglevel; keep test output readable.
(logger as unknown as { disableAll(): void }).disableAll();

// matrix-js-sdk talks to the server the way Element does: /versions first,
// then its own UIA driver for registration and password login.
let hs: TestServer;
beforeAll(async () => {
  hs = await startTestServer({ registration: { enabled: true }, password_policy: { scrypt_cost: 1024 } });
});
afterAll(() => hs?.close());

describe("matrix-js-sdk against the server", () => {
  it("registers through InteractiveAuth, logs in, reads whoami and profile, logs out", async () => {
    const anon = createClient({ baseUrl: hs.url });
    expect(await anon.isUsernameAvailable("sdkuser")).toBe(true);
    const auth = new InteractiveAuth<RegisterResponse>({
      matrixClient: anon,
      doRequest: (authDict: AuthDict | null) =>
        anon.registerRequest({ username: "sdkuser", password: "sdk password", auth: authDict ?? undefined, initial_device_display_name: "js-sdk" }),
      stateUpdated: () => {
        throw new Error("only m.login.dummy should be needed");
      },
      requestEmailToken: () => Promise.reject(new Error("no email")),
    });
    const reg = await auth.attemptAuth();
    expect(reg.user_id).toBe("@sdkuser:localhost");
    expect(reg.access_token).toBeTruthy();

    const client = createClient({ baseUrl: hs.url });
    const login = await client.loginWithPassword("sdkuser", "sdk password");
    expect(login.user_id).toBe("@sdkuser:localhost");
    const who = await client.whoami();
    expect(who.user_id).toBe("@sdkuser:localhost");
    expect(who.device_id).toBe(login.device_id);

    await client.setDisplayName("SDK User");
    const profile = await client.getProfileInfo("@sdkuser:localhost");
    expect(profile.displayname).toBe("SDK User");
    const versions = await client.getVersions();
    expect(versions.versions).toContain("v1.1");
    const devices = await client.getDevices();
    expect(devices.devices.map((d) => d.device_id)).toContain(login.device_id);

    await client.logout(true);
    const stale = createClient({ baseUrl: hs.url, accessToken: login.access_token });
    await expect(stale.whoami()).rejects.toMatchObject({ errcode: "M_UNKNOWN_TOKEN" });
  });

  it("client.register with a dummy auth dict, then the SDK's refresh-token login", async () => {
    const anon = createClient({ baseUrl: hs.url });
    const reg = await anon.register("sdkuser2", "sdk password 2", null, { type: "m.login.dummy" });
    expect(reg.user_id).toBe("@sdkuser2:localhost");
    const res = await anon.loginRequest({
      type: "m.login.password",
      identifier: { type: "m.id.user", user: "sdkuser2" },
      password: "sdk password 2",
      refresh_token: true,
    });
    expect(res.refresh_token).toBeTruthy();
    const refreshed = await anon.refreshToken(res.refresh_token!);
    expect(refreshed.access_token).not.toBe(res.access_token);
    const client = createClient({ baseUrl: hs.url, accessToken: refreshed.access_token, userId: res.user_id });
    expect((await client.whoami()).device_id).toBe(res.device_id);
  });

  it("a wrong password surfaces as M_FORBIDDEN", async () => {
    const client = createClient({ baseUrl: hs.url });
    await expect(client.loginWithPassword("sdkuser", "wrong")).rejects.toMatchObject({ errcode: "M_FORBIDDEN", httpStatus: 403 });
  });
});
