import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { registerUser, type J } from "./accounts-helpers.js";
import { httpRequest, startTestServer, type TestServer } from "./harness.js";

let hs: TestServer;
let alice: J;
let bob: J;
beforeAll(async () => {
  hs = await startTestServer({ registration: { enabled: true }, password_policy: { scrypt_cost: 1024, min_length: 8 }, profiles: { max_field_bytes: 1000 } });
  alice = await registerUser(hs, "alice");
  bob = await registerUser(hs, "bob");
});
afterAll(() => hs?.close());

const A = "@alice:localhost";

describe("profiles", () => {
  it("new users have their localpart as display name", async () => {
    const r = await hs.request<J>("GET", `/_matrix/client/v3/profile/${A}`);
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ displayname: "alice" });
  });

  it("sets and reads displayname, avatar_url and custom fields", async () => {
    const t = alice.access_token;
    expect((await hs.request("PUT", `/_matrix/client/v3/profile/${A}/displayname`, { token: t, body: { displayname: "Alice" } })).status).toBe(200);
    expect((await hs.request("PUT", `/_matrix/client/v3/profile/${A}/avatar_url`, { token: t, body: { avatar_url: "mxc://localhost/abc" } })).status).toBe(200);
    expect((await hs.request("PUT", `/_matrix/client/v3/profile/${A}/m.tz`, { token: t, body: { "m.tz": "Europe/London" } })).status).toBe(200);
    expect((await hs.request("PUT", `/_matrix/client/v3/profile/${A}/org.example.pets`, { token: t, body: { "org.example.pets": ["cat", 2] } })).status).toBe(200);
    const all = await hs.request<J>("GET", `/_matrix/client/v3/profile/${A}`);
    expect(all.json).toEqual({ displayname: "Alice", avatar_url: "mxc://localhost/abc", "m.tz": "Europe/London", "org.example.pets": ["cat", 2] });
    const one = await hs.request<J>("GET", `/_matrix/client/r0/profile/${A}/displayname`);
    expect(one.json).toEqual({ displayname: "Alice" });
    const del = await hs.request("DELETE", `/_matrix/client/v3/profile/${A}/org.example.pets`, { token: t });
    expect(del.status).toBe(200);
    const gone = await hs.request<J>("GET", `/_matrix/client/v3/profile/${A}/org.example.pets`);
    expect(gone.status).toBe(404);
    expect(gone.json.errcode).toBe("M_NOT_FOUND");
  });

  it("rejects bad profile writes with the spec's errcodes", async () => {
    const t = alice.access_token;
    const cases: Array<[string, unknown, number, string]> = [
      ["displayname", { displayname: 12 }, 400, "M_BAD_JSON"],
      ["displayname", { other: "x" }, 400, "M_MISSING_PARAM"],
      ["displayname", { displayname: "x".repeat(257) }, 400, "M_TOO_LARGE"],
      ["avatar_url", { avatar_url: { url: "mxc://a/b" } }, 400, "M_BAD_JSON"],
      ["avatar_url", { avatar_url: `mxc://localhost/${"a".repeat(1100)}` }, 400, "M_TOO_LARGE"],
      ["Not.Valid", { "Not.Valid": 1 }, 400, "M_INVALID_PARAM"],
      ["nodots", { nodots: 1 }, 400, "M_INVALID_PARAM"],
      [`a.${"b".repeat(260)}`, {}, 400, "M_KEY_TOO_LARGE"],
      ["org.example.big", { "org.example.big": "x".repeat(2000) }, 400, "M_TOO_LARGE"],
    ];
    for (const [key, body, status, errcode] of cases) {
      const r = await hs.request<J>("PUT", `/_matrix/client/v3/profile/${A}/${key}`, { token: t, body });
      expect(r.status, key).toBe(status);
      expect(r.json.errcode, key).toBe(errcode);
    }
    const other = await hs.request<J>("PUT", `/_matrix/client/v3/profile/${A}/displayname`, { token: bob.access_token, body: { displayname: "evil" } });
    expect(other.status).toBe(403);
    expect(other.json.errcode).toBe("M_FORBIDDEN");
    const noAuth = await hs.request<J>("PUT", `/_matrix/client/v3/profile/${A}/displayname`, { body: { displayname: "x" } });
    expect(noAuth.status).toBe(401);
    expect(noAuth.json.errcode).toBe("M_MISSING_TOKEN");
  });

  it("caps the whole profile at 64 KiB with M_PROFILE_TOO_LARGE", async () => {
    const t = bob.access_token;
    let last: J = {};
    for (let i = 0; i < 80; i++) {
      const r = await hs.request<J>("PUT", `/_matrix/client/v3/profile/@bob:localhost/org.example.f${i}`, { token: t, body: { [`org.example.f${i}`]: "y".repeat(900) } });
      last = r;
      if (r.status !== 200) break;
    }
    expect(last.status).toBe(400);
    expect(last.json.errcode).toBe("M_PROFILE_TOO_LARGE");
  });

  it("unknown users are 404 M_NOT_FOUND", async () => {
    const r = await hs.request<J>("GET", "/_matrix/client/v3/profile/@nobody:localhost");
    expect(r.status).toBe(404);
    expect(r.json.errcode).toBe("M_NOT_FOUND");
  });
});

