import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type J, login, registerSession, registerUser, type Session } from "./accounts-helpers.js";
import type { TestServer } from "./harness.js";
import { enc, startConformanceServer } from "./sync-helpers.js";

// Push rules, pushers and notifications as clients and conformance suites check them.
let hs: TestServer;
let alice: Session;
let bob: Session;

const v3 = <T = J>(method: string, path: string, token: string | undefined, body?: unknown) =>
  hs.request<T>(method, `/_matrix/client/v3${path}`, { token, body });
const PW = "correct horse";

const pusher = (pushkey: string) => ({
  kind: "http",
  app_id: "sytest",
  app_display_name: "sytest_display_name",
  device_display_name: "device_display_name",
  pushkey,
  lang: "en",
  profile_tag: "tag",
  data: { url: "https://dummy.url/_matrix/push/v1/notify" },
});

beforeAll(async () => {
  hs = await startConformanceServer();
  [alice, bob] = await Promise.all([registerSession(hs, "alice"), registerSession(hs, "bob")]);
}, 60_000);
afterAll(() => hs?.close());

describe("push rule actions", () => {
  it("every default rule's actions can be set, and read back exactly (dont_notify kept)", async () => {
    const rules = (await v3("GET", "/pushrules/", alice.token)).json.global as Record<string, J[]>;
    for (const [kind, list] of Object.entries(rules)) {
      for (const rule of list) {
        const path = `/pushrules/global/${kind}/${enc(rule.rule_id)}/actions`;
        expect((await v3("PUT", path, alice.token, { actions: ["dont_notify"] })).status, rule.rule_id).toBe(200);
        expect((await v3("GET", path, alice.token)).json).toEqual({ actions: ["dont_notify"] });
      }
    }
    const own = await v3("PUT", `/pushrules/global/sender/${enc("@bob:example.com")}`, alice.token, { actions: ["notify"] });
    expect(own.status).toBe(200);
    await v3("PUT", `/pushrules/global/sender/${enc("@bob:example.com")}/actions`, alice.token, { actions: ["dont_notify"] });
    expect((await v3("GET", `/pushrules/global/sender/${enc("@bob:example.com")}/actions`, alice.token)).json.actions).toEqual(["dont_notify"]);
    const unknown = await v3("PUT", "/pushrules/global/override/.not.a.default.rule/actions", alice.token, { actions: ["notify"] });
    expect(unknown.status).toBe(404);
  });
});

describe("push rule paths", () => {
  it("answers the grammar's paths only: 404 without the trailing slash, 400 for missing or unknown parts", async () => {
    expect((await v3("GET", "/pushrules", bob.token)).status).toBe(404);
    expect((await v3("GET", "/pushrules/", bob.token)).status).toBe(200);
    expect((await v3("GET", "/pushrules/global/", bob.token)).status).toBe(200);
    for (const path of ["/global", "/global/room", "/not_a_scope/", "/global/not_a_template/", "/global/override/.m.rule.master/not_an_attr"]) {
      expect((await v3("GET", `/pushrules${path}`, bob.token)).status, `GET ${path}`).toBe(400);
    }
    const puts: Array<[string, J]> = [
      ["/", {}],
      ["/not_a_scope/room/#spam:example.com", {}],
      ["/global", {}],
      ["/global/room", {}],
      ["/global/room/", {}],
      ["/global/not_a_template/foo", {}],
      [`/global/room/${enc("#fo\\o:example.com")}`, { actions: ["notify"] }],
      ["/global/override/my_id", {}],
      ["/global/underride/my_id", { actions: ["notify"], conditions: [{}] }],
      ["/global/content/my_id", { actions: ["notify"] }],
      ["/global/room/my_room", {}],
      ["/global/room/my_room", { actions: ["not_an_action"] }],
      ["/global/override/.m.rule.master/not_an_attr", { enabled: true }],
      ["/global/override/.m.rule.master/enabled", { enabled: "not a boolean" }],
    ];
    for (const [path, body] of puts) {
      expect((await v3("PUT", `/pushrules${path}`, bob.token, body)).status, `PUT ${path}`).toBe(400);
    }
    expect((await v3("GET", "/pushrules/global/override/not_a_rule_id", bob.token)).status).toBe(404);
    // Nothing of that changed the ruleset.
    expect((await v3("GET", "/pushrules/global/room/", bob.token)).json).toEqual([]);
  });
});

