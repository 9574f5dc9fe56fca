import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sharedSecretRegister } from "./accounts-helpers.js";
import { startTestServer, type TestServer } from "./harness.js";
import { api, createRoom, enc, newUser, send, type J, type TestUser } from "./sync-helpers.js";

const SECRET = "retention-secret";
let hs: TestServer;
let admin: TestUser;
let alice: TestUser;

const adm = <T = J>(method: string, path: string, token: string, body?: unknown) => hs.request<T>(method, `/_synapse/admin${path}`, { token, body });
const bodies = async (roomId: string) =>
  (await api(hs, "GET", `/rooms/${enc(roomId)}/messages?dir=b&limit=100`, alice.token)).json.chunk
    .filter((e: J) => e.type === "m.room.message")
    .map((e: J) => e.content.body);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  hs = await startTestServer({
    registration: { enabled: true, shared_secret: SECRET },
    password_policy: { scrypt_cost: 1024 },
    retention: { enabled: true, purge_interval_ms: 200 },
    // Message limits on (3 in a burst, then one per 100 s); the account limits out of the way.
    rate_limits: {
      enabled: true,
      messages_per_user: { per_second: 0.01, burst: 3 },
      registration_per_ip: { per_second: 100, burst: 1000 },
      login_per_ip: { per_second: 100, burst: 1000 },
    },
  });
  const a = await sharedSecretRegister(hs, SECRET, "root", "root-pass", true);
  admin = { token: a.access_token, userId: a.user_id, deviceId: a.device_id };
  alice = await newUser(hs, "alice");
  // Alice sends a lot here: no limit for her.
  const o = await adm("POST", `/v1/users/${enc(alice.userId)}/override_ratelimit`, admin.token, { messages_per_second: 0, burst_count: 0 });
  expect(o.status).toBe(200);
});
afterAll(() => hs?.close());

describe("purge_history", () => {
  it("deletes message history before a point, keeps state and the latest event", async () => {
    const room = await createRoom(hs, alice, { name: "History" });
    await send(hs, alice, room, "old 1");
    const cut = await send(hs, alice, room, "old 2");
    await send(hs, alice, room, "new 1");
    const path = `/v1/purge_history/${enc(room)}`;
    expect((await adm("POST", path, alice.token, { delete_local_events: true, purge_up_to_event_id: cut })).status).toBe(403);
    const missing = await adm("POST", path, admin.token, { delete_local_events: true });
    expect(missing.status).toBe(400);
    expect(missing.json.errcode).toBe("M_MISSING_PARAM");
    expect((await adm("POST", `/v1/purge_history/${enc("!nope:localhost")}`, admin.token, { purge_up_to_ts: 1 })).status).toBe(404);
    expect((await adm("POST", path, admin.token, { purge_up_to_event_id: "$unknown" })).status).toBe(404);
    expect(await bodies(room)).toEqual(["new 1", "old 2", "old 1"]);

    // Without delete_local_events only remote events go: here, none.
    const noop = await adm("POST", path, admin.token, { purge_up_to_event_id: cut });
    await waitComplete(noop.json.purge_id);
    expect(await bodies(room)).toEqual(["new 1", "old 2", "old 1"]);

    const r = await adm("POST", path, admin.token, { delete_local_events: true, purge_up_to_event_id: cut });
    expect(r.status).toBe(200);
    await waitComplete(r.json.purge_id);
    expect(await bodies(room)).toEqual(["new 1", "old 2"]);
    const state = await api(hs, "GET", `/rooms/${enc(room)}/state/m.room.name/`, alice.token);
    expect(state.json.name).toBe("History");

    const byTs = await adm("POST", path, admin.token, { delete_local_events: true, purge_up_to_ts: Date.now() + 60_000 });
    await waitComplete(byTs.json.purge_id);
    // The forward extremity stays, so the room can still be written to.
    expect(await bodies(room)).toEqual(["new 1"]);
    await send(hs, alice, room, "after");
    expect(await bodies(room)).toEqual(["after", "new 1"]);
    expect((await adm("GET", "/v1/purge_history_status/nope", admin.token)).status).toBe(404);
  });
});

async function waitComplete(purgeId: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const s = await adm("GET", `/v1/purge_history_status/${enc(purgeId)}`, admin.token);
    expect(s.status).toBe(200);
    if (s.json.status !== "active") {
      expect(s.json.status).toBe("complete");
      return;
    }
    await sleep(30);
  }
  throw new Error("purge did not finish");
}

describe("message retention", () => {
  it("purges messages older than the room's max_lifetime, and leaves rooms without a policy alone", async () => {
    const shortLived = await createRoom(hs, alice, { name: "Ephemeral" });
    const kept = await createRoom(hs, alice, { name: "Archive" });
    const setPolicy = await api(hs, "PUT", `/rooms/${enc(shortLived)}/state/m.room.retention/`, alice.token, { max_lifetime: 500 });
    expect(setPolicy.status).toBe(200);
    await send(hs, alice, shortLived, "soon gone");
    await send(hs, alice, kept, "stays");
    await send(hs, alice, shortLived, "latest");
    for (let i = 0; i < 50 && (await bodies(shortLived)).includes("soon gone"); i++) await sleep(100);
    expect(await bodies(shortLived)).toEqual(["latest"]);
    expect(await bodies(kept)).toEqual(["stays"]);
    const policy = await api(hs, "GET", `/rooms/${enc(shortLived)}/state/m.room.retention/`, alice.token);
    expect(policy.json.max_lifetime).toBe(500);
  });
});

describe("message rate limits and per-user overrides", () => {
  it("limits sends per user, and an admin override changes or lifts the limit", async () => {
    const chatty = await newUser(hs, "chatty");
    const room = await createRoom(hs, chatty, {});
    const put = (i: number) => api(hs, "PUT", `/rooms/${enc(room)}/send/m.room.message/rl${i}`, chatty.token, { msgtype: "m.text", body: `m${i}` });
    for (let i = 0; i < 3; i++) expect((await put(i)).status).toBe(200);
    const limited = await put(3);
    expect(limited.status).toBe(429);
    expect(limited.json.errcode).toBe("M_LIMIT_EXCEEDED");
    expect(limited.json.retry_after_ms).toBeGreaterThan(0);
    const seen = await api(hs, "GET", `/rooms/${enc(room)}/messages?dir=b&limit=20`, chatty.token);
    expect(seen.json.chunk.filter((e: J) => e.type === "m.room.message").map((e: J) => e.content.body)).toEqual(["m2", "m1", "m0"]);

    const path = `/v1/users/${enc(chatty.userId)}/override_ratelimit`;
    await adm("POST", path, admin.token, { messages_per_second: 0, burst_count: 0 });
    for (let i = 4; i < 9; i++) expect((await put(i)).status).toBe(200);
    await adm("POST", path, admin.token, { messages_per_second: 1, burst_count: 1 });
    expect((await put(9)).status).toBe(200);
    expect((await put(10)).status).toBe(429);
    await adm("DELETE", path, admin.token);
    expect((await put(11)).status).toBe(429);
  });
});