describe("account data and tags", () => {
  const base = `/_matrix/client/v3/user/${A}`;
  it("stores global and room account data", async () => {
    const t = alice.access_token;
    expect((await hs.request("PUT", `${base}/account_data/org.example.cfg`, { token: t, body: { a: 1 } })).status).toBe(200);
    const g = await hs.request<J>("GET", `${base}/account_data/org.example.cfg`, { token: t });
    expect(g.json).toEqual({ a: 1 });
    const room = "!room:localhost";
    expect((await hs.request("PUT", `${base}/rooms/${room}/account_data/org.example.cfg`, { token: t, body: { b: 2 } })).status).toBe(200);
    const rg = await hs.request<J>("GET", `${base}/rooms/${room}/account_data/org.example.cfg`, { token: t });
    expect(rg.json).toEqual({ b: 2 });
    expect((await hs.request<J>("GET", `${base}/account_data/org.example.cfg`, { token: t })).json).toEqual({ a: 1 });
    const missing = await hs.request<J>("GET", `${base}/account_data/org.example.none`, { token: t });
    expect(missing.status).toBe(404);
    expect(missing.json.errcode).toBe("M_NOT_FOUND");
  });

  it("refuses other users, server-managed types, bad room ids and non-objects", async () => {
    const t = alice.access_token;
    const other = await hs.request<J>("PUT", `/_matrix/client/v3/user/@bob:localhost/account_data/x.y`, { token: t, body: {} });
    expect(other.status).toBe(403);
    expect(other.json.errcode).toBe("M_FORBIDDEN");
    const managed = await hs.request<J>("PUT", `${base}/account_data/m.push_rules`, { token: t, body: {} });
    expect(managed.status).toBe(405);
    expect(managed.json.errcode).toBe("M_BAD_JSON");
    const fullyRead = await hs.request<J>("PUT", `${base}/rooms/!r:localhost/account_data/m.fully_read`, { token: t, body: { event_id: "$x" } });
    expect(fullyRead.status).toBe(405);
    const badRoom = await hs.request<J>("PUT", `${base}/rooms/notaroom/account_data/x.y`, { token: t, body: {} });
    expect(badRoom.status).toBe(400);
    expect(badRoom.json.errcode).toBe("M_INVALID_PARAM");
    const arr = await hs.request<J>("PUT", `${base}/account_data/x.y`, { token: t, body: [1] });
    expect(arr.status).toBe(400);
    expect(arr.json.errcode).toBe("M_BAD_JSON");
    const notJson = await hs.request<J>("PUT", `${base}/account_data/x.y`, { token: t, rawBody: "{nope" });
    expect(notJson.json.errcode).toBe("M_NOT_JSON");
  });

  it("tags a room, lists and removes tags", async () => {
    const t = alice.access_token;
    const room = "!tagged:localhost";
    expect((await hs.request("PUT", `${base}/rooms/${room}/tags/m.favourite`, { token: t, body: { order: 0.5 } })).status).toBe(200);
    expect((await hs.request("PUT", `${base}/rooms/${room}/tags/u.work`, { token: t, body: {} })).status).toBe(200);
    const list = await hs.request<J>("GET", `${base}/rooms/${room}/tags`, { token: t });
    expect(list.json).toEqual({ tags: { "m.favourite": { order: 0.5 }, "u.work": {} } });
    const asData = await hs.request<J>("GET", `${base}/rooms/${room}/account_data/m.tag`, { token: t });
    expect(asData.json.tags["u.work"]).toEqual({});
    expect((await hs.request("DELETE", `${base}/rooms/${room}/tags/u.work`, { token: t })).status).toBe(200);
    expect((await hs.request<J>("GET", `${base}/rooms/${room}/tags`, { token: t })).json).toEqual({ tags: { "m.favourite": { order: 0.5 } } });
    const badOrder = await hs.request<J>("PUT", `${base}/rooms/${room}/tags/u.x`, { token: t, body: { order: "first" } });
    expect(badOrder.status).toBe(400);
    expect(badOrder.json.errcode).toBe("M_BAD_JSON");
  });
});

