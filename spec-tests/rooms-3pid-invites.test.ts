import { randomBytes } from "node:crypto";
import { encodeBase64, signingKeyFromSeed, signJson } from "../src/core/index.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type J, registerSession, type Session } from "./accounts-helpers.js";
import { startTestServer, type TestServer } from "./harness.js";
import { FakeIdentityServer } from "./identity-helpers.js";

let hs: TestServer;
type U = Session;
let alice: U;
let bob: U;

const enc = encodeURIComponent;
const ID_SERVER = "id.example.test";
const idServer = new FakeIdentityServer(ID_SERVER);
const calls = idServer.calls;
const PEPPER = idServer.pepper;
const idKey = idServer.key;
const realFetch = globalThis.fetch;

const user = (name: string): Promise<U> => registerSession(hs, name);

const v3 = <T = J>(method: string, path: string, token: string, body?: unknown) =>
  hs.request<T>(method, `/_matrix/client/v3${path}`, { token, body });

beforeAll(async () => {
  idServer.install();
  hs = await startTestServer({
    registration: { enabled: true },
    password_policy: { scrypt_cost: 1024 },
    identity_server: { trusted_servers: [ID_SERVER] },
  });
  [alice, bob] = await Promise.all([user("alice"), user("bob")]);
  idServer.bound.set("bob@example.org", bob.userId);
}, 60_000);
afterAll(async () => {
  await hs?.close();
  idServer.uninstall();
});

const invite3pid = (roomId: string, address: string, extra: J = {}) =>
  v3("POST", `/rooms/${enc(roomId)}/invite`, alice.token, { id_server: ID_SERVER, id_access_token: "good-token", medium: "email", address, ...extra });