describe("pushers", () => {
  it("a password change that logs out other sessions deletes their pushers, not the caller's", async () => {
    await registerUser(hs, "carol", PW);
    const first = await login(hs, "carol", PW);
    const second = await login(hs, "carol", PW);
    expect((await v3("POST", "/pushers/set", second.access_token, pusher("other-key"))).status).toBe(200);
    expect((await v3("POST", "/pushers/set", first.access_token, pusher("own-key"))).status).toBe(200);
    expect((await v3("GET", "/pushers", first.access_token)).json.pushers).toHaveLength(2);
    const change = await v3("POST", "/account/password", first.access_token, {
      new_password: "my new password",
      auth: { type: "m.login.password", identifier: { type: "m.id.user", user: first.user_id }, password: PW },
    });
    expect(change.status, JSON.stringify(change.json)).toBe(200);
    const left = (await v3("GET", "/pushers", first.access_token)).json.pushers as J[];
    expect(left.map((p) => p.pushkey)).toEqual(["own-key"]);
    expect(left[0]).not.toHaveProperty("device_id");
  });
});

describe("GET /notifications", () => {
  it("lists the events that notified, newest first, with read flags, highlights and paging", async () => {
    const room = (await v3("POST", "/createRoom", alice.token, { preset: "public_chat" })).json.room_id as string;
    expect((await v3("POST", `/join/${enc(room)}`, bob.token, {})).status).toBe(200);
    // Alice's actions edits above made every default rule dont_notify; a content rule notifies again.
    expect((await v3("PUT", "/pushrules/global/content/anything", alice.token, { pattern: "*", actions: ["notify"] })).status).toBe(200);
    const ids: string[] = [];
    for (let i = 1; i <= 3; i++) {
      const r = await v3("PUT", `/rooms/${enc(room)}/send/m.room.message/n${i}`, bob.token, { msgtype: "m.text", body: `Test message ${i}` });
      ids.push(r.json.event_id as string);
    }
    await v3("POST", `/rooms/${enc(room)}/receipt/m.read/${enc(ids[0]!)}`, alice.token, {});
    const r = await v3("GET", "/notifications", alice.token);
    expect(r.status).toBe(200);
    const mine = (r.json.notifications as J[]).filter((n) => n.room_id === room);
    expect(mine.map((n) => n.event.event_id)).toEqual([ids[2], ids[1], ids[0]]);
    expect(mine.map((n) => n.read)).toEqual([false, false, true]);
    expect(mine[0]).toMatchObject({ room_id: room, actions: ["notify"], profile_tag: null });
    expect(mine[0]!.event.content.body).toBe("Test message 3");
    expect(typeof mine[0]!.ts).toBe("number");

    const page = await v3("GET", "/notifications?limit=1", alice.token);
    expect(page.json.notifications).toHaveLength(1);
    const next = await v3("GET", `/notifications?limit=1&from=${page.json.next_token}`, alice.token);
    expect(next.json.notifications[0].event.event_id).toBe(ids[1]);
    expect((await v3("GET", "/notifications?only=highlight", alice.token)).json.notifications).toEqual([]);
    expect((await v3("GET", "/notifications?from=abc", alice.token)).status).toBe(400);
    // Own events never notify.
    expect(((await v3("GET", "/notifications", bob.token)).json.notifications as J[]).filter((n) => n.event.sender === bob.userId)).toEqual([]);
  });
});