describe("filters", () => {
  const base = `/_matrix/client/v3/user/${A}/filter`;
  it("creates and reads back a filter", async () => {
    const filter = { room: { timeline: { limit: 10, types: ["m.room.message"] }, state: { lazy_load_members: true } }, event_format: "client" };
    const c = await hs.request<J>("POST", base, { token: alice.access_token, body: filter });
    expect(c.status).toBe(200);
    expect(typeof c.json.filter_id).toBe("string");
    const g = await hs.request<J>("GET", `${base}/${c.json.filter_id}`, { token: alice.access_token });
    expect(g.json).toEqual(filter);
    const bobs = await hs.request<J>("GET", `/_matrix/client/v3/user/@bob:localhost/filter/${c.json.filter_id}`, { token: bob.access_token });
    expect(bobs.status).toBe(404);
    const nf = await hs.request<J>("GET", `${base}/abc`, { token: alice.access_token });
    expect(nf.status).toBe(404);
    expect(nf.json.errcode).toBe("M_NOT_FOUND");
  });

  it("rejects invalid filters with M_BAD_JSON", async () => {
    for (const body of [
      { event_format: "xml" },
      { room: { timeline: { limit: "ten" } } },
      { room: { rooms: ["not-a-room"] } },
      { presence: { senders: ["nobody"] } },
      { room: { include_leave: "yes" } },
    ]) {
      const r = await hs.request<J>("POST", base, { token: alice.access_token, body });
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.json.errcode).toBe("M_BAD_JSON");
    }
    const other = await hs.request<J>("POST", `/_matrix/client/v3/user/@bob:localhost/filter`, { token: alice.access_token, body: {} });
    expect(other.status).toBe(403);
  });
});

describe("capabilities", () => {
  it("lists what the server supports", async () => {
    const r = await hs.request<J>("GET", "/_matrix/client/v3/capabilities", { token: alice.access_token });
    expect(r.status).toBe(200);
    const c = r.json.capabilities;
    expect(c["m.change_password"]).toEqual({ enabled: true });
    expect(c["m.room_versions"].default).toBe("11");
    expect(c["m.room_versions"].available["11"]).toBe("stable");
    expect(c["m.profile_fields"]).toEqual({ enabled: true });
    expect(c["m.3pid_changes"]).toEqual({ enabled: false });
    const anon = await hs.request<J>("GET", "/_matrix/client/v3/capabilities");
    expect(anon.status).toBe(401);
  });
});

