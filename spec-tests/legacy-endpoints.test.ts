import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type J, registerSession, type Session } from "./accounts-helpers.js";
import { startTestServer, type TestServer } from "./harness.js";

// The deprecated endpoints of earlier client-server API versions that deployed
// clients, bots and test suites still call, and the exact forms they expect.
let hs: TestServer;
let alice: Session;
let bob: Session;
let guest: Session;

const enc = encodeURIComponent;
const v3 = <T = J>(method: string, path: string, token: string | undefined, body?: unknown) =>
  hs.request<T>(method, `/_matrix/client/v3${path}`, { token, body });
const r0 = <T = J>(method: string, path: string, token: string | undefined, body?: unknown) =>
  hs.request<T>(method, `/_matrix/client/r0${path}`, { token, body });

async function createRoom(u: Session, body: J = {}): Promise<string> {
  const r = await v3("POST", "/createRoom", u.token, body);
  expect(r.status, JSON.stringify(r.json)).toBe(200);
  return r.json.room_id as string;
}

async function say(u: Session, roomId: string, body: string): Promise<string> {
  const r = await r0("POST", `/rooms/${enc(roomId)}/send/m.room.message`, u.token, { msgtype: "m.text", body });
  expect(r.status, JSON.stringify(r.json)).toBe(200);
  return r.json.event_id as string;
}

async function flush(u: Session): Promise<string> {
  const r = await r0("GET", "/events?timeout=0", u.token);
  expect(r.status, JSON.stringify(r.json)).toBe(200);
  return r.json.end as string;
}

beforeAll(async () => {
  hs = await startTestServer({ registration: { enabled: true, allow_guests: true }, password_policy: { scrypt_cost: 1024 } });
  [alice, bob] = await Promise.all([registerSession(hs, "alice"), registerSession(hs, "bob")]);
  const g = await hs.request<J>("POST", "/_matrix/client/v3/register?kind=guest", { body: {} });
  guest = { token: g.json.access_token as string, userId: g.json.user_id as string, deviceId: g.json.device_id as string };
}, 60_000);
afterAll(() => hs?.close());

describe("response headers", () => {
  it("JSON answers carry exactly application/json", async () => {
    const ok = await hs.request("GET", "/_matrix/client/versions");
    expect(ok.headers.get("content-type")).toBe("application/json");
    const err = await v3("POST", "/register", undefined, { username: "x" });
    expect(err.status).toBe(401);
    expect(err.headers.get("content-type")).toBe("application/json");
  });
});

describe("r0 sends without a transaction id", () => {
  it("POST /rooms/{roomId}/send/{eventType} sends a new event each time", async () => {
    const room = await createRoom(alice);
    const a = await say(alice, room, "one");
    const b = await say(alice, room, "one");
    expect(a).not.toBe(b);
    const ev = await v3("GET", `/rooms/${enc(room)}/event/${enc(a)}`, alice.token);
    expect(ev.json.content.body).toBe("one");
  });

  it("POST /rooms/{roomId}/redact/{eventId} redacts; an event of another room is 400 and stays", async () => {
    const room = await createRoom(alice);
    const other = await createRoom(bob);
    const target = await say(alice, room, "secret");
    const wrong = await v3("PUT", `/rooms/${enc(other)}/redact/${enc(target)}/t1`, bob.token, {});
    expect(wrong.status).toBe(400);
    expect(wrong.json.errcode).toBe("M_INVALID_PARAM");
    expect((await v3("GET", `/rooms/${enc(room)}/event/${enc(target)}`, alice.token)).json.content.body).toBe("secret");
    const red = await r0("POST", `/rooms/${enc(room)}/redact/${enc(target)}`, alice.token, {});
    expect(red.status).toBe(200);
    expect((await v3("GET", `/rooms/${enc(room)}/event/${enc(target)}`, alice.token)).json.content).toEqual({});
  });
});

