import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sharedSecretRegister } from "./accounts-helpers.js";
import { startTestServer, type TestServer } from "./harness.js";
import { api, createRoom, enc, invite, join, newUser, send, sync, type J, type TestUser } from "./sync-helpers.js";

const SECRET = "admin-server-secret";
const run = promisify(execFile);
let hs: TestServer;
let admin: TestUser;
let alice: TestUser;
let bob: TestUser;
let room: string;

const adm = <T = J>(method: string, path: string, token: string, body?: unknown) => hs.request<T>(method, `/_synapse/admin${path}`, { token, body });

async function poll(fn: () => Promise<J>, done: (j: J) => boolean): Promise<J> {
  for (let i = 0; i < 100; i++) {
    const j = await fn();
    if (done(j)) return j;
    await new Promise((res) => setTimeout(res, 50));
  }
  throw new Error("condition not reached");
}

beforeAll(async () => {
  hs = await startTestServer({
    registration: { enabled: true, shared_secret: SECRET },
    password_policy: { scrypt_cost: 1024 },
    server_notices: { system_mxid_localpart: "notices" },
    trusted_proxies: ["127.0.0.1", "::1"],
  });
  const a = await sharedSecretRegister(hs, SECRET, "root", "root-pass", true);
  admin = { token: a.access_token, userId: a.user_id, deviceId: a.device_id };
  alice = await newUser(hs, "alice");
  bob = await newUser(hs, "bob");
  room = await createRoom(hs, alice, { preset: "public_chat", name: "Lobby" });
  await join(hs, bob, room);
});
afterAll(() => hs?.close());

describe("every admin endpoint here: non-admins 403, unknown users 404", () => {
  const u = () => enc(alice.userId);
  const ghost = enc("@ghost:localhost");
  const endpoints = (user: string): Array<[string, string, unknown?]> => [
    ["GET", "/v1/background_updates/status"],
    ["GET", "/v1/background_updates/enabled"],
    ["POST", "/v1/background_updates/enabled", { enabled: true }],
    ["POST", "/v1/send_server_notice", { user_id: decodeURIComponent(user), content: { body: "x" } }],
    ["PUT", "/v1/send_server_notice/t403", { user_id: decodeURIComponent(user), content: { body: "x" } }],
    ["GET", "/v1/event_reports"],
    ["GET", "/v1/event_reports/1"],
    ["DELETE", "/v1/event_reports/1"],
    ["POST", `/v1/users/${user}/shadow_ban`],
    ["DELETE", `/v1/users/${user}/shadow_ban`],
    ["GET", `/v1/users/${user}/override_ratelimit`],
    ["POST", `/v1/users/${user}/override_ratelimit`, {}],
    ["DELETE", `/v1/users/${user}/override_ratelimit`],
    ["GET", `/v1/users/${user}/joined_rooms`],
    ["GET", `/v1/users/${user}/pushers`],
    ["POST", `/v1/user/${user}/redact`, { rooms: [] }],
    ["GET", "/v1/user/redact_status/x"],
    ["GET", `/v1/users/${user}/export`],
    ["GET", "/v1/audit_log"],
    ["POST", `/v2/users/${user}/devices`, { device_id: "D" }],
    ["GET", `/v2/users/${user}/devices/D`],
    ["PUT", `/v2/users/${user}/devices/D`, {}],
    ["POST", `/v2/users/${user}/delete_devices`, { devices: [] }],
  ];

  it("refuses non-admins with 403 M_FORBIDDEN and changes nothing", async () => {
    for (const [method, path, body] of endpoints(u())) {
      const r = await adm(method, path, bob.token, body);
      expect(r.status, `${method} ${path}`).toBe(403);
      expect(r.json.errcode, `${method} ${path}`).toBe("M_FORBIDDEN");
    }
    expect((await adm("GET", `/v2/users/${u()}`, admin.token)).json.shadow_banned).toBe(false);
    expect((await adm("GET", `/v1/users/${u()}/override_ratelimit`, admin.token)).json).toEqual({});
    expect((await adm("GET", `/v2/users/${u()}/devices`, admin.token)).json.total).toBe(1);
  });

  it("answers 404 M_NOT_FOUND for unknown users", async () => {
    const perUser = endpoints(ghost).filter(([, path]) => path.includes(ghost));
    expect(perUser.length).toBeGreaterThan(10);
    for (const [method, path, body] of perUser) {
      const r = await adm(method, path, admin.token, body);
      expect(r.status, `${method} ${path}`).toBe(404);
      expect(r.json.errcode, `${method} ${path}`).toBe("M_NOT_FOUND");
    }
  });
});

