import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "./harness.js";
import { api, createRoom, enc, join, newUser, send, type J, type TestUser } from "./sync-helpers.js";

// Push rules ("Push Rules: API", "Push Rules: Events") and pushers, black-box.
let hs: TestServer;
let alice: TestUser;
let bob: TestUser;

beforeAll(async () => {
  hs = await startTestServer({ registration: { enabled: true }, password_policy: { scrypt_cost: 1024 } });
  alice = await newUser(hs, "pr_alice");
  bob = await newUser(hs, "pr_bob");
});
afterAll(async () => {
  await hs?.close();
});

const ids = (list: J[]) => list.map((r) => r.rule_id as string);

describe("push rules", () => {
  it("serves the spec's default ruleset under /pushrules/ and /pushrules/global/", async () => {
    const all = await api(hs, "GET", "/pushrules/", alice.token);
    expect(all.status).toBe(200);
    const g = all.json.global as J;
    expect(Object.keys(g).sort()).toEqual(["content", "override", "room", "sender", "underride"]);
    expect(ids(g.override)).toEqual([
      ".m.rule.master",
      ".m.rule.suppress_notices",
      ".m.rule.invite_for_me",
      ".m.rule.member_event",
      ".m.rule.is_user_mention",
      ".m.rule.is_room_mention",
      ".m.rule.tombstone",
      ".m.rule.reaction",
      ".m.rule.room.server_acl",
      ".m.rule.suppress_edits",
    ]);
    expect(ids(g.underride)).toEqual([".m.rule.call", ".m.rule.encrypted_room_one_to_one", ".m.rule.room_one_to_one", ".m.rule.message", ".m.rule.encrypted"]);
    const invite = (g.override as J[]).find((r) => r.rule_id === ".m.rule.invite_for_me")!;
    expect(invite.conditions[2]).toEqual({ kind: "event_match", key: "state_key", pattern: alice.userId });
    const global = await api(hs, "GET", "/pushrules/global/", alice.token);
    expect(global.json).toEqual(g);
    const one = await api(hs, "GET", "/pushrules/global/override/.m.rule.master", alice.token);
    expect(one.json).toEqual({ rule_id: ".m.rule.master", default: true, enabled: false, conditions: [], actions: [] });
    expect((await hs.request("GET", "/_matrix/client/v3/pushrules/")).status).toBe(401);
  });

  it("creates, orders, reads and deletes user rules", async () => {
    const put = (kind: string, id: string, body: J, q = "") => api(hs, "PUT", `/pushrules/global/${kind}/${enc(id)}${q}`, alice.token, body);
    const cond = [{ kind: "event_match", key: "content.body", pattern: "beer" }];
    expect((await put("override", "a", { actions: ["notify"], conditions: cond })).status).toBe(200);
    expect((await put("override", "b", { actions: ["notify"], conditions: cond })).status).toBe(200);
    expect((await put("override", "c", { actions: [], conditions: cond }, "?after=a")).status).toBe(200);
    expect((await put("override", "d", { actions: [], conditions: cond }, "?before=b")).status).toBe(200);
    const g = (await api(hs, "GET", "/pushrules/global/", alice.token)).json;
    expect(ids(g.override).slice(0, 6)).toEqual([".m.rule.master", "d", "b", "a", "c", ".m.rule.suppress_notices"]);

    expect((await put("room", "!room:example.org", { actions: [] })).status).toBe(200);
    expect((await put("content", "cake", { pattern: "cake*lie", actions: ["notify", { set_tweak: "sound", value: "cakealarm.wav" }] })).status).toBe(200);
    const room = await api(hs, "GET", `/pushrules/global/room/${enc("!room:example.org")}`, alice.token);
    expect(room.json).toEqual({ rule_id: "!room:example.org", default: false, enabled: true, actions: [] });
    const cake = await api(hs, "GET", "/pushrules/global/content/cake", alice.token);
    expect(cake.json).toEqual({ rule_id: "cake", default: false, enabled: true, pattern: "cake*lie", actions: ["notify", { set_tweak: "sound", value: "cakealarm.wav" }] });

    expect((await api(hs, "DELETE", "/pushrules/global/override/b", alice.token)).status).toBe(200);
    const gone = await api(hs, "GET", "/pushrules/global/override/b", alice.token);
    expect([gone.status, gone.json.errcode]).toEqual([404, "M_NOT_FOUND"]);
    // Bob's rules are his own.
    expect(ids((await api(hs, "GET", "/pushrules/global/", bob.token)).json.override)).not.toContain("a");
  });

  it("enables, disables and changes actions of user and default rules", async () => {
    const base = "/pushrules/global/override/.m.rule.master";
    expect((await api(hs, "PUT", `${base}/enabled`, alice.token, { enabled: true })).status).toBe(200);
    expect((await api(hs, "GET", `${base}/enabled`, alice.token)).json).toEqual({ enabled: true });
    expect((await api(hs, "PUT", `${base}/enabled`, alice.token, { enabled: false })).status).toBe(200);
    expect((await api(hs, "GET", `${base}/enabled`, alice.token)).json).toEqual({ enabled: false });

    const msg = "/pushrules/global/underride/.m.rule.message";
    expect((await api(hs, "PUT", `${msg}/actions`, alice.token, { actions: ["notify", { set_tweak: "sound", value: "x" }] })).status).toBe(200);
    expect((await api(hs, "GET", `${msg}/actions`, alice.token)).json).toEqual({ actions: ["notify", { set_tweak: "sound", value: "x" }] });
    const rule = (await api(hs, "GET", msg, alice.token)).json;
    expect(rule.default).toBe(true);

    expect((await api(hs, "PUT", "/pushrules/global/override/a/enabled", alice.token, { enabled: false })).status).toBe(200);
    expect((await api(hs, "GET", "/pushrules/global/override/a", alice.token)).json.enabled).toBe(false);
    // Replacing a rule keeps its enabled flag.
    await api(hs, "PUT", "/pushrules/global/override/a", alice.token, { actions: [], conditions: [] });
    expect((await api(hs, "GET", "/pushrules/global/override/a/enabled", alice.token)).json).toEqual({ enabled: false });
  });

  it("refuses bad requests with the spec's errors and changes nothing", async () => {
    const before = (await api(hs, "GET", "/pushrules/", alice.token)).json;
    const expectErr = async (p: Promise<{ status: number; json: J }>, status: number, errcode: string) => {
      const r = await p;
      expect([r.status, r.json.errcode], JSON.stringify(r.json)).toEqual([status, errcode]);
    };
    await expectErr(api(hs, "PUT", "/pushrules/global/override/.m.rule.master", alice.token, { actions: [] }), 400, "M_INVALID_PARAM");
    await expectErr(api(hs, "PUT", "/pushrules/global/override/.custom", alice.token, { actions: [] }), 400, "M_INVALID_PARAM");
    await expectErr(api(hs, "DELETE", "/pushrules/global/override/.m.rule.master", alice.token), 400, "M_INVALID_PARAM");
    await expectErr(api(hs, "PUT", `/pushrules/global/override/${enc("a\\b")}`, alice.token, { actions: [] }), 400, "M_INVALID_PARAM");
    await expectErr(api(hs, "PUT", "/pushrules/global/nokind/x", alice.token, { actions: [] }), 400, "M_INVALID_PARAM");
    await expectErr(api(hs, "PUT", "/pushrules/device/override/x", alice.token, { actions: [] }), 400, "M_INVALID_PARAM");
    await expectErr(api(hs, "PUT", "/pushrules/global/override/x?before=nope", alice.token, { actions: [] }), 400, "M_UNKNOWN");
    await expectErr(api(hs, "PUT", "/pushrules/global/override/x", alice.token, {}), 400, "M_BAD_JSON");
    await expectErr(api(hs, "PUT", "/pushrules/global/override/x", alice.token, { actions: ["explode"] }), 400, "M_BAD_JSON");
    await expectErr(api(hs, "PUT", "/pushrules/global/content/x", alice.token, { actions: [] }), 400, "M_MISSING_PARAM");
    await expectErr(api(hs, "PUT", "/pushrules/global/override/a/enabled", alice.token, { enabled: "yes" }), 400, "M_BAD_JSON");
    await expectErr(api(hs, "GET", "/pushrules/global/override/nope", alice.token), 404, "M_NOT_FOUND");
    await expectErr(api(hs, "DELETE", "/pushrules/global/override/nope", alice.token), 404, "M_NOT_FOUND");
    await expectErr(api(hs, "PUT", "/pushrules/global/override/nope/enabled", alice.token, { enabled: true }), 404, "M_NOT_FOUND");
    await expectErr(api(hs, "PUT", "/pushrules/global/override/.m.rule.nope/actions", alice.token, { actions: [] }), 404, "M_NOT_FOUND");
    await expectErr(api(hs, "GET", "/pushrules/global/override/nope/actions", alice.token), 404, "M_NOT_FOUND");
    expect((await api(hs, "GET", "/pushrules/", alice.token)).json).toEqual(before);
  });

  it("an initial sync carries the default m.push_rules, and a change reaches /sync", async () => {
    const carol = await newUser(hs, "pr_carol");
    const initial = await api(hs, "GET", "/sync?timeout=0", carol.token);
    const pr = (initial.json.account_data.events as J[]).find((e) => e.type === "m.push_rules");
    expect(pr?.content.global.override[0].rule_id).toBe(".m.rule.master");
    expect(pr?.content).toEqual((await api(hs, "GET", "/pushrules/", carol.token)).json);

    const since = initial.json.next_batch as string;
    const pending = api(hs, "GET", `/sync?timeout=10000&since=${enc(since)}`, carol.token);
    await new Promise((r) => setTimeout(r, 200));
    expect((await api(hs, "PUT", `/pushrules/global/sender/${enc(bob.userId)}`, carol.token, { actions: [] })).status).toBe(200);
    const next = await pending;
    const changed = (next.json.account_data.events as J[]).find((e) => e.type === "m.push_rules");
    expect(changed?.content.global.sender).toEqual([{ rule_id: bob.userId, default: false, enabled: true, actions: [] }]);

    // A later initial sync serves the changed rules once.
    const again = await api(hs, "GET", "/sync?timeout=0", carol.token);
    const list = (again.json.account_data.events as J[]).filter((e) => e.type === "m.push_rules");
    expect(list).toHaveLength(1);
    expect(list[0]!.content.global.sender).toHaveLength(1);
  });
});

