import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeBase64, signingKeyFromSeed, verifyKeyFromBase64 } from "../src/core/index.js";
import { sharedSecretRegister } from "./accounts-helpers.js";
import { coreKey } from "./federation-helpers.js";
import type { TestServer } from "./harness.js";
import { FakeIdentityServer } from "./identity-helpers.js";
import { api, createRoom, enc, join, type J, newUser, startConformanceServer, type TestUser } from "./sync-helpers.js";

// The homeserver's side of the identity service: 3PID binds and unbinds
// ("Adding Account Administrative Contact Information", "POST /account/3pid/bind",
// ".../unbind", deactivation) and third-party invites, with the identity server
// each request names (no trusted_servers list configured here).
const ID_SERVER = "identity.example.test";
const ids = new FakeIdentityServer(ID_SERVER);
let hs: TestServer;
let alice: TestUser;

beforeAll(async () => {
  ids.install();
  hs = await startConformanceServer({ registration: { enabled: true, shared_secret: "s3cret" } });
  const key = coreKey(hs);
  ids.homeserver = { name: "localhost", key: verifyKeyFromBase64(key.keyId, encodeBase64(key.publicKey))! };
  alice = await newUser(hs, "alice");
}, 60_000);
afterAll(async () => {
  await hs?.close();
  ids.uninstall();
});

let sessions = 0;
/** A session the identity server validated for `address` (as its own requestToken/submitToken would). */
function validated(address: string): { sid: string; client_secret: string } {
  const sid = `sid${++sessions}`;
  ids.sessions.set(sid, { clientSecret: "secret", medium: "email", address });
  return { sid, client_secret: "secret" };
}

const bind = (u: TestUser, address: string, path = "/_matrix/client/v3/account/3pid/bind") =>
  hs.request<J>("POST", path, { token: u.token, body: { ...validated(address), id_server: ID_SERVER, id_access_token: "good-token" } });