describe("server version and background updates", () => {
  it("answers the server version without auth and background updates for admins only", async () => {
    const v = await hs.request<J>("GET", "/_synapse/admin/v1/server_version");
    expect(v.status).toBe(200);
    expect(typeof v.json.server_version).toBe("string");
    const bg = await adm("GET", "/v1/background_updates/status", admin.token);
    expect(bg.json).toEqual({ enabled: true, current_updates: {} });
    const refused = await adm("GET", "/v1/background_updates/status", bob.token);
    expect(refused.status).toBe(403);
    expect(refused.json.errcode).toBe("M_FORBIDDEN");
  });
});

describe("server notices", () => {
  it("sends a notice into a tagged room the user is invited to, reusing the room", async () => {
    const r = await adm("POST", "/v1/send_server_notice", admin.token, { user_id: bob.userId, content: { msgtype: "m.text", body: "Maintenance tonight" } });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    expect(r.json.event_id).toMatch(/^\$/);
    const s = await sync(hs, bob);
    const invited = Object.entries((s.rooms?.invite ?? {}) as Record<string, J>);
    expect(invited).toHaveLength(1);
    const [noticeRoom, inv] = invited[0]!;
    expect(inv.invite_state.events.some((e: J) => e.type === "m.room.member" && e.sender === "@notices:localhost")).toBe(true);
    await join(hs, bob, noticeRoom);
    const msgs = await api(hs, "GET", `/rooms/${enc(noticeRoom)}/messages?dir=b&limit=20`, bob.token);
    expect(msgs.json.chunk.filter((e: J) => e.type === "m.room.message").map((e: J) => e.content.body)).toEqual(["Maintenance tonight"]);
    const tags = await api(hs, "GET", `/user/${enc(bob.userId)}/rooms/${enc(noticeRoom)}/tags`, bob.token);
    expect(tags.json.tags).toHaveProperty("m.server_notice");
    // The user cannot speak there.
    const speak = await api(hs, "PUT", `/rooms/${enc(noticeRoom)}/send/m.room.message/t1`, bob.token, { msgtype: "m.text", body: "hi" });
    expect(speak.status).toBe(403);

    const second = await hs.request<J>("PUT", "/_synapse/admin/v1/send_server_notice/txn-1", {
      token: admin.token,
      body: { user_id: bob.userId, content: { msgtype: "m.text", body: "Done" } },
    });
    expect(second.status).toBe(200);
    const retry = await hs.request<J>("PUT", "/_synapse/admin/v1/send_server_notice/txn-1", {
      token: admin.token,
      body: { user_id: bob.userId, content: { msgtype: "m.text", body: "Done" } },
    });
    expect(retry.json.event_id).toBe(second.json.event_id);
    const again = await api(hs, "GET", `/rooms/${enc(noticeRoom)}/messages?dir=b&limit=20`, bob.token);
    expect(again.json.chunk.filter((e: J) => e.type === "m.room.message").map((e: J) => e.content.body)).toEqual(["Done", "Maintenance tonight"]);
  });

  it("refuses non-admins, unknown and remote users, bad bodies", async () => {
    const body = { user_id: bob.userId, content: { body: "x" } };
    expect((await adm("POST", "/v1/send_server_notice", bob.token, body)).status).toBe(403);
    const unknown = await adm("POST", "/v1/send_server_notice", admin.token, { ...body, user_id: "@ghost:localhost" });
    expect(unknown.status).toBe(404);
    expect(unknown.json.errcode).toBe("M_NOT_FOUND");
    const remote = await adm("POST", "/v1/send_server_notice", admin.token, { ...body, user_id: "@x:elsewhere" });
    expect(remote.status).toBe(400);
    const bad = await adm("POST", "/v1/send_server_notice", admin.token, { user_id: bob.userId, content: "text" });
    expect(bad.status).toBe(400);
    expect(bad.json.errcode).toBe("M_BAD_JSON");
  });
});