describe("third-party invites", () => {
  it("invites the Matrix user an address is bound to (hashed v2 lookup)", async () => {
    const roomId = (await v3("POST", "/createRoom", alice.token, { preset: "private_chat", name: "Club" })).json.room_id;
    const r = await invite3pid(roomId, "Bob@Example.org");
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    const m = await v3("GET", `/rooms/${enc(roomId)}/state/m.room.member/${enc(bob.userId)}`, alice.token);
    expect(m.json.membership).toBe("invite");
    const lookup = calls.find((c) => c.path.endsWith("/lookup"))!;
    expect(lookup.body).toMatchObject({ algorithm: "sha256", pepper: PEPPER });
    expect(lookup.auth).toBe("Bearer good-token");
  });

  it("stores the invite at the identity server and sends m.room.third_party_invite for unbound addresses", async () => {
    const roomId = (await v3("POST", "/createRoom", alice.token, { preset: "private_chat", name: "Club" })).json.room_id;
    calls.length = 0;
    const r = await invite3pid(roomId, "carol@example.org");
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    const store = calls.find((c) => c.path.endsWith("/store-invite"))!;
    expect(store.body).toMatchObject({ medium: "email", address: "carol@example.org", room_id: roomId, sender: alice.userId, room_name: "Club", room_join_rules: "invite" });
    const state = await v3<J[]>("GET", `/rooms/${enc(roomId)}/state`, alice.token);
    const tpi = state.json.find((e) => e.type === "m.room.third_party_invite")!;
    expect(tpi.state_key).toMatch(/^tok-/);
    expect(tpi.content).toMatchObject({
      display_name: "c...@example.org",
      public_key: encodeBase64(idKey.publicKey),
      key_validity_url: `https://${ID_SERVER}/_matrix/identity/v2/pubkey/isvalid`,
      public_keys: [{ public_key: encodeBase64(idKey.publicKey), key_validity_url: `https://${ID_SERVER}/_matrix/identity/v2/pubkey/isvalid` }],
    });
  });

  it("PUT /3pid/onbind turns a signed third-party invite into an invite of the bound user", async () => {
    const roomId = (await v3("POST", "/createRoom", alice.token, { preset: "private_chat" })).json.room_id;
    const dave = await user("dave");
    expect((await invite3pid(roomId, "dave@example.org")).status).toBe(200);
    const state = await v3<J[]>("GET", `/rooms/${enc(roomId)}/state`, alice.token);
    const token = state.json.find((e) => e.type === "m.room.third_party_invite")!.state_key as string;
    const onbind = (signed: J) =>
      realFetch(`${hs.federationUrl}/_matrix/federation/v1/3pid/onbind`, {
        method: "PUT",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          address: "dave@example.org",
          medium: "email",
          mxid: dave.userId,
          invites: [{ address: "dave@example.org", medium: "email", mxid: dave.userId, room_id: roomId, sender: alice.userId, signed }],
        }),
      });
    // A forged signature changes nothing.
    const forged = signJson({ mxid: dave.userId, token, sender: alice.userId }, ID_SERVER, signingKeyFromSeed(randomBytes(32), "0"));
    expect((await onbind(forged)).status).toBe(200);
    const before = await v3("GET", `/rooms/${enc(roomId)}/state/m.room.member/${enc(dave.userId)}`, alice.token);
    expect(before.status).toBe(404);
    const signed = signJson({ mxid: dave.userId, token, sender: alice.userId }, ID_SERVER, idKey);
    expect((await onbind(signed)).status).toBe(200);
    const m = await v3("GET", `/rooms/${enc(roomId)}/state/m.room.member/${enc(dave.userId)}?format=event`, alice.token);
    expect(m.json.sender).toBe(alice.userId);
    expect(m.json.content).toMatchObject({ membership: "invite", third_party_invite: { display_name: "c...@example.org", signed: { token } } });
    expect((await v3("POST", `/join/${enc(roomId)}`, dave.token, {})).status).toBe(200);
  });

  it("createRoom's invite_3pid invites after the room exists", async () => {
    const r = await v3("POST", "/createRoom", alice.token, {
      preset: "private_chat",
      invite_3pid: [{ id_server: ID_SERVER, id_access_token: "good-token", medium: "email", address: "bob@example.org" }],
    });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    const m = await v3("GET", `/rooms/${enc(r.json.room_id)}/state/m.room.member/${enc(bob.userId)}`, alice.token);
    expect(m.json.membership).toBe("invite");
  });

  it("refuses untrusted identity servers, bad tokens, non-members and malformed bodies", async () => {
    const roomId = (await v3("POST", "/createRoom", alice.token, { preset: "private_chat" })).json.room_id;
    const untrusted = await invite3pid(roomId, "x@example.org", { id_server: "evil.example" });
    expect(untrusted.status).toBe(400);
    expect(untrusted.json.errcode).toBe("M_SERVER_NOT_TRUSTED");
    const badToken = await invite3pid(roomId, "x@example.org", { id_access_token: "wrong" });
    expect(badToken.status).toBe(403);
    expect(badToken.json.errcode).toBe("M_UNAUTHORIZED");
    const outsider = await v3("POST", `/rooms/${enc(roomId)}/invite`, bob.token, { id_server: ID_SERVER, id_access_token: "good-token", medium: "email", address: "x@example.org" });
    expect(outsider.status).toBe(403);
    expect(outsider.json.errcode).toBe("M_FORBIDDEN");
    const partial = await v3("POST", `/rooms/${enc(roomId)}/invite`, alice.token, { medium: "email", address: "x@example.org" });
    expect(partial.status).toBe(400);
    expect(partial.json.errcode).toBe("M_BAD_JSON");
    const createUntrusted = await v3("POST", "/createRoom", alice.token, { invite_3pid: [{ id_server: "evil.example", id_access_token: "t", medium: "email", address: "a@b.c" }] });
    expect(createUntrusted.status).toBe(400);
    expect(createUntrusted.json.errcode).toBe("M_SERVER_NOT_TRUSTED");
  });
});
