import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sharedSecretRegister, type J, registerSession, type Session } from "./accounts-helpers.js";
import { startTestServer, type TestServer } from "./harness.js";

let hs: TestServer;
type U = Session;
let alice: U;
let bob: U;
let carol: U;
let roomId: string;

const enc = encodeURIComponent;

const user = (name: string): Promise<U> => registerSession(hs, name);

const v3 = <T = J>(method: string, path: string, token: string, body?: unknown) =>
  hs.request<T>(method, `/_matrix/client/v3${path}`, { token, body });
const v1 = <T = J>(path: string, token: string) => hs.request<T>("GET", `/_matrix/client/v1${path}`, { token });

let txn = 0;
async function say(u: U, body: string): Promise<string> {
  const r = await v3("PUT", `/rooms/${enc(roomId)}/send/m.room.message/t${++txn}`, u.token, { msgtype: "m.text", body });
  expect(r.status, JSON.stringify(r.json)).toBe(200);
  return r.json.event_id as string;
}

beforeAll(async () => {
  hs = await startTestServer({ registration: { enabled: true, shared_secret: "s3cret" }, password_policy: { scrypt_cost: 1024 } });
  [alice, bob, carol] = await Promise.all([user("alice"), user("bob"), user("carol")]);
  roomId = (await v3("POST", "/createRoom", alice.token, { preset: "public_chat" })).json.room_id;
  for (const u of [bob, carol]) expect((await v3("POST", `/join/${enc(roomId)}`, u.token, {})).status).toBe(200);
}, 60_000);
afterAll(() => hs?.close());

describe("reporting content", () => {
  it("stores event, room and user reports for admins", async () => {
    const ev = await say(carol, "spam spam spam");
    const r1 = await v3("POST", `/rooms/${enc(roomId)}/report/${enc(ev)}`, bob.token, { reason: "spam", score: -100 });
    expect(r1.status).toBe(200);
    expect(r1.json).toEqual({});
    expect((await v3("POST", `/rooms/${enc(roomId)}/report`, bob.token, { reason: "bad room" })).status).toBe(200);
    expect((await v3("POST", `/users/${enc(carol.userId)}/report`, bob.token, { reason: "spammer" })).status).toBe(200);

    const admin = await sharedSecretRegister(hs, "s3cret", "boss", "correct horse battery", true);
    const list = await hs.request("GET", "/_synapse/admin/v1/event_reports", { token: admin.access_token as string });
    expect(list.status).toBe(200);
    expect(list.json.total).toBe(3);
    const kinds = (list.json.event_reports as J[]).map((r) => [r.kind, r.user_id, r.reason]);
    expect(kinds).toEqual(
      expect.arrayContaining([
        ["event", bob.userId, "spam"],
        ["room", bob.userId, "bad room"],
        ["user", bob.userId, "spammer"],
      ]),
    );
    expect((list.json.event_reports as J[]).find((r) => r.kind === "event")!.event_id).toBe(ev);
    const notAdmin = await hs.request("GET", "/_synapse/admin/v1/event_reports", { token: bob.token });
    expect(notAdmin.status).toBe(403);
    expect(notAdmin.json.errcode).toBe("M_FORBIDDEN");
  });

  it("refuses unknown targets and non-members with 404 M_NOT_FOUND, bad bodies with M_BAD_JSON", async () => {
    const ev = await say(alice, "hello");
    const outsider = await user("dave");
    const cases = [
      await v3("POST", `/rooms/${enc(roomId)}/report/${enc("$unknown")}`, bob.token, { reason: "x" }),
      await v3("POST", `/rooms/${enc(roomId)}/report/${enc(ev)}`, outsider.token, { reason: "x" }),
      await v3("POST", `/rooms/${enc("!nope:localhost")}/report`, bob.token, { reason: "x" }),
      await v3("POST", `/users/${enc("@ghost:localhost")}/report`, bob.token, { reason: "x" }),
    ];
    for (const r of cases) {
      expect(r.status).toBe(404);
      expect(r.json.errcode).toBe("M_NOT_FOUND");
    }
    // Rooms may be reported without being joined.
    expect((await v3("POST", `/rooms/${enc(roomId)}/report`, outsider.token, { reason: "x" })).status).toBe(200);
    const missing = await v3("POST", `/rooms/${enc(roomId)}/report`, bob.token, {});
    expect(missing.status).toBe(400);
    expect(missing.json.errcode).toBe("M_BAD_JSON");
  });
});