describe("event reports", () => {
  it("shows details with the event and deletes a report", async () => {
    const eventId = await send(hs, alice, room, "spam spam spam");
    const rep = await api(hs, "POST", `/rooms/${enc(room)}/report/${enc(eventId)}`, bob.token, { reason: "spam" });
    expect(rep.status).toBe(200);
    const list = await adm("GET", `/v1/event_reports?room_id=${enc(room)}&user_id=${enc(bob.userId)}`, admin.token);
    expect(list.json.total).toBe(1);
    const id = list.json.event_reports[0].id;
    expect(list.json.event_reports[0]).toMatchObject({ event_id: eventId, name: "Lobby", sender: alice.userId, reason: "spam", canonical_alias: null });
    expect((await adm("GET", "/v1/event_reports", bob.token)).status).toBe(403);
    expect((await adm("GET", "/v1/event_reports?dir=x", admin.token)).status).toBe(400);
    const none = await adm("GET", `/v1/event_reports?user_id=${enc(alice.userId)}`, admin.token);
    expect(none.json.total).toBe(0);
    const d = await adm("GET", `/v1/event_reports/${id}`, admin.token);
    expect(d.status).toBe(200);
    expect(d.json).toMatchObject({ id, room_id: room, event_id: eventId, user_id: bob.userId, reason: "spam", sender: alice.userId, name: "Lobby" });
    expect(d.json.event_json.content.body).toBe("spam spam spam");
    expect((await adm("GET", `/v1/event_reports/${id}`, bob.token)).status).toBe(403);
    expect((await adm("GET", "/v1/event_reports/abc", admin.token)).status).toBe(400);
    expect((await adm("DELETE", `/v1/event_reports/${id}`, bob.token)).status).toBe(403);
    expect((await adm("DELETE", `/v1/event_reports/${id}`, admin.token)).status).toBe(200);
    const gone = await adm("GET", `/v1/event_reports/${id}`, admin.token);
    expect(gone.status).toBe(404);
    expect(gone.json.errcode).toBe("M_NOT_FOUND");
    expect((await adm("DELETE", `/v1/event_reports/${id}`, admin.token)).status).toBe(404);
  });
});

