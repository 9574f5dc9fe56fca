import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { J } from "./accounts-helpers.js";
import { startTestServer, type TestServer } from "./harness.js";

// A server with the defaults: registration, guests and shared-secret registration off.
let hs: TestServer;
beforeAll(async () => {
  hs = await startTestServer({});
});
afterAll(() => hs?.close());

describe("closed registration", () => {
  it("POST /register is 403 M_FORBIDDEN", async () => {
    const r = await hs.request<J>("POST", "/_matrix/client/v3/register", { body: { username: "x", password: "y" } });
    expect(r.status).toBe(403);
    expect(r.json.errcode).toBe("M_FORBIDDEN");
  });

  it("guest registration is 403 M_GUEST_ACCESS_FORBIDDEN", async () => {
    const r = await hs.request<J>("POST", "/_matrix/client/v3/register?kind=guest", { body: {} });
    expect(r.status).toBe(403);
    expect(r.json.errcode).toBe("M_GUEST_ACCESS_FORBIDDEN");
  });

  it("shared-secret registration is refused without a secret", async () => {
    const r = await hs.request<J>("GET", "/_synapse/admin/v1/register");
    expect(r.status).toBe(400);
    expect(r.json.errcode).toBe("M_UNKNOWN");
  });

  it("the deprecated access_token query parameter is accepted by default", async () => {
    const r = await hs.request<J>("GET", "/_matrix/client/v3/account/whoami?access_token=unknown");
    expect(r.status).toBe(401);
    expect(r.json.errcode).toBe("M_UNKNOWN_TOKEN");
  });
});