describe("unread notification counts in /sync", () => {
  it("counts notifying and highlighted events after the read receipt", async () => {
    const dave = await newUser(hs, "pr_dave");
    const erin = await newUser(hs, "pr_erin");
    const roomId = await createRoom(hs, dave, { preset: "public_chat" });
    await join(hs, erin, roomId);
    const unread = async () => {
      const r = await api(hs, "GET", "/sync?timeout=0", dave.token);
      return r.json.rooms.join[roomId].unread_notifications as J;
    };
    expect(await unread()).toEqual({ notification_count: 0, highlight_count: 0 });

    await send(hs, erin, roomId, "hello");
    const notice = await api(hs, "PUT", `/rooms/${enc(roomId)}/send/m.room.message/n1`, erin.token, { msgtype: "m.notice", body: "bot says" });
    expect(notice.status).toBe(200);
    const mention = await api(hs, "PUT", `/rooms/${enc(roomId)}/send/m.room.message/m1`, erin.token, {
      msgtype: "m.text",
      body: "dave, look",
      "m.mentions": { user_ids: [dave.userId] },
    });
    expect(mention.status).toBe(200);
    expect(await unread()).toEqual({ notification_count: 2, highlight_count: 1 });

    // Verdicts are taken when an event arrives: a room rule silences the room's later plain
    // messages (what was already counted stays); a mention (an override rule) still counts.
    await api(hs, "PUT", `/pushrules/global/room/${enc(roomId)}`, dave.token, { actions: [] });
    expect(await unread()).toEqual({ notification_count: 2, highlight_count: 1 });
    await send(hs, erin, roomId, "muted");
    expect(await unread()).toEqual({ notification_count: 2, highlight_count: 1 });
    const mention2 = await api(hs, "PUT", `/rooms/${enc(roomId)}/send/m.room.message/m2`, erin.token, {
      msgtype: "m.text",
      body: "dave!",
      "m.mentions": { user_ids: [dave.userId] },
    });
    expect(mention2.status).toBe(200);
    expect(await unread()).toEqual({ notification_count: 3, highlight_count: 2 });
    await api(hs, "DELETE", `/pushrules/global/room/${enc(roomId)}`, dave.token);
    await send(hs, erin, roomId, "loud again");
    expect((await unread()).notification_count).toBe(4);

    // Reading up to the mention clears the counts, and the incremental sync carries that.
    const since = (await api(hs, "GET", "/sync?timeout=0", dave.token)).json.next_batch as string;
    const lastId = await send(hs, erin, roomId, "last");
    const rr = await api(hs, "POST", `/rooms/${enc(roomId)}/receipt/m.read/${enc(lastId)}`, dave.token, {});
    expect(rr.status).toBe(200);
    const inc = await api(hs, "GET", `/sync?timeout=5000&since=${enc(since)}`, dave.token);
    expect(inc.json.rooms.join[roomId].unread_notifications).toEqual({ notification_count: 0, highlight_count: 0 });

    // A new message counts again; the user's own message marks everything before it read.
    const since2 = inc.json.next_batch as string;
    await send(hs, erin, roomId, "more");
    const inc2 = await api(hs, "GET", `/sync?timeout=5000&since=${enc(since2)}`, dave.token);
    expect(inc2.json.rooms.join[roomId].unread_notifications).toEqual({ notification_count: 1, highlight_count: 0 });
    await send(hs, dave, roomId, "my reply");
    expect(await unread()).toEqual({ notification_count: 0, highlight_count: 0 });

    // @room highlights when the sender has the notifications.room power level (the creator here).
    const atRoom = await api(hs, "PUT", `/rooms/${enc(roomId)}/send/m.room.message/r1`, dave.token, { msgtype: "m.text", body: "all", "m.mentions": { room: true } });
    expect(atRoom.status).toBe(200);
    const erinSync = await api(hs, "GET", "/sync?timeout=0", erin.token);
    expect(erinSync.json.rooms.join[roomId].unread_notifications).toEqual({ notification_count: 2, highlight_count: 1 });
    // ... and does not from a sender below it.
    await api(hs, "PUT", `/rooms/${enc(roomId)}/send/m.room.message/r2`, erin.token, { msgtype: "m.text", body: "all", "m.mentions": { room: true } });
    expect(await unread()).toEqual({ notification_count: 1, highlight_count: 0 });
  });
});