describe("user moderation", () => {
  it("shadow-bans a user: their messages seem sent but nobody gets them", async () => {
    const mallory = await newUser(hs, "mallory");
    await join(hs, mallory, room);
    expect((await adm("POST", `/v1/users/${enc(mallory.userId)}/shadow_ban`, bob.token)).status).toBe(403);
    expect((await adm("POST", `/v1/users/${enc("@ghost:localhost")}/shadow_ban`, admin.token)).status).toBe(404);
    expect((await adm("POST", `/v1/users/${enc(mallory.userId)}/shadow_ban`, admin.token)).status).toBe(200);
    expect((await adm("GET", `/v2/users/${enc(mallory.userId)}`, admin.token)).json.shadow_banned).toBe(true);
    const sent = await api(hs, "PUT", `/rooms/${enc(room)}/send/m.room.message/sb1`, mallory.token, { msgtype: "m.text", body: "buy now" });
    expect(sent.status).toBe(200);
    expect(sent.json.event_id).toMatch(/^\$/);
    const msgs = await api(hs, "GET", `/rooms/${enc(room)}/messages?dir=b&limit=50`, alice.token);
    expect(msgs.json.chunk.some((e: J) => e.content?.body === "buy now")).toBe(false);
    const inv = await api(hs, "POST", `/rooms/${enc(room)}/invite`, mallory.token, { user_id: "@victim:localhost" });
    expect(inv.status).toBe(200);
    const members = await adm("GET", `/v1/rooms/${enc(room)}/state`, admin.token);
    expect(members.json.state.some((e: J) => e.type === "m.room.member" && e.state_key === "@victim:localhost")).toBe(false);
    expect((await adm("DELETE", `/v1/users/${enc(mallory.userId)}/shadow_ban`, admin.token)).status).toBe(200);
    await send(hs, mallory, room, "sorry");
    const after = await api(hs, "GET", `/rooms/${enc(room)}/messages?dir=b&limit=5`, alice.token);
    expect(after.json.chunk.some((e: J) => e.content?.body === "sorry")).toBe(true);
  });

  it("suspends a user on Synapse's path and shows account data", async () => {
    const ivan = await newUser(hs, "ivan");
    await api(hs, "PUT", `/user/${enc(ivan.userId)}/account_data/org.example.x`, ivan.token, { a: 1 });
    const ad = await adm("GET", `/v1/users/${enc(ivan.userId)}/accountdata`, admin.token);
    expect(ad.json.account_data.global["org.example.x"]).toEqual({ a: 1 });
    expect(ad.json.account_data.rooms).toEqual({});
    expect((await adm("GET", `/v1/users/${enc(ivan.userId)}/accountdata`, bob.token)).status).toBe(403);
    expect((await adm("PUT", `/v1/suspend/${enc(ivan.userId)}`, bob.token, { suspend: true })).status).toBe(403);
    expect((await adm("PUT", `/v1/suspend/${enc(ivan.userId)}`, admin.token, { suspend: "yes" })).status).toBe(400);
    expect((await adm("PUT", `/v1/suspend/${enc("@ghost:localhost")}`, admin.token, { suspend: true })).status).toBe(404);
    const s = await adm("PUT", `/v1/suspend/${enc(ivan.userId)}`, admin.token, { suspend: true });
    expect(s.json).toEqual({ [`user_${ivan.userId}_suspended`]: true });
    // Suspended users may not change their profile (M_USER_SUSPENDED).
    const prof = await api(hs, "PUT", `/profile/${enc(ivan.userId)}/displayname`, ivan.token, { displayname: "Ivan" });
    expect(prof.json.errcode).toBe("M_USER_SUSPENDED");
    const check = await hs.request<J>("GET", `/_matrix/client/v1/admin/suspend/${enc(ivan.userId)}`, { token: admin.token });
    expect(check.json).toEqual({ suspended: true });
    await adm("PUT", `/v1/suspend/${enc(ivan.userId)}`, admin.token, { suspend: false });
    expect((await hs.request<J>("GET", `/_matrix/client/v1/admin/suspend/${enc(ivan.userId)}`, { token: admin.token })).json).toEqual({ suspended: false });
  });

  it("stores rate-limit overrides", async () => {
    const path = `/v1/users/${enc(alice.userId)}/override_ratelimit`;
    expect((await adm("GET", path, admin.token)).json).toEqual({});
    const bad = await adm("POST", path, admin.token, { messages_per_second: -1 });
    expect(bad.status).toBe(400);
    expect((await adm("GET", path, admin.token)).json).toEqual({});
    expect((await adm("POST", path, admin.token, { messages_per_second: 0, burst_count: 0 })).json).toEqual({ messages_per_second: 0, burst_count: 0 });
    expect((await adm("GET", path, admin.token)).json).toEqual({ messages_per_second: 0, burst_count: 0 });
    expect((await adm("POST", path, bob.token, {})).status).toBe(403);
    expect((await adm("DELETE", path, admin.token)).status).toBe(200);
    expect((await adm("GET", path, admin.token)).json).toEqual({});
    expect((await adm("GET", `/v1/users/${enc("@ghost:localhost")}/override_ratelimit`, admin.token)).status).toBe(404);
  });

  it("lists a user's pushers", async () => {
    const pusher = {
      kind: "http",
      app_id: "org.example.app",
      app_display_name: "App",
      device_display_name: "Phone",
      pushkey: "pk1",
      lang: "en",
      data: { url: "https://push.example.org/_matrix/push/v1/notify" },
    };
    expect((await api(hs, "POST", "/pushers/set", bob.token, pusher)).status).toBe(200);
    const r = await adm("GET", `/v1/users/${enc(bob.userId)}/pushers`, admin.token);
    expect(r.json.total).toBe(1);
    expect(r.json.pushers[0]).toMatchObject({ pushkey: "pk1", app_id: "org.example.app", kind: "http" });
    expect((await adm("GET", `/v1/users/${enc(bob.userId)}/pushers`, bob.token)).status).toBe(403);
  });

  it("lists a user's joined rooms", async () => {
    const r = await adm("GET", `/v1/users/${enc(alice.userId)}/joined_rooms`, admin.token);
    expect(r.json.joined_rooms).toContain(room);
    expect(r.json.total).toBe(r.json.joined_rooms.length);
    expect((await adm("GET", `/v1/users/${enc("@ghost:localhost")}/joined_rooms`, admin.token)).status).toBe(404);
  });

  it("redacts all of a user's messages in the background", async () => {
    const troll = await newUser(hs, "troll");
    await join(hs, troll, room);
    const ids = [await send(hs, troll, room, "one"), await send(hs, troll, room, "two")];
    const keep = await send(hs, alice, room, "innocent");
    expect((await adm("POST", `/v1/user/${enc(troll.userId)}/redact`, bob.token, { rooms: [] })).status).toBe(403);
    const r = await adm("POST", `/v1/user/${enc(troll.userId)}/redact`, admin.token, { rooms: [], reason: "spam" });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    const status = await poll(
      async () => (await adm("GET", `/v1/user/redact_status/${enc(r.json.redact_id)}`, admin.token)).json,
      (j) => j.status === "complete" || j.status === "failed",
    );
    expect(status).toEqual({ status: "complete", failed_redactions: {} });
    for (const id of ids) {
      const e = await api(hs, "GET", `/rooms/${enc(room)}/event/${enc(id)}`, alice.token);
      expect(e.json.content).toEqual({});
      expect(e.json.unsigned.redacted_because.content.reason).toBe("spam");
    }
    const k = await api(hs, "GET", `/rooms/${enc(room)}/event/${enc(keep)}`, alice.token);
    expect(k.json.content.body).toBe("innocent");
    expect((await adm("GET", "/v1/user/redact_status/nope", admin.token)).status).toBe(404);
  });

  it("orders and filters the user list", async () => {
    const admins = await adm("GET", "/v2/users?admins=true", admin.token);
    expect(admins.json.users.map((u: J) => u.name)).toEqual([admin.userId]);
    const desc = await adm("GET", "/v2/users?order_by=name&dir=b&limit=2", admin.token);
    const names = desc.json.users.map((u: J) => u.name);
    expect([...names].sort().reverse()).toEqual(names);
    expect((await adm("GET", "/v2/users?order_by=shoe_size", admin.token)).status).toBe(400);
    // Locked users are left out unless asked for, as Synapse does.
    const hal = await newUser(hs, "hal");
    await adm("PUT", `/v2/users/${enc(hal.userId)}`, admin.token, { locked: true });
    expect((await adm("GET", "/v2/users?name=hal", admin.token)).json.users).toEqual([]);
    expect((await adm("GET", "/v2/users?name=hal&locked=true", admin.token)).json.users.map((u: J) => [u.name, u.locked])).toEqual([[hal.userId, true]]);
  });
});

