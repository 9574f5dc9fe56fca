import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { registerSession, type J, type Session } from "./accounts-helpers.js";
import { FakeAppService, until, writeRegistrations } from "./appservice-helpers.js";
import { httpRequest, startTestServer, type TestServer } from "./harness.js";

// Application service API against a scripted appservice: identity assertion,
// exclusive namespaces, transactions (order, exactly once, downtime), ephemeral
// data, queries, pings and third-party lookups.
const AS_TOKEN = "as-token-irc-0123456789";
const HS_TOKEN = "hs-token-irc-0123456789";
const fake = new FakeAppService();
let hs: TestServer;
let alice: Session;

const asReq = (method: string, path: string, body?: unknown) => hs.request<J>(method, path, { token: AS_TOKEN, body });
const qs = (userId: string) => `user_id=${encodeURIComponent(userId)}`;

beforeAll(async () => {
  await fake.start();
  const files = writeRegistrations([
    {
      id: "irc",
      url: fake.url,
      as_token: AS_TOKEN,
      hs_token: HS_TOKEN,
      sender_localpart: "irc_bot",
      namespaces: {
        users: [{ exclusive: true, regex: "@irc_.*:localhost" }],
        aliases: [{ exclusive: true, regex: "#irc_.*:localhost" }],
        rooms: [],
      },
      rate_limited: false,
      protocols: ["irc"],
      receive_ephemeral: true,
      "org.matrix.msc3202": true,
    },
    { id: "silent", url: null, as_token: "as-token-silent", hs_token: "hs-token-silent", sender_localpart: "silent_bot", namespaces: {} },
  ]);
  hs = await startTestServer({
    registration: { enabled: true },
    app_service_config_files: files,
    app_services: { retry_min_ms: 50, retry_max_ms: 200 },
  });
  alice = await registerSession(hs, "alice");
});
afterAll(async () => {
  await hs?.close();
  await fake.stop();
});

describe("identity assertion and exclusive namespaces", () => {
  it("acts as the sender by default and as registered namespace users with user_id", async () => {
    const me = await asReq("GET", "/_matrix/client/v3/account/whoami");
    expect(me.status).toBe(200);
    expect(me.json.user_id).toBe("@irc_bot:localhost");

    const unregistered = await asReq("GET", `/_matrix/client/v3/account/whoami?${qs("@irc_ghost:localhost")}`);
    expect(unregistered.status).toBe(403);
    expect(unregistered.json.errcode).toBe("M_FORBIDDEN");

    const reg = await asReq("POST", "/_matrix/client/v3/register", { type: "m.login.application_service", username: "irc_ghost", inhibit_login: true });
    expect(reg.status, reg.text).toBe(200);
    expect(reg.json.user_id).toBe("@irc_ghost:localhost");
    expect(reg.json.access_token).toBeUndefined();

    const ghost = await asReq("GET", `/_matrix/client/v3/account/whoami?${qs("@irc_ghost:localhost")}`);
    expect(ghost.status).toBe(200);
    expect(ghost.json.user_id).toBe("@irc_ghost:localhost");
  });

  it("refuses users outside the namespace with 403 M_EXCLUSIVE, and registration outside it with M_EXCLUSIVE", async () => {
    const outside = await asReq("GET", `/_matrix/client/v3/account/whoami?${qs(alice.userId)}`);
    expect(outside.status).toBe(403);
    expect(outside.json.errcode).toBe("M_EXCLUSIVE");
    const remote = await asReq("GET", `/_matrix/client/v3/account/whoami?${qs("@irc_x:elsewhere.example")}`);
    expect(remote.status).toBe(403);
    expect(remote.json.errcode).toBe("M_EXCLUSIVE");
    const reg = await asReq("POST", "/_matrix/client/v3/register", { type: "m.login.application_service", username: "notours", inhibit_login: true });
    expect(reg.status).toBe(400);
    expect(reg.json.errcode).toBe("M_EXCLUSIVE");
    expect((await hs.request("GET", "/_matrix/client/v3/register/available?username=notours")).json).toEqual({ available: true });
  });

  it("refuses the exclusive user and alias namespaces to everyone else", async () => {
    const first = await hs.request<J>("POST", "/_matrix/client/v3/register", { body: { username: "irc_mallory", password: "pw-123456789" } });
    expect(first.status).toBe(400);
    expect(first.json.errcode).toBe("M_EXCLUSIVE");
    const room = await hs.request<J>("POST", "/_matrix/client/v3/createRoom", { token: alice.token, body: {} });
    const put = await hs.request<J>("PUT", `/_matrix/client/v3/directory/room/${encodeURIComponent("#irc_taken:localhost")}`, {
      token: alice.token,
      body: { room_id: room.json.room_id },
    });
    expect(put.status).toBe(400);
    expect(put.json.errcode).toBe("M_EXCLUSIVE");
    const create = await hs.request<J>("POST", "/_matrix/client/v3/createRoom", { token: alice.token, body: { room_alias_name: "irc_mine" } });
    expect(create.status).toBe(400);
    expect(create.json.errcode).toBe("M_EXCLUSIVE");
  });

  it("masquerades as a device of the user (MSC4190 device creation, device_id and org.matrix.msc3202.device_id)", async () => {
    const unknown = await asReq("GET", `/_matrix/client/v3/account/whoami?${qs("@irc_ghost:localhost")}&device_id=NOPE`);
    expect(unknown.status).toBe(400);
    expect(unknown.json.errcode).toBe("M_UNKNOWN_DEVICE");
    const created = await asReq("PUT", `/_matrix/client/v3/devices/GHOSTDEV?${qs("@irc_ghost:localhost")}`, { display_name: "bridge" });
    expect(created.status, created.text).toBe(201); // "created by the application service"
    for (const param of ["device_id", "org.matrix.msc3202.device_id"]) {
      const me = await asReq("GET", `/_matrix/client/v3/account/whoami?${qs("@irc_ghost:localhost")}&${param}=GHOSTDEV`);
      expect(me.status).toBe(200);
      expect(me.json.device_id).toBe("GHOSTDEV");
    }
  });
});