describe("OpenID", () => {
  it("issues a token that the federation userinfo endpoint resolves", async () => {
    const r = await hs.request<J>("POST", `/_matrix/client/v3/user/${A}/openid/request_token`, { token: alice.access_token, body: {} });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ token_type: "Bearer", matrix_server_name: "localhost" });
    expect(r.json.expires_in).toBeGreaterThan(0);
    const info = await httpRequest<J>(hs.federationUrl!, "GET", `/_matrix/federation/v1/openid/userinfo?access_token=${encodeURIComponent(r.json.access_token)}`);
    expect(info.status).toBe(200);
    expect(info.json).toEqual({ sub: A });
    // An access token is not an OpenID token.
    const wrong = await httpRequest<J>(hs.federationUrl!, "GET", `/_matrix/federation/v1/openid/userinfo?access_token=${alice.access_token}`);
    expect(wrong.status).toBe(401);
    expect(wrong.json.errcode).toBe("M_UNKNOWN_TOKEN");
    const none = await httpRequest<J>(hs.federationUrl!, "GET", "/_matrix/federation/v1/openid/userinfo");
    expect(none.status).toBe(401);
    expect(none.json.errcode).toBe("M_MISSING_TOKEN");
    const other = await hs.request<J>("POST", "/_matrix/client/v3/user/@bob:localhost/openid/request_token", { token: alice.access_token, body: {} });
    expect(other.status).toBe(403);
    expect(other.json.errcode).toBe("M_FORBIDDEN");
  });
});

describe("user directory", () => {
  const search = (token: string, body: unknown) => hs.request<J>("POST", "/_matrix/client/v3/user_directory/search", { token, body });

  it("finds users through shared and public rooms, by display name and user id", async () => {
    const carol = await registerUser(hs, "carol");
    await hs.request("PUT", "/_matrix/client/v3/profile/@bob:localhost/displayname", { token: bob.access_token, body: { displayname: "Bobby Tables" } });
    // Nobody shares a room yet: the directory shows no one else.
    expect((await search(alice.access_token, { search_term: "tables" })).json.results).toEqual([]);

    const room = await hs.request<J>("POST", "/_matrix/client/v3/createRoom", { token: bob.access_token, body: { preset: "public_chat" } });
    expect(room.status).toBe(200);
    const byName = await search(alice.access_token, { search_term: "tables" });
    expect(byName.status).toBe(200);
    expect(byName.json.results).toEqual([{ user_id: "@bob:localhost", display_name: "Bobby Tables" }]);
    expect(byName.json.limited).toBe(false);

    // A private room shared with carol makes carol visible to alice.
    const priv = await hs.request<J>("POST", "/_matrix/client/v3/createRoom", { token: carol.access_token, body: { preset: "private_chat", invite: [A] } });
    expect((await search(alice.access_token, { search_term: "carol" })).json.results).toEqual([]);
    expect((await hs.request("POST", `/_matrix/client/v3/join/${encodeURIComponent(priv.json.room_id)}`, { token: alice.access_token, body: {} })).status).toBe(200);
    const byId = await search(alice.access_token, { search_term: "CAR", limit: 5 });
    expect(byId.json.results.map((x: J) => x.user_id)).toEqual(["@carol:localhost"]);

    const limited = await search(alice.access_token, { search_term: "localhost", limit: 1 });
    expect(limited.json.results).toHaveLength(1);
    expect(limited.json.limited).toBe(true);
    expect((await search(alice.access_token, { search_term: "%" })).json.results).toEqual([]);
    const bad = await search(alice.access_token, { limit: 3 });
    expect(bad.status).toBe(400);
    expect(bad.json.errcode).toBe("M_BAD_JSON");
  });
});

describe("password policy", () => {
  it("refuses weak passwords at registration and on change with M_WEAK_PASSWORD", async () => {
    const r = await hs.request<J>("POST", "/_matrix/client/v3/register", { body: { username: "weakling", password: "short" } });
    expect(r.status).toBe(400);
    expect(r.json.errcode).toBe("M_WEAK_PASSWORD");
    const c = await hs.request<J>("POST", "/_matrix/client/v3/account/password", { token: alice.access_token, body: { new_password: "short" } });
    expect(c.status).toBe(400);
    expect(c.json.errcode).toBe("M_WEAK_PASSWORD");
  });
});