describe("user devices", () => {
  it("creates, reads, renames and deletes a user's devices", async () => {
    const gina = await newUser(hs, "gina");
    const base = `/v2/users/${enc(gina.userId)}/devices`;
    expect((await adm("POST", base, gina.token, { device_id: "X" })).status).toBe(403);
    expect((await adm("POST", base, admin.token, {})).status).toBe(400);
    expect((await adm("POST", base, admin.token, { device_id: "KIOSK" })).status).toBe(201);
    const one = await adm("GET", `${base}/KIOSK`, admin.token);
    expect(one.json).toMatchObject({ device_id: "KIOSK", display_name: null, user_id: gina.userId });
    expect((await adm("PUT", `${base}/KIOSK`, admin.token, { display_name: "Lobby kiosk" })).status).toBe(200);
    expect((await adm("GET", `${base}/KIOSK`, admin.token)).json.display_name).toBe("Lobby kiosk");
    expect((await adm("PUT", `${base}/NOPE`, admin.token, { display_name: "x" })).status).toBe(404);
    expect((await adm("GET", `${base}/NOPE`, admin.token)).status).toBe(404);
    const list = await adm("GET", base, admin.token);
    expect(list.json.total).toBe(2);
    expect((await adm("POST", `/v2/users/${enc(gina.userId)}/delete_devices`, admin.token, { devices: ["KIOSK", gina.deviceId] })).status).toBe(200);
    expect((await adm("GET", base, admin.token)).json).toEqual({ devices: [], total: 0 });
    // Deleting the device revoked its token.
    expect((await hs.request("GET", "/_matrix/client/v3/account/whoami", { token: gina.token })).status).toBe(401);
    expect((await adm("GET", `/v2/users/${enc("@ghost:localhost")}/devices`, admin.token)).status).toBe(404);
  });
});