describe("transactions", () => {
  let roomId: string;

  it("pushes every event of a room with a namespaced member, once, in order, with the hs_token", async () => {
    const quiet = await hs.request<J>("POST", "/_matrix/client/v3/createRoom", { token: alice.token, body: {} });
    const room = await hs.request<J>("POST", "/_matrix/client/v3/createRoom", { token: alice.token, body: { invite: ["@irc_ghost:localhost"] } });
    roomId = room.json.room_id;
    const join = await asReq("POST", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/join?${qs("@irc_ghost:localhost")}`, {});
    expect(join.status, join.text).toBe(200);
    const sent: string[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await hs.request<J>("PUT", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/send/m.room.message/t${i}`, {
        token: alice.token,
        body: { msgtype: "m.text", body: `hello ${i}` },
      });
      sent.push(r.json.event_id);
      await hs.request("PUT", `/_matrix/client/v3/rooms/${encodeURIComponent(quiet.json.room_id)}/send/m.room.message/q${i}`, {
        token: alice.token,
        body: { msgtype: "m.text", body: "not for the bridge" },
      });
    }
    await until(() => sent.every((id) => fake.events().some((e) => e.event_id === id)), 10_000, "messages");
    const events = fake.events();
    const ids = events.map((e) => e.event_id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(events.filter((e) => e.type === "m.room.message").map((e) => e.event_id)).toEqual(sent);
    expect(events.some((e) => e.room_id === quiet.json.room_id)).toBe(false);
    const invite = events.find((e) => e.type === "m.room.member" && e.state_key === "@irc_ghost:localhost" && e.content.membership === "invite");
    expect(invite?.sender).toBe(alice.userId);
    const msg = events.find((e) => e.event_id === sent[0])!;
    expect(msg).toMatchObject({ room_id: roomId, sender: alice.userId, content: { body: "hello 0" } });
    expect(msg.hashes).toBeUndefined();
    const txnRequests = fake.requests.filter((r) => r.url.startsWith("/_matrix/app/v1/transactions/"));
    expect(txnRequests.every((r) => r.authorization === `Bearer ${HS_TOKEN}`)).toBe(true);
  });

  it("keeps everything while the appservice is down and delivers it all once when it is back; retries repeat id and payload", async () => {
    const before = fake.events().length;
    let failing = true;
    fake.handler = (r) => (failing && r.url.includes("/transactions/") ? { status: 503, body: { errcode: "M_UNKNOWN" } } : { status: 200, body: {} });
    const sent: string[] = [];
    for (let i = 0; i < 50; i++) {
      const r = await hs.request<J>("PUT", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/send/m.room.message/down${i}`, {
        token: alice.token,
        body: { msgtype: "m.text", body: `while down ${i}` },
      });
      sent.push(r.json.event_id);
    }
    await until(() => fake.requests.filter((r) => r.url.includes("/transactions/")).length > 0, 5_000, "a failed attempt");
    await fake.stop(); // unreachable as well as failing
    await new Promise((r) => setTimeout(r, 300));
    failing = false;
    fake.handler = () => ({ status: 200, body: {} });
    await fake.start();
    await until(() => sent.every((id) => fake.events().some((e) => e.event_id === id)), 15_000, "the 50 messages");
    const after = fake.events().slice(before).filter((e) => e.type === "m.room.message");
    expect(after.map((e) => e.event_id)).toEqual(sent);
    // Every attempt of one transaction id carried the same events.
    const byTxn = new Map<string, string>();
    for (const r of fake.requests.filter((x) => x.url.includes("/transactions/"))) {
      const id = r.url.split("/").pop()!;
      const ids = JSON.stringify((r.body!.events as J[]).map((e) => e.event_id));
      if (byTxn.has(id)) expect(ids).toBe(byTxn.get(id));
      else byTxn.set(id, ids);
    }
  });

  it("sends typing and read receipts of interesting rooms as ephemeral data with room_id", async () => {
    const typing = await hs.request("PUT", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/typing/${encodeURIComponent(alice.userId)}`, {
      token: alice.token,
      body: { typing: true, timeout: 10_000 },
    });
    expect(typing.status).toBe(200);
    const last = fake.events().filter((e) => e.room_id === roomId).pop()!;
    const receipt = await hs.request("POST", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/receipt/m.read/${encodeURIComponent(last.event_id)}`, {
      token: alice.token,
      body: {},
    });
    expect(receipt.status).toBe(200);
    await until(
      () => fake.ephemeral().some((e) => e.type === "m.typing") && fake.ephemeral().some((e) => e.type === "m.receipt"),
      10_000,
      "typing and receipt",
    );
    const t = fake.ephemeral().find((e) => e.type === "m.typing")!;
    expect(t).toEqual({ type: "m.typing", room_id: roomId, content: { user_ids: [alice.userId] } });
    const rc = fake.ephemeral().find((e) => e.type === "m.receipt")!;
    expect(rc.room_id).toBe(roomId);
    expect(rc.content[last.event_id]["m.read"][alice.userId].ts).toEqual(expect.any(Number));
    const txn = [...fake.transactions.values()].find((b) => (b.ephemeral as J[] | undefined)?.length);
    expect(txn!["de.sorunome.msc2409.ephemeral"]).toEqual(txn!.ephemeral);
  });

  it("sends presence of users sharing a room with its users, not of others", async () => {
    const loner = await registerSession(hs, "loner");
    const p = (who: Session, status: string) =>
      hs.request("PUT", `/_matrix/client/v3/presence/${encodeURIComponent(who.userId)}/status`, { token: who.token, body: { presence: "online", status_msg: status } });
    expect((await p(loner, "alone")).status).toBe(200);
    expect((await p(alice, "bridging")).status).toBe(200);
    await until(() => fake.ephemeral().some((e) => e.type === "m.presence" && e.sender === alice.userId && e.content.status_msg === "bridging"), 10_000, "presence");
    expect(fake.ephemeral().some((e) => e.type === "m.presence" && e.sender === loner.userId)).toBe(false);
  });
  it("sets origin_server_ts from an appservice's ts on /send and /state, refuses a bad one, and ignores others' ts", async () => {
    const base = `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}`;
    const ghost = qs("@irc_ghost:localhost");
    const sent = await asReq("PUT", `${base}/send/m.room.message/ts1?${ghost}&ts=1500000000000`, { msgtype: "m.text", body: "from the past" });
    expect(sent.status, sent.text).toBe(200);
    const ev = await hs.request<J>("GET", `${base}/event/${encodeURIComponent(sent.json.event_id)}`, { token: alice.token });
    expect(ev.json.origin_server_ts).toBe(1500000000000);
    const state = await asReq("PUT", `${base}/state/m.room.member/${encodeURIComponent("@irc_ghost:localhost")}?${ghost}&ts=1500000000001`, {
      membership: "join",
      displayname: "Ghost",
    });
    expect(state.status, state.text).toBe(200);
    const stateEv = await hs.request<J>("GET", `${base}/event/${encodeURIComponent(state.json.event_id)}`, { token: alice.token });
    expect(stateEv.json.origin_server_ts).toBe(1500000000001);
    const bad = await asReq("PUT", `${base}/send/m.room.message/ts2?${ghost}&ts=soon`, { msgtype: "m.text", body: "x" });
    expect(bad.status).toBe(400);
    expect(bad.json.errcode).toBe("M_INVALID_PARAM");
    const mine = await hs.request<J>("PUT", `${base}/send/m.room.message/ts3?ts=1500000000000`, { token: alice.token, body: { msgtype: "m.text", body: "now" } });
    const mineEv = await hs.request<J>("GET", `${base}/event/${encodeURIComponent(mine.json.event_id)}`, { token: alice.token });
    expect(mineEv.json.origin_server_ts).toBeGreaterThan(1600000000000);
  });
});

describe("to-device messages (MSC4203)", () => {
  it("delivers to-device messages for its users' devices in transactions, once, then drops them", async () => {
    const sent = await hs.request("PUT", "/_matrix/client/v3/sendToDevice/m.test.hello/td1", {
      token: alice.token,
      body: { messages: { "@irc_ghost:localhost": { GHOSTDEV: { hello: "ghost" } } } },
    });
    expect(sent.status).toBe(200);
    const find = () => fake.txnOrder.flatMap((id) => (fake.transactions.get(id)!["de.sorunome.msc2409.to_device"] as J[] | undefined) ?? []);
    await until(() => find().length > 0, 10_000, "to-device");
    expect(find()).toEqual([{ type: "m.test.hello", sender: alice.userId, content: { hello: "ghost" }, to_user_id: "@irc_ghost:localhost", to_device_id: "GHOSTDEV" }]);
    // Once a later transaction has gone out, the delivered message is no longer pending for the device.
    const before = fake.txnOrder.length;
    await hs.request("PUT", "/_matrix/client/v3/sendToDevice/m.test.hello/td2", {
      token: alice.token,
      body: { messages: { "@irc_ghost:localhost": { GHOSTDEV: { hello: "again" } } } },
    });
    await until(() => fake.txnOrder.length > before, 10_000, "second transaction");
    expect(find().map((m) => m.content.hello)).toEqual(["ghost", "again"]);
    const sync = await asReq("GET", `/_matrix/client/v3/sync?${qs("@irc_ghost:localhost")}&device_id=GHOSTDEV`);
    expect(sync.status, sync.text).toBe(200);
    const pending = ((sync.json.to_device?.events as J[] | undefined) ?? []).map((e) => e.content.hello);
    expect(pending).not.toContain("ghost");
  });
});

describe("queries", () => {
  it("asks the appservice about an unknown alias in its namespace, which creates it on demand", async () => {
    fake.handler = async (r) => {
      if (r.url === `/_matrix/app/v1/rooms/${encodeURIComponent("#irc_lobby:localhost")}`) {
        const c = await httpRequest<J>(hs.url, "POST", "/_matrix/client/v3/createRoom", {
          token: AS_TOKEN,
          body: { room_alias_name: "irc_lobby", preset: "public_chat" },
        });
        return { status: c.status === 200 ? 200 : 500, body: {} };
      }
      return r.url.startsWith("/_matrix/app/v1/rooms/") ? { status: 404, body: { errcode: "M_NOT_FOUND" } } : { status: 200, body: {} };
    };
    const found = await hs.request<J>("GET", `/_matrix/client/v3/directory/room/${encodeURIComponent("#irc_lobby:localhost")}`);
    expect(found.status, found.text).toBe(200);
    expect(found.json.room_id).toMatch(/^!/);
    const missing = await hs.request<J>("GET", `/_matrix/client/v3/directory/room/${encodeURIComponent("#irc_nothing:localhost")}`);
    expect(missing.status).toBe(404);
    expect(fake.requests.some((r) => r.url === `/_matrix/app/v1/rooms/${encodeURIComponent("#irc_nothing:localhost")}`)).toBe(true);
    // Aliases outside every namespace are never asked about.
    const n = fake.requests.length;
    expect((await hs.request("GET", `/_matrix/client/v3/directory/room/${encodeURIComponent("#other:localhost")}`)).status).toBe(404);
    expect(fake.requests.length).toBe(n);
    const join = await hs.request<J>("POST", `/_matrix/client/v3/join/${encodeURIComponent("#irc_lobby:localhost")}`, { token: alice.token, body: {} });
    expect(join.status, join.text).toBe(200);
  });

  it("asks the appservice about an unknown user in its namespace", async () => {
    fake.handler = async (r) => {
      if (r.url === `/_matrix/app/v1/users/${encodeURIComponent("@irc_newbie:localhost")}`) {
        await httpRequest(hs.url, "POST", "/_matrix/client/v3/register", { token: AS_TOKEN, body: { type: "m.login.application_service", username: "irc_newbie", inhibit_login: true } });
        return { status: 200, body: {} };
      }
      return { status: 404, body: { errcode: "M_NOT_FOUND" } };
    };
    const p = await hs.request<J>("GET", `/_matrix/client/v3/profile/${encodeURIComponent("@irc_newbie:localhost")}`, { token: alice.token });
    expect(p.status, p.text).toBe(200);
    expect(p.json.displayname).toBe("irc_newbie");
    const none = await hs.request<J>("GET", `/_matrix/client/v3/profile/${encodeURIComponent("@irc_nobody:localhost")}`, { token: alice.token });
    expect(none.status).toBe(404);
    fake.handler = () => ({ status: 200, body: {} });
  });
});

describe("pings and third-party lookups", () => {
  it("pings the appservice and reports its failures as the spec says", async () => {
    const ok = await asReq("POST", "/_matrix/client/v1/appservice/irc/ping", { transaction_id: "meow" });
    expect(ok.status, ok.text).toBe(200);
    expect(ok.json.duration_ms).toEqual(expect.any(Number));
    const seen = fake.requests.filter((r) => r.url === "/_matrix/app/v1/ping").pop()!;
    expect(seen.body).toEqual({ transaction_id: "meow" });
    expect(seen.authorization).toBe(`Bearer ${HS_TOKEN}`);

    const notYours = await hs.request<J>("POST", "/_matrix/client/v1/appservice/irc/ping", { token: alice.token, body: {} });
    expect(notYours.status).toBe(403);
    expect(notYours.json.errcode).toBe("M_FORBIDDEN");
    const noUrl = await hs.request<J>("POST", "/_matrix/client/v1/appservice/silent/ping", { token: "as-token-silent", body: {} });
    expect(noUrl.status).toBe(400);
    expect(noUrl.json.errcode).toBe("M_URL_NOT_SET");

    fake.handler = () => ({ status: 403, body: { errcode: "M_FORBIDDEN" } });
    const bad = await asReq("POST", "/_matrix/client/v1/appservice/irc/ping", {});
    expect(bad.status).toBe(502);
    expect(bad.json).toMatchObject({ errcode: "M_BAD_STATUS", status: 403 });
    expect(JSON.parse(bad.json.body)).toEqual({ errcode: "M_FORBIDDEN" });
    fake.handler = () => ({ status: 200, body: {} });

    await fake.stop();
    const down = await asReq("POST", "/_matrix/client/v1/appservice/irc/ping", {});
    await fake.start();
    expect(down.status).toBe(502);
    expect(down.json.errcode).toBe("M_CONNECTION_FAILED");
  });

  it("forwards third-party protocol, location and user lookups", async () => {
    fake.handler = (r) => {
      if (r.url === "/_matrix/app/v1/thirdparty/protocol/irc") {
        return { status: 200, body: { user_fields: ["nick"], location_fields: ["channel"], icon: "", field_types: {}, instances: [{ desc: "Libera", fields: {}, network_id: "libera" }] } };
      }
      if (r.url.startsWith("/_matrix/app/v1/thirdparty/location/irc?")) {
        return { status: 200, body: [{ alias: "#irc_lobby:localhost", protocol: "irc", fields: { channel: "#lobby" } }] };
      }
      return { status: 404, body: { errcode: "M_NOT_FOUND" } };
    };
    const all = await hs.request<J>("GET", "/_matrix/client/v3/thirdparty/protocols", { token: alice.token });
    expect(all.status).toBe(200);
    expect(Object.keys(all.json)).toEqual(["irc"]);
    expect(all.json.irc.instances[0].network_id).toBe("libera");
    const unknown = await hs.request<J>("GET", "/_matrix/client/v3/thirdparty/protocol/xmpp", { token: alice.token });
    expect(unknown.status).toBe(404);
    expect(unknown.json.errcode).toBe("M_NOT_FOUND");
    const loc = await hs.request<J>("GET", "/_matrix/client/v3/thirdparty/location/irc?channel=%23lobby", { token: alice.token });
    expect(loc.status).toBe(200);
    expect(loc.json).toEqual([{ alias: "#irc_lobby:localhost", protocol: "irc", fields: { channel: "#lobby" } }]);
    expect(fake.requests.some((r) => r.url === "/_matrix/app/v1/thirdparty/location/irc?channel=%23lobby")).toBe(true);
    const missing = await hs.request<J>("GET", "/_matrix/client/v3/thirdparty/user", { token: alice.token });
    expect(missing.status).toBe(400);
    expect(missing.json.errcode).toBe("M_MISSING_PARAM");
    fake.handler = () => ({ status: 200, body: {} });
  });
});