describe("GET /events", () => {
  it("without room_id answers start, end and chunk, and refuses guests", async () => {
    const r = await r0("GET", "/events?timeout=0", alice.token);
    expect(r.status).toBe(200);
    expect(typeof r.json.start).toBe("string");
    expect(typeof r.json.end).toBe("string");
    expect(Array.isArray(r.json.chunk)).toBe(true);
    const g = await r0("GET", "/events?timeout=0", guest.token);
    expect(g.status).toBe(403);
    expect(g.json.errcode).toBe("M_GUEST_ACCESS_FORBIDDEN");
    for (const bad of ["limit=hello", "limit=-2", "timeout=hello", "from=garbage"]) {
      const b = await r0("GET", `/events?${bad}`, alice.token);
      expect(b.status, bad).toBe(400);
    }
  });

  it("catches up fully, in order, `limit` events at a time, and never repeats one", async () => {
    const room = await createRoom(alice);
    let from = await flush(alice);
    const sent: string[] = [];
    for (let i = 0; i < 12; i++) sent.push(await say(alice, room, `m${i}`));
    const seen: string[] = [];
    for (let i = 0; i < 6 && seen.length < sent.length; i++) {
      const r = await r0("GET", `/events?from=${enc(from)}&timeout=0&limit=5`, alice.token);
      expect(r.status).toBe(200);
      expect(r.json.chunk.filter((e: J) => e.type === "m.room.message").length).toBeLessThanOrEqual(5);
      for (const e of r.json.chunk as J[]) {
        if (e.type !== "m.room.message") continue;
        expect(e.room_id).toBe(room);
        expect(e.user_id).toBe(alice.userId);
        seen.push(e.event_id as string);
      }
      from = r.json.end;
    }
    expect(seen).toEqual(sent);
    const again = await r0("GET", `/events?from=${enc(from)}&timeout=0`, alice.token);
    expect(again.json.chunk.filter((e: J) => e.type === "m.room.message")).toEqual([]);
  });

  it("carries tags, account data, receipts and presence, and wakes a long-poll", async () => {
    const room = await createRoom(alice);
    const msg = await say(alice, room, "read me");
    const from = await flush(alice);
    const poll = r0("GET", `/events?from=${enc(from)}&timeout=5000`, alice.token);
    await new Promise((r) => setTimeout(r, 200));
    expect((await v3("PUT", `/user/${enc(alice.userId)}/rooms/${enc(room)}/tags/work`, alice.token, { order: 1 })).status).toBe(200);
    const woke = await poll;
    expect(woke.json.chunk.some((e: J) => e.type === "m.tag" && e.room_id === room && e.content.tags.work.order === 1)).toBe(true);

    await v3("PUT", `/user/${enc(alice.userId)}/account_data/my.test.type`, alice.token, { cats_or_rats: "cats" });
    await v3("PUT", `/user/${enc(alice.userId)}/rooms/${enc(room)}/account_data/my.test.type`, alice.token, { cats_or_rats: "rats" });
    await v3("POST", `/rooms/${enc(room)}/receipt/m.read/${enc(msg)}`, alice.token, {});
    await v3("PUT", `/presence/${enc(alice.userId)}/status`, alice.token, { presence: "online", status_msg: "here" });
    const r = await r0("GET", `/events?from=${enc(woke.json.end)}&timeout=0`, alice.token);
    const chunk = r.json.chunk as J[];
    expect(chunk.some((e) => e.type === "my.test.type" && e.content.cats_or_rats === "cats" && e.room_id === undefined)).toBe(true);
    expect(chunk.some((e) => e.type === "my.test.type" && e.content.cats_or_rats === "rats" && e.room_id === room)).toBe(true);
    expect(chunk.some((e) => e.type === "m.receipt" && e.room_id === room && e.content[msg]?.["m.read"]?.[alice.userId])).toBe(true);
    const p = chunk.find((e) => e.type === "m.presence");
    expect(p?.content.user_id).toBe(alice.userId);
    expect(p?.content.status_msg).toBe("here");
  });

  it("shows a user who left nothing of the room after their leave", async () => {
    const room = await createRoom(alice, { preset: "public_chat" });
    expect((await v3("POST", `/join/${enc(room)}`, bob.token, {})).status).toBe(200);
    const from = await flush(bob);
    await say(alice, room, "before");
    expect((await v3("POST", `/rooms/${enc(room)}/leave`, bob.token, {})).status).toBe(200);
    await say(alice, room, "after");
    const r = await r0("GET", `/events?from=${enc(from)}&timeout=0`, bob.token);
    const bodies = (r.json.chunk as J[]).filter((e) => e.room_id === room && e.type === "m.room.message").map((e) => e.content.body);
    expect(bodies).toEqual(["before"]);
    expect((r.json.chunk as J[]).some((e) => e.type === "m.room.member" && e.state_key === bob.userId && e.content.membership === "leave")).toBe(true);
  });
});