describe("3PID bind and unbind", () => {
  it("binds through the identity server the request names, on the v3 and the unstable path", async () => {
    const v3 = await bind(alice, "alice@example.org");
    expect(v3.status, JSON.stringify(v3.json)).toBe(200);
    expect(ids.bound.get("alice@example.org")).toBe(alice.userId);
    const unstable = await bind(alice, "alice2@example.org", "/_matrix/client/unstable/account/3pid/bind");
    expect(unstable.status, JSON.stringify(unstable.json)).toBe(200);
    expect(ids.bound.get("alice2@example.org")).toBe(alice.userId);
    const bad = await hs.request<J>("POST", "/_matrix/client/v3/account/3pid/bind", {
      token: alice.token,
      body: { sid: "nope", client_secret: "secret", id_server: ID_SERVER, id_access_token: "good-token" },
    });
    expect([bad.status, bad.json.errcode]).toEqual([400, "M_NO_VALID_SESSION"]);
  });

  it("unbinds with an X-Matrix-signed request, at the server it was bound through or the one named", async () => {
    const u = await newUser(hs, "unbinder");
    expect((await bind(u, "u1@example.org")).status).toBe(200);
    expect((await bind(u, "u2@example.org", "/_matrix/client/unstable/account/3pid/bind")).status).toBe(200);
    const implicit = await api(hs, "POST", "/account/3pid/unbind", u.token, { medium: "email", address: "u1@example.org" });
    expect(implicit.json).toEqual({ id_server_unbind_result: "success" });
    expect(ids.bound.has("u1@example.org")).toBe(false);
    const unbindCall = ids.calls.filter((c) => c.path.endsWith("/3pid/unbind")).at(-1)!;
    expect(unbindCall.body).toEqual({ mxid: u.userId, threepid: { medium: "email", address: "u1@example.org" } });
    expect(unbindCall.auth).toMatch(/^X-Matrix origin="localhost",destination="identity.example.test",key="ed25519:/);
    const named = await hs.request<J>("POST", "/_matrix/client/unstable/account/3pid/unbind", {
      token: u.token,
      body: { medium: "email", address: "u2@example.org", id_server: ID_SERVER },
    });
    expect(named.json).toEqual({ id_server_unbind_result: "success" });
    expect(ids.bound.has("u2@example.org")).toBe(false);
    // An identity server the SSRF rules refuse (loopback) cannot confirm: no-support, nothing dialled.
    const before = ids.calls.length;
    const refused = await api(hs, "POST", "/account/3pid/unbind", u.token, { medium: "email", address: "u2@example.org", id_server: "127.0.0.1:9" });
    expect(refused.json).toEqual({ id_server_unbind_result: "no-support" });
    expect(ids.calls.length).toBe(before);
    const malformed = await api(hs, "POST", "/account/3pid/unbind", u.token, { medium: "email", address: "u2@example.org", id_server: "https://x/" });
    expect([malformed.status, malformed.json.errcode]).toEqual([400, "M_INVALID_PARAM"]);
  });

  it("removing a 3PID with id_server unbinds a binding made out of band", async () => {
    const u = await newUser(hs, "outofband");
    ids.bound.set("oob@example.org", u.userId);
    const r = await api(hs, "POST", "/account/3pid/delete", u.token, { medium: "email", address: "oob@example.org", id_server: ID_SERVER });
    expect(r.json).toEqual({ id_server_unbind_result: "success" });
    expect(ids.bound.has("oob@example.org")).toBe(false);
  });

  it("deactivation unbinds the account's bindings", async () => {
    const u = await newUser(hs, "leaver");
    expect((await bind(u, "leaver@example.org")).status).toBe(200);
    const first = await api(hs, "POST", "/account/deactivate", u.token, {});
    expect(first.status).toBe(401);
    const done = await api(hs, "POST", "/account/deactivate", u.token, {
      auth: { type: "m.login.password", identifier: { type: "m.id.user", user: u.userId }, password: "correct horse", session: first.json.session },
    });
    expect(done.status, JSON.stringify(done.json)).toBe(200);
    expect(done.json.id_server_unbind_result).toBe("success");
    expect(ids.bound.has("leaver@example.org")).toBe(false);

    // The admin API's deactivation does the same.
    const admin = await sharedSecretRegister(hs, "s3cret", "idadmin", "pw-admin", true);
    const v = await newUser(hs, "deactivated-by-admin");
    expect((await bind(v, "byadmin@example.org")).status).toBe(200);
    const d = await hs.request<J>("POST", `/_synapse/admin/v1/deactivate/${enc(v.userId)}`, { token: admin.access_token, body: {} });
    expect(d.json).toEqual({ id_server_unbind_result: "success" });
    expect(ids.bound.has("byadmin@example.org")).toBe(false);
  });
});

describe("third-party invites to the identity server named", () => {
  const invite3pid = (by: TestUser, roomId: string, address: string) =>
    api(hs, "POST", `/rooms/${enc(roomId)}/invite`, by.token, { id_server: ID_SERVER, id_access_token: "good-token", medium: "email", address });
  const pendingToken = async (roomId: string, by: TestUser) => {
    const state = await api<J[]>(hs, "GET", `/rooms/${enc(roomId)}/state`, by.token);
    return state.json.find((e) => e.type === "m.room.third_party_invite")!.state_key as string;
  };
  const memberOf = async (roomId: string, by: TestUser, userId: string) =>
    (await api(hs, "GET", `/rooms/${enc(roomId)}/state/m.room.member/${enc(userId)}`, by.token)).json.membership;

  it("can be accepted after the inviter left: onbind, then /join", async () => {
    const other = await newUser(hs, "stayer");
    const invitee = await newUser(hs, "latecomer");
    const room = await createRoom(hs, alice, { preset: "public_chat" });
    await join(hs, other, room);
    const r = await invite3pid(alice, room, "latecomer@example.org");
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    const token = await pendingToken(room, alice);
    expect((await api(hs, "POST", `/rooms/${enc(room)}/leave`, alice.token, {})).status).toBe(200);
    const signed = ids.sign({ mxid: invitee.userId, token, sender: alice.userId });
    const onbind = await fetch(`${hs.federationUrl}/_matrix/federation/v1/3pid/onbind`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        address: "latecomer@example.org",
        medium: "email",
        mxid: invitee.userId,
        invites: [{ address: "latecomer@example.org", medium: "email", mxid: invitee.userId, room_id: room, sender: alice.userId, signed }],
      }),
    });
    expect(onbind.status).toBe(200);
    expect(await memberOf(room, other, invitee.userId)).toBe("invite");
    await join(hs, invitee, room);
    expect(await memberOf(room, other, invitee.userId)).toBe("join");
  });

  it("POST /join with third_party_signed: a valid signature joins, a wrong or revoked key does not", async () => {
    const room = await createRoom(hs, alice, { preset: "private_chat" });
    expect((await invite3pid(alice, room, "signed@example.org")).status).toBe(200);
    const token = await pendingToken(room, alice);
    const eve = await newUser(hs, "eve");
    // Signed by some other key: refused, nothing changes.
    const forged = ids.sign({ mxid: eve.userId, token, sender: alice.userId }, signingKeyFromSeed(randomBytes(32), "0"));
    const bad = await api(hs, "POST", `/join/${enc(room)}`, eve.token, { third_party_signed: forged });
    expect(bad.status).toBe(403);
    expect((await api(hs, "GET", `/rooms/${enc(room)}/state/m.room.member/${enc(eve.userId)}`, alice.token)).status).toBe(404);
    // Someone else's signed block is not eve's.
    const forOther = ids.sign({ mxid: alice.userId, token, sender: alice.userId });
    expect((await api(hs, "POST", `/join/${enc(room)}`, eve.token, { third_party_signed: forOther })).status).toBe(403);
    const malformed = await api(hs, "POST", `/join/${enc(room)}`, eve.token, { third_party_signed: { mxid: eve.userId } });
    expect([malformed.status, malformed.json.errcode]).toEqual([400, "M_BAD_JSON"]);

    const signed = ids.sign({ mxid: eve.userId, token, sender: alice.userId });
    const ok = await api(hs, "POST", `/rooms/${enc(room)}/join`, eve.token, { third_party_signed: signed });
    expect(ok.status, JSON.stringify(ok.json)).toBe(200);
    const member = await api(hs, "GET", `/rooms/${enc(room)}/state/m.room.member/${enc(eve.userId)}`, alice.token);
    expect(member.json.membership).toBe("join");

    // A key the identity server no longer calls valid is refused.
    const room2 = await createRoom(hs, alice, { preset: "private_chat" });
    expect((await invite3pid(alice, room2, "revoked@example.org")).status).toBe(200);
    const token2 = await pendingToken(room2, alice);
    const stale = ids.sign({ mxid: eve.userId, token: token2, sender: alice.userId });
    ids.rotateKey();
    expect((await api(hs, "POST", `/join/${enc(room2)}`, eve.token, { third_party_signed: stale })).status).toBe(403);
    expect((await api(hs, "GET", `/rooms/${enc(room2)}/state/m.room.member/${enc(eve.userId)}`, alice.token)).status).toBe(404);
  });
});