describe("erasure and export", () => {
  it("exports exactly what the user gave us, and nothing of others", async () => {
    const dora = await newUser(hs, "dora");
    await join(hs, dora, room);
    await send(hs, dora, room, "dora's words");
    await send(hs, alice, room, "alice's words");
    await api(hs, "PUT", `/user/${enc(dora.userId)}/account_data/org.example.pref`, dora.token, { colour: "blue" });
    const r = await adm("GET", `/v1/users/${enc(dora.userId)}/export`, admin.token);
    expect(r.status).toBe(200);
    expect(r.json.user_id).toBe(dora.userId);
    expect(r.json.profile.displayname).toBe("dora");
    expect(r.json.devices.map((d: J) => d.device_id)).toEqual([dora.deviceId]);
    expect(r.json.account_data.global["org.example.pref"]).toEqual({ colour: "blue" });
    const events = Object.values(r.json.events as Record<string, J[]>).flat();
    expect(events.every((e) => e.sender === dora.userId)).toBe(true);
    expect(events.map((e) => e.content.body).filter(Boolean)).toEqual(["dora's words"]);
    expect(events.some((e) => e.type === "m.room.member")).toBe(true);
    expect(JSON.stringify(r.json)).not.toContain("alice's words");
    expect(r.json.media).toEqual([]);
    expect((await adm("GET", `/v1/users/${enc(dora.userId)}/export`, dora.token)).status).toBe(403);
    expect((await adm("GET", `/v1/users/${enc("@ghost:localhost")}/export`, admin.token)).status).toBe(404);
  });

  it("writes the export as a folder of JSON with npm run export-user", async () => {
    const out = mkdtempSync(path.join(os.tmpdir(), "export-"));
    try {
      const { stdout } = await run(process.execPath, [
        "scripts/export-user.mjs",
        "--user",
        "@dora:localhost",
        "--out",
        out,
        "--url",
        hs.url,
        "--token",
        admin.token,
      ]);
      expect(stdout).toMatch(/exported @dora:localhost: \d+ events in 1 rooms/);
      expect(JSON.parse(readFileSync(path.join(out, "profile.json"), "utf8")).displayname).toBe("dora");
      const events = JSON.parse(readFileSync(path.join(out, "events", `${encodeURIComponent(room)}.json`), "utf8")) as J[];
      expect(events.map((e) => e.content.body).filter(Boolean)).toEqual(["dora's words"]);
      expect(readdirSync(out).sort()).toEqual(["account_data.json", "devices.json", "events", "media.json", "profile.json", "user.json"]);
      await expect(
        run(process.execPath, ["scripts/export-user.mjs", "--user", "@dora:localhost", "--out", out, "--url", hs.url, "--token", bob.token]),
      ).rejects.toThrow(/403/);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it("serves an erased user's events redacted to users who join afterwards, not to those who saw them", async () => {
    const eve = await newUser(hs, "eve");
    await join(hs, eve, room);
    const said = await send(hs, eve, room, "my secret words");
    const up = await hs.request<J>("POST", "/_matrix/media/v3/upload?filename=me.txt", {
      token: eve.token,
      rawBody: "eve's file",
      headers: { "content-type": "text/plain" },
    });
    expect(up.status).toBe(200);
    const mediaPath = `/_matrix/client/v1/media/download/${(up.json.content_uri as string).slice("mxc://".length)}`;
    expect((await hs.request("GET", mediaPath, { token: alice.token })).text).toBe("eve's file");
    const d = await adm("POST", `/v1/deactivate/${enc(eve.userId)}`, admin.token, { erase: true });
    expect(d.status).toBe(200);
    expect((await adm("GET", `/v2/users/${enc(eve.userId)}`, admin.token)).json).toMatchObject({ deactivated: true, erased: true, displayname: null });

    const late = await newUser(hs, "latecomer");
    await join(hs, late, room);
    const forLate = await api(hs, "GET", `/rooms/${enc(room)}/event/${enc(said)}`, late.token);
    expect(forLate.status).toBe(200);
    expect(forLate.json.content).toEqual({});
    const page = await api(hs, "GET", `/rooms/${enc(room)}/messages?dir=b&limit=50`, late.token);
    expect(page.json.chunk.some((e: J) => e.content?.body === "my secret words")).toBe(false);
    expect(page.json.chunk.some((e: J) => e.event_id === said)).toBe(true);
    // Erasure deleted the media they uploaded.
    const media = await poll(
      async () => ({ status: (await hs.request("GET", mediaPath, { token: alice.token })).status }),
      (j) => j.status === 404,
    );
    expect(media.status).toBe(404);
    // Alice was in the room when eve spoke.
    const forAlice = await api(hs, "GET", `/rooms/${enc(room)}/event/${enc(said)}`, alice.token);
    expect(forAlice.json.content.body).toBe("my secret words");
  });
});

describe("audit log and trusted proxies", () => {
  it("records admin actions that changed something, for admins only", async () => {
    const log = await adm("GET", "/v1/audit_log?limit=1000", admin.token);
    expect(log.status).toBe(200);
    const actions = log.json.entries.map((e: J) => e.action);
    expect(actions).toContain("POST /_synapse/admin/v1/send_server_notice");
    expect(actions).toContain("DELETE /_synapse/admin/v1/event_reports/:reportId");
    const deact = log.json.entries.find((e: J) => e.action === "POST /_synapse/admin/v1/deactivate/:userId");
    expect(deact).toMatchObject({ user_id: admin.userId, target: { userId: "@eve:localhost" }, status: 200 });
    expect(typeof deact.ts).toBe("number");
    // Reads of personal data are logged; other reads and refused requests are not actions.
    const exported = log.json.entries.find((e: J) => e.action === "GET /_synapse/admin/v1/users/:userId/export");
    expect(exported).toMatchObject({ user_id: admin.userId, target: { userId: "@dora:localhost" } });
    expect(actions.filter((a: string) => a.startsWith("GET ")).every((a: string) => a.endsWith("/export"))).toBe(true);
    expect(log.json.entries.some((e: J) => e.user_id === bob.userId)).toBe(false);
    expect((await adm("GET", "/v1/audit_log", bob.token)).status).toBe(403);
  });

  it("takes the client address from X-Forwarded-For of a trusted proxy", async () => {
    const frank = await newUser(hs, "frank");
    await hs.request("GET", "/_matrix/client/v3/account/whoami", { token: frank.token, headers: { "X-Forwarded-For": "203.0.113.7, 127.0.0.1" } });
    // "Last seen" is written off the request path.
    const devices = await poll(
      async () => (await adm("GET", `/v2/users/${enc(frank.userId)}/devices`, admin.token)).json,
      (j) => j.devices[0].last_seen_ip !== null,
    );
    expect(devices.devices[0].last_seen_ip).toBe("203.0.113.7");
  });
});

describe("invites into blocked rooms", () => {
  it("refuses to invite local users to a blocked room", async () => {
    const r = await createRoom(hs, alice, { preset: "private_chat" });
    await adm("PUT", `/v1/rooms/${enc(r)}/block`, admin.token, { block: true });
    const res = await api(hs, "POST", `/rooms/${enc(r)}/invite`, alice.token, { user_id: bob.userId });
    expect(res.status).toBe(403);
    expect(res.json.errcode).toBe("M_FORBIDDEN");
    await adm("PUT", `/v1/rooms/${enc(r)}/block`, admin.token, { block: false });
    await invite(hs, alice, r, bob.userId);
  });
});