describe("ignoring users", () => {
  it("hides an ignored user's messages from /messages and /context, not their state", async () => {
    const before = await say(alice, "before");
    const spam = await say(carol, "ignored message");
    const after = await say(alice, "after");
    await v3("PUT", `/rooms/${enc(roomId)}/state/m.room.topic`, alice.token, { topic: "topic" });
    const put = await v3("PUT", `/user/${enc(bob.userId)}/account_data/m.ignored_user_list`, bob.token, { ignored_users: { [carol.userId]: {} } });
    expect(put.status).toBe(200);
    const m = await v3("GET", `/rooms/${enc(roomId)}/messages?dir=b&limit=50`, bob.token);
    const ids = (m.json.chunk as J[]).map((e) => e.event_id);
    expect(ids).toContain(before);
    expect(ids).toContain(after);
    expect(ids).not.toContain(spam);
    // carol's join (state) is still there.
    expect((m.json.chunk as J[]).some((e) => e.type === "m.room.member" && e.state_key === carol.userId)).toBe(true);
    const c = await v3("GET", `/rooms/${enc(roomId)}/context/${enc(after)}?limit=4`, bob.token);
    expect((c.json.events_before as J[]).map((e) => e.event_id)).not.toContain(spam);
    // Alice, who ignores nobody, still sees it.
    const am = await v3("GET", `/rooms/${enc(roomId)}/messages?dir=b&limit=50`, alice.token);
    expect((am.json.chunk as J[]).map((e) => e.event_id)).toContain(spam);
    await v3("PUT", `/user/${enc(bob.userId)}/account_data/m.ignored_user_list`, bob.token, { ignored_users: {} });
    const again = await v3("GET", `/rooms/${enc(roomId)}/messages?dir=b&limit=50`, bob.token);
    expect((again.json.chunk as J[]).map((e) => e.event_id)).toContain(spam);
  });
});

describe("GET /timestamp_to_event", () => {
  it("finds the closest event in either direction", async () => {
    const first = await say(alice, "t1");
    const firstTs = (await v3("GET", `/rooms/${enc(roomId)}/event/${enc(first)}`, bob.token)).json.origin_server_ts as number;
    await new Promise((r) => setTimeout(r, 5));
    const second = await say(alice, "t2");
    const secondTs = (await v3("GET", `/rooms/${enc(roomId)}/event/${enc(second)}`, bob.token)).json.origin_server_ts as number;
    const f = await v1(`/rooms/${enc(roomId)}/timestamp_to_event?ts=${firstTs + 1}&dir=f`, bob.token);
    expect(f.status).toBe(200);
    expect(f.json).toEqual({ event_id: second, origin_server_ts: secondTs });
    const b = await v1(`/rooms/${enc(roomId)}/timestamp_to_event?ts=${secondTs - 1}&dir=b`, bob.token);
    expect(b.json.event_id).toBe(first);
    const none = await v1(`/rooms/${enc(roomId)}/timestamp_to_event?ts=${secondTs + 60_000}&dir=f`, bob.token);
    expect(none.status).toBe(404);
    expect(none.json.errcode).toBe("M_NOT_FOUND");
    const bad = await v1(`/rooms/${enc(roomId)}/timestamp_to_event?ts=soon&dir=f`, bob.token);
    expect(bad.status).toBe(400);
    const outsider = await user("erin");
    const priv = (await v3("POST", "/createRoom", alice.token, { preset: "private_chat" })).json.room_id;
    const refused = await v1(`/rooms/${enc(priv)}/timestamp_to_event?ts=0&dir=f`, outsider.token);
    expect(refused.status).toBe(403);
    expect(refused.json.errcode).toBe("M_FORBIDDEN");
  });
});

describe("GET /v1/mutual_rooms", () => {
  it("lists the rooms both users are joined to", async () => {
    const other = (await v3("POST", "/createRoom", alice.token, { preset: "public_chat" })).json.room_id as string;
    await v3("POST", "/createRoom", alice.token, { preset: "private_chat" });
    expect((await v3("POST", `/join/${enc(other)}`, bob.token, {})).status).toBe(200);
    const r = await hs.request("GET", `/_matrix/client/v1/mutual_rooms?user_id=${enc(alice.userId)}`, { token: bob.token });
    expect(r.status).toBe(200);
    expect([...(r.json.joined as string[])].sort()).toEqual([roomId, other].sort());
    expect(r.json.count).toBe(2);
    expect(r.json.next_batch).toBeUndefined();
    const nobody = await hs.request("GET", `/_matrix/client/v1/mutual_rooms?user_id=${enc("@nobody:localhost")}`, { token: bob.token });
    expect(nobody.json).toEqual({ joined: [], count: 0 });
    for (const q of [`user_id=${enc(bob.userId)}`, "user_id=notauser", `user_id=${enc(alice.userId)}&from=zzz`]) {
      const bad = await hs.request("GET", `/_matrix/client/v1/mutual_rooms?${q}`, { token: bob.token });
      expect(bad.status).toBe(400);
      expect(bad.json.errcode).toBe("M_INVALID_PARAM");
    }
  });
});
