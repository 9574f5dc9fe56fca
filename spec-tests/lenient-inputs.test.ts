import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type J, registerSession, type Session } from "./accounts-helpers.js";
import type { TestServer } from "./harness.js";
import { enc, startConformanceServer } from "./sync-helpers.js";

// Inputs the spec's schemas allow (or deployed servers accept) that real clients send:
// stored as given, never refused.
let hs: TestServer;
let alice: Session;
let bob: Session;

const v3 = <T = J>(method: string, path: string, token: string | undefined, body?: unknown) =>
  hs.request<T>(method, `/_matrix/client/v3${path}`, { token, body });

beforeAll(async () => {
  hs = await startConformanceServer();
  [alice, bob] = await Promise.all([registerSession(hs, "alice"), registerSession(hs, "bob")]);
}, 60_000);
afterAll(() => hs?.close());

describe("stored as given", () => {
  it("a key backup's auth_data may be any JSON value; a missing one is still refused", async () => {
    const c = await v3("POST", "/room_keys/version", alice.token, { algorithm: "m.megolm_backup.v1", auth_data: "anopaquestring" });
    expect(c.status, JSON.stringify(c.json)).toBe(200);
    const g = await v3("GET", `/room_keys/version/${c.json.version}`, alice.token);
    expect(g.json.auth_data).toBe("anopaquestring");
    const u = await v3("PUT", `/room_keys/version/${c.json.version}`, alice.token, { algorithm: "m.megolm_backup.v1", auth_data: "adifferentopaquestring" });
    expect(u.status).toBe(200);
    expect((await v3("GET", `/room_keys/version/${c.json.version}`, alice.token)).json.auth_data).toBe("adifferentopaquestring");
    const missing = await v3("POST", "/room_keys/version", alice.token, { algorithm: "m.megolm_backup.v1" });
    expect([missing.status, missing.json.errcode]).toEqual([400, "M_BAD_JSON"]);
  });

  it("a pusher's data.format other than event_id_only is stored", async () => {
    const pusher = {
      kind: "http",
      app_id: "sytest",
      app_display_name: "sytest_display_name",
      device_display_name: "device_display_name",
      pushkey: "a_push_key",
      lang: "en",
      data: { url: "https://push.example.org/_matrix/push/v1/notify", format: "id_event_only" },
    };
    const r = await v3("POST", "/pushers/set", alice.token, pusher);
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    const list = await v3("GET", "/pushers", alice.token);
    expect(list.json.pushers[0].data.format).toBe("id_event_only");
  });

  it("POST /publicRooms takes null for fields not given", async () => {
    const r = await v3("POST", "/publicRooms", alice.token, { limit: null, since: null, filter: { generic_search_term: null } });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    expect(Array.isArray(r.json.chunk)).toBe(true);
    const bad = await v3("POST", "/publicRooms", alice.token, { since: 5 });
    expect([bad.status, bad.json.errcode]).toEqual([400, "M_BAD_JSON"]);
  });

  it("a typing PUT without timeout uses the default", async () => {
    const room = (await v3("POST", "/createRoom", alice.token, {})).json.room_id as string;
    const r = await v3("PUT", `/rooms/${enc(room)}/typing/${enc(alice.userId)}`, alice.token, { typing: true });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    const s = await v3("GET", "/sync", alice.token);
    const typing = (s.json.rooms.join[room].ephemeral.events as J[]).find((e) => e.type === "m.typing");
    expect(typing?.content.user_ids).toEqual([alice.userId]);
  });

  it("custom keys of a join request stay in the member event; reserved ones do not", async () => {
    const room = (await v3("POST", "/createRoom", alice.token, { preset: "public_chat", room_alias_name: "custom" })).json.room_id as string;
    const j = await v3("POST", `/join/${enc(room)}`, bob.token, { foo: "bar", membership: "leave", reason: "hello" });
    expect(j.status).toBe(200);
    const m = await v3("GET", `/rooms/${enc(room)}/state/m.room.member/${enc(bob.userId)}`, bob.token);
    expect(m.json.foo).toBe("bar");
    expect(m.json.membership).toBe("join");
    expect(m.json.reason).toBe("hello");
    await v3("POST", `/rooms/${enc(room)}/leave`, bob.token, {});
    const byAlias = await v3("POST", `/join/${enc("#custom:localhost")}`, bob.token, { foo: "baz" });
    expect(byAlias.status).toBe(200);
    expect((await v3("GET", `/rooms/${enc(room)}/state/m.room.member/${enc(bob.userId)}`, bob.token)).json.foo).toBe("baz");
  });
});