describe("pushers", () => {
  const pusher = (extra: J = {}): J => ({
    kind: "http",
    app_id: "com.example.app.ios",
    pushkey: "key1",
    app_display_name: "Example",
    device_display_name: "Phone",
    lang: "en",
    data: { url: "https://push.example.org/_matrix/push/v1/notify", format: "event_id_only" },
    ...extra,
  });

  it("sets, lists, replaces and deletes pushers", async () => {
    expect((await api(hs, "GET", "/pushers", alice.token)).json).toEqual({ pushers: [] });
    expect((await api(hs, "POST", "/pushers/set", alice.token, pusher({ profile_tag: "xyz" }))).status).toBe(200);
    const list = (await api(hs, "GET", "/pushers", alice.token)).json.pushers as J[];
    expect(list).toEqual([
      {
        pushkey: "key1",
        kind: "http",
        app_id: "com.example.app.ios",
        app_display_name: "Example",
        device_display_name: "Phone",
        profile_tag: "xyz",
        lang: "en",
        data: { url: "https://push.example.org/_matrix/push/v1/notify", format: "event_id_only" },
      },
    ]);
    // Same app_id and pushkey: updated in place.
    await api(hs, "POST", "/pushers/set", alice.token, pusher({ device_display_name: "New phone" }));
    const updated = (await api(hs, "GET", "/pushers", alice.token)).json.pushers as J[];
    expect(updated.map((p) => p.device_display_name)).toEqual(["New phone"]);

    // Another user registering the same pushkey takes it over unless append is true.
    await api(hs, "POST", "/pushers/set", bob.token, pusher({ append: true }));
    expect((await api(hs, "GET", "/pushers", alice.token)).json.pushers).toHaveLength(1);
    await api(hs, "POST", "/pushers/set", bob.token, pusher());
    expect((await api(hs, "GET", "/pushers", alice.token)).json.pushers).toHaveLength(0);
    expect((await api(hs, "GET", "/pushers", bob.token)).json.pushers).toHaveLength(1);

    expect((await api(hs, "POST", "/pushers/set", bob.token, { kind: null, app_id: "com.example.app.ios", pushkey: "key1" })).status).toBe(200);
    expect((await api(hs, "GET", "/pushers", bob.token)).json.pushers).toEqual([]);
  });

  it("refuses invalid pushers", async () => {
    const expectErr = async (body: J, errcode: string) => {
      const r = await api(hs, "POST", "/pushers/set", alice.token, body);
      expect([r.status, r.json.errcode], JSON.stringify(r.json)).toEqual([400, errcode]);
    };
    await expectErr(pusher({ data: {} }), "M_INVALID_PARAM");
    await expectErr(pusher({ data: { url: "not a url" } }), "M_INVALID_PARAM");
    await expectErr(pusher({ data: { url: "https://push.example.org/other" } }), "M_INVALID_PARAM");
    await expectErr({ kind: "http", app_id: "a", pushkey: "k" }, "M_MISSING_PARAM");
    await expectErr({ app_id: "a", pushkey: "k" }, "M_MISSING_PARAM");
    await expectErr(pusher({ app_id: "x".repeat(65) }), "M_INVALID_PARAM");
    expect((await api(hs, "GET", "/pushers", alice.token)).json.pushers).toEqual([]);
  });
});