describe("GET /initialSync", () => {
  it("lists rooms with state, messages, visibility, account data, plus presence and receipts", async () => {
    const room = await createRoom(alice, { preset: "public_chat", visibility: "public", topic: "legacy" });
    const msg = await say(alice, room, "hello");
    await v3("POST", `/rooms/${enc(room)}/receipt/m.read/${enc(msg)}`, alice.token, {});
    await v3("PUT", `/user/${enc(alice.userId)}/rooms/${enc(room)}/tags/t1`, alice.token, { order: 0.5 });
    const r = await v3("GET", "/initialSync?limit=3", alice.token);
    expect(r.status).toBe(200);
    expect(typeof r.json.end).toBe("string");
    const entry = (r.json.rooms as J[]).find((x) => x.room_id === room)!;
    expect(entry.membership).toBe("join");
    expect(entry.visibility).toBe("public");
    expect(entry.state.find((e: J) => e.type === "m.room.topic").content.topic).toBe("legacy");
    expect(entry.messages.chunk.length).toBe(3);
    expect(entry.messages.chunk.at(-1).event_id).toBe(msg);
    expect(typeof entry.messages.start).toBe("string");
    expect(entry.account_data.find((e: J) => e.type === "m.tag").content.tags.t1.order).toBe(0.5);
    expect((r.json.receipts as J[]).some((e) => e.room_id === room && e.content[msg]["m.read"][alice.userId].ts > 0)).toBe(true);
    expect((r.json.presence as J[]).some((e) => e.content.user_id === alice.userId && "last_active_ago" in e.content)).toBe(true);
    const none = await v3("GET", "/initialSync?limit=0", alice.token);
    expect((none.json.rooms as J[]).find((x) => x.room_id === room)!.messages.chunk).toEqual([]);
    expect((await v3("GET", "/initialSync?limit=hello", alice.token)).status).toBe(400);
    // Its end token continues in GET /events.
    await say(alice, room, "next");
    const ev = await r0("GET", `/events?from=${enc(r.json.end)}&timeout=0`, alice.token);
    expect((ev.json.chunk as J[]).some((e) => e.content?.body === "next")).toBe(true);
  });

  it("shows a departed room as it was at the leave (archived), in both initial syncs", async () => {
    const room = await createRoom(alice, { preset: "public_chat" });
    expect((await v3("POST", `/join/${enc(room)}`, bob.token, {})).status).toBe(200);
    await v3("PUT", `/rooms/${enc(room)}/state/madeup.test.state`, alice.token, { body: "S1" });
    await say(alice, room, "M1");
    await say(alice, room, "M2");
    expect((await v3("POST", `/rooms/${enc(room)}/leave`, bob.token, {})).status).toBe(200);
    await say(alice, room, "M3");
    await v3("PUT", `/rooms/${enc(room)}/state/madeup.test.state`, alice.token, { body: "S2" });

    const g = await v3("GET", "/initialSync?limit=2&archived=true", bob.token);
    const entry = (g.json.rooms as J[]).find((x) => x.room_id === room)!;
    expect(entry.membership).toBe("leave");
    expect(entry.state.find((e: J) => e.type === "madeup.test.state").content.body).toBe("S1");
    expect(entry.messages.chunk[0].content.body).toBe("M2");
    const notArchived = await v3("GET", "/initialSync", bob.token);
    expect((notArchived.json.rooms as J[]).some((x) => x.room_id === room)).toBe(false);

    const one = await v3("GET", `/rooms/${enc(room)}/initialSync?limit=2`, bob.token);
    expect(one.status).toBe(200);
    expect(one.json.membership).toBe("leave");
    expect(one.json.messages.chunk.map((e: J) => e.content.body ?? e.content.membership)).toEqual(["M2", "leave"]);
    expect(one.json.state.find((e: J) => e.type === "madeup.test.state").content.body).toBe("S1");
    expect(one.json.presence).toEqual([]);
    expect(one.json.receipts).toEqual([]);
  });

  it("GET /rooms/{roomId}/initialSync has presence, receipts, account data and v1 members", async () => {
    const room = await createRoom(alice);
    const msg = await say(alice, room, "hi");
    await v3("POST", `/rooms/${enc(room)}/receipt/m.read/${enc(msg)}`, alice.token, {});
    await v3("PUT", `/user/${enc(alice.userId)}/rooms/${enc(room)}/account_data/my.test.type`, alice.token, { cats_or_rats: "rats" });
    const r = await v3("GET", `/rooms/${enc(room)}/initialSync`, alice.token);
    expect(r.status).toBe(200);
    const me = (r.json.state as J[]).find((e) => e.type === "m.room.member" && e.state_key === alice.userId)!;
    expect(me.user_id).toBe(alice.userId);
    expect(me.content.membership).toBe("join");
    const p = (r.json.presence as J[]).find((e) => e.content.user_id === alice.userId)!;
    expect(p.content.presence).toBe("online");
    expect(p.content).toHaveProperty("status_msg");
    expect(p.content).toHaveProperty("last_active_ago");
    expect(r.json.receipts[0].content[msg]["m.read"][alice.userId].ts).toBeGreaterThan(0);
    expect(r.json.account_data).toEqual([{ type: "my.test.type", content: { cats_or_rats: "rats" } }]);
    const none = await v3("GET", `/rooms/${enc(room)}/initialSync?limit=0`, alice.token);
    expect(none.json.messages.chunk).toEqual([]);
  });
});
