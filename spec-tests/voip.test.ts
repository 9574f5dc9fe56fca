import { createHmac } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "./harness.js";
import { newUser, type J, type TestUser } from "./sync-helpers.js";

// Client-server "Voice over IP" TURN credentials, and MatrixRTC foci (MSC4143)
// in .well-known and the RTC transports endpoint.

const SECRET = "turn-test-secret";
const URIS = ["turn:turn.example.org:3478?transport=udp", "turns:turn.example.org:5349?transport=tcp"];
const FOCI = [{ type: "livekit", livekit_service_url: "https://livekit-jwt.example.org" }];

let hs: TestServer;
let bare: TestServer;
let alice: TestUser;

beforeAll(async () => {
  hs = await startTestServer({
    registration: { enabled: true },
    password_policy: { scrypt_cost: 1024 },
    voip: { turn_uris: URIS, turn_shared_secret: SECRET, turn_user_lifetime: 3_600_000, rtc_foci: FOCI },
  });
  bare = await startTestServer({ registration: { enabled: true }, password_policy: { scrypt_cost: 1024 } });
  alice = await newUser(hs, "alice");
}, 60_000);
afterAll(async () => {
  await hs?.close();
  await bare?.close();
});

describe("voip", () => {
  it("hands out TURN REST credentials that verify with the shared secret", async () => {
    const before = Math.floor(Date.now() / 1000);
    const r = await hs.request<J>("GET", "/_matrix/client/v3/voip/turnServer", { token: alice.token });
    expect(r.status).toBe(200);
    expect(r.json.uris).toEqual(URIS);
    expect(r.json.ttl).toBe(3600);
    const [expiry, user] = (r.json.username as string).split(/:(.*)/s);
    expect(user).toBe(alice.userId);
    expect(Number(expiry)).toBeGreaterThanOrEqual(before + 3600);
    expect(Number(expiry)).toBeLessThanOrEqual(before + 3602);
    expect(r.json.password).toBe(createHmac("sha1", SECRET).update(r.json.username).digest("base64"));
    expect(r.json.password).not.toBe(createHmac("sha1", "another").update(r.json.username).digest("base64"));
    expect((await hs.request<J>("GET", "/_matrix/client/v3/voip/turnServer")).status).toBe(401);
  });

  it("answers an empty object when no TURN server is configured", async () => {
    const bob = await newUser(bare, "bob");
    const r = await bare.request<J>("GET", "/_matrix/client/v3/voip/turnServer", { token: bob.token });
    expect(r.status).toBe(200);
    expect(r.json).toEqual({});
  });

  it("advertises the configured RTC foci in .well-known and the transports endpoint", async () => {
    const wk = await hs.request<J>("GET", "/.well-known/matrix/client");
    expect(wk.json["org.matrix.msc4143.rtc_foci"]).toEqual(FOCI);
    expect(wk.json["m.rtc_foci"]).toEqual(FOCI);
    expect(wk.json["m.homeserver"].base_url).toBe(hs.url);
    const t = await hs.request<J>("GET", "/_matrix/client/unstable/org.matrix.msc4143/rtc/transports", { token: alice.token });
    expect(t.status).toBe(200);
    expect(t.json.rtc_transports).toEqual(FOCI);
    const none = await bare.request<J>("GET", "/.well-known/matrix/client");
    expect(none.json["org.matrix.msc4143.rtc_foci"]).toBeUndefined();
  });
});
