import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer, type RunningServer } from "../src/server.js";
import { httpRequest, startTestServer, type TestServer } from "./harness.js";
import { api, createRoom, enc, join, newUser, send, type J, type TestUser } from "./sync-helpers.js";

// HTTP pushers (push gateway API "/_matrix/push/v1/notify", client-server push module),
// against a push gateway in the test that records every request.

interface Gateway {
  url: string;
  received: J[];
  /** Per pushkey: the HTTP status answered (default 200). */
  status: Map<string, number>;
  /** Pushkeys answered as rejected. */
  reject: Set<string>;
  close(): Promise<void>;
}

async function startGateway(): Promise<Gateway> {
  const gw = { received: [] as J[], status: new Map<string, number>(), reject: new Set<string>() };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      if (req.method !== "POST" || req.url !== "/_matrix/push/v1/notify") {
        res.writeHead(404).end();
        return;
      }
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as J;
      const key = body.notification?.devices?.[0]?.pushkey as string;
      const status = gw.status.get(key) ?? 200;
      if (status === 200) gw.received.push(body.notification);
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify({ rejected: gw.reject.has(key) ? [key] : [] }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    ...gw,
    url: `http://127.0.0.1:${port}/_matrix/push/v1/notify`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

let hs: TestServer;
let gw: Gateway;
let restarted: RunningServer | undefined;

beforeAll(async () => {
  gw = await startGateway();
  hs = await startTestServer({
    registration: { enabled: true },
    password_policy: { scrypt_cost: 1024 },
    push: { allow_private_addresses: true, min_backoff_ms: 50, max_backoff_ms: 200 },
  });
});
afterAll(async () => {
  await restarted?.close();
  await hs?.close();
  await gw?.close();
});

const forKey = (key: string) => gw.received.filter((n) => n.devices[0].pushkey === key);

async function until<T>(what: string, fn: () => T | undefined | false, ms = 8000): Promise<T> {
  const start = Date.now();
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() - start > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function setPusher(u: TestUser, pushkey: string, data: J = {}): Promise<void> {
  const r = await api(hs, "POST", "/pushers/set", u.token, {
    kind: "http",
    app_id: "org.example.app",
    pushkey,
    app_display_name: "Example",
    device_display_name: "Phone",
    lang: "en",
    data: { url: gw.url, ...data },
  });
  expect(r.status, JSON.stringify(r.json)).toBe(200);
}

async function dm(a: TestUser, b: TestUser): Promise<string> {
  const roomId = await createRoom(hs, a, { preset: "trusted_private_chat", is_direct: true, invite: [b.userId], name: "Our chat" });
  await join(hs, b, roomId);
  return roomId;
}

describe("HTTP pushers: POST /_matrix/push/v1/notify", () => {
  it("delivers a DM message once with the event's fields, counts, device, data and tweaks", async () => {
    const alice = await newUser(hs, "pg_alice");
    const bob = await newUser(hs, "pg_bob");
    await api(hs, "PUT", `/profile/${enc(alice.userId)}/displayname`, alice.token, { displayname: "Alice A" });
    const roomId = await dm(alice, bob);
    await setPusher(bob, "key-dm", { extra: "kept" });
    const eventId = await send(hs, alice, roomId, "hello bob");
    const n = await until("the notification", () => forKey("key-dm").find((x) => x.event_id === eventId));
    expect(n).toEqual({
      event_id: eventId,
      room_id: roomId,
      type: "m.room.message",
      sender: alice.userId,
      sender_display_name: "Alice A",
      room_name: "Our chat",
      prio: "high",
      content: { msgtype: "m.text", body: "hello bob" },
      counts: { unread: 1 },
      devices: [{ app_id: "org.example.app", pushkey: "key-dm", pushkey_ts: expect.any(Number), data: { extra: "kept" }, tweaks: { sound: "default" } }],
    });
    expect(Math.abs(n.devices[0].pushkey_ts - Date.now() / 1000)).toBeLessThan(600);
    // Bob's own reply marks the message read: his badge is cleared by a counts-only request;
    // the message was notified once only.
    await send(hs, bob, roomId, "bob's own reply");
    // (A counts-only request may also precede a notification: counters commit with the event.)
    const badge = await until("the badge update", () => forKey("key-dm").find((x) => x.event_id === undefined && x.counts.unread === 0));
    expect(Object.keys(badge).sort()).toEqual(["counts", "devices"]);
    await new Promise((r) => setTimeout(r, 300));
    expect(forKey("key-dm").filter((x) => x.event_id === eventId)).toHaveLength(1);
    expect(forKey("key-dm").filter((x) => x.event_id !== undefined)).toHaveLength(1);
  });

  it("a mention gets highlight; a plain message in a group room is low priority without tweaks", async () => {
    const [a, b, c] = [await newUser(hs, "pg_hl_a"), await newUser(hs, "pg_hl_b"), await newUser(hs, "pg_hl_c")];
    const roomId = await createRoom(hs, a, { preset: "public_chat" });
    await join(hs, b, roomId);
    await join(hs, c, roomId);
    await setPusher(b, "key-hl");
    const plain = await send(hs, a, roomId, "hi all");
    // The count is the user's unread total when the request is built: let this one go before the mention.
    await until("the plain message", () => forKey("key-hl").find((x) => x.event_id === plain));
    const mention = await api(hs, "PUT", `/rooms/${enc(roomId)}/send/m.room.message/hl1`, a.token, {
      msgtype: "m.text",
      body: "b: look",
      "m.mentions": { user_ids: [b.userId] },
    });
    expect(mention.status).toBe(200);
    const m = await until("the mention", () => forKey("key-hl").find((x) => x.event_id === mention.json.event_id));
    expect(m.devices[0].tweaks).toEqual({ sound: "default", highlight: true });
    expect(m.prio).toBe("high");
    expect(m.counts).toEqual({ unread: 2 });
    const p = forKey("key-hl").find((x) => x.event_id === plain)!;
    expect(p.devices[0].tweaks).toEqual({});
    expect(p.prio).toBe("low");
    expect(p.counts).toEqual({ unread: 1 });
  });

  it("a muted room sends nothing", async () => {
    const a = await newUser(hs, "pg_mute_a");
    const b = await newUser(hs, "pg_mute_b");
    const muted = await dm(a, b);
    const loud = await dm(a, b);
    await setPusher(b, "key-mute");
    expect((await api(hs, "PUT", `/pushrules/global/room/${enc(muted)}`, b.token, { actions: [] })).status).toBe(200);
    const silent = await send(hs, a, muted, "psst");
    const heard = await send(hs, a, loud, "hey");
    await until("the loud room's notification", () => forKey("key-mute").find((x) => x.event_id === heard));
    expect(forKey("key-mute").some((x) => x.event_id === silent)).toBe(false);
    expect(forKey("key-mute").find((x) => x.event_id === heard)!.counts).toEqual({ unread: 1 });
  });

  it("after a read receipt the badge drops to 0 (a counts-only request), and counts start again", async () => {
    const a = await newUser(hs, "pg_rr_a");
    const b = await newUser(hs, "pg_rr_b");
    const roomId = await dm(a, b);
    await setPusher(b, "key-rr");
    await send(hs, a, roomId, "one");
    const second = await send(hs, a, roomId, "two");
    const n2 = await until("the second", () => forKey("key-rr").find((x) => x.event_id === second));
    expect(n2.counts).toEqual({ unread: 2 });
    expect((await api(hs, "POST", `/rooms/${enc(roomId)}/receipt/m.read/${enc(second)}`, b.token, {})).status).toBe(200);
    const badge = await until("the badge update", () => forKey("key-rr").find((x) => x.event_id === undefined && x.counts.unread === 0));
    expect(badge).toEqual({ counts: { unread: 0 }, devices: [expect.objectContaining({ pushkey: "key-rr" })] });
    const third = await send(hs, a, roomId, "three");
    const n3 = await until("the third", () => forKey("key-rr").find((x) => x.event_id === third));
    expect(n3.counts).toEqual({ unread: 1 });
  });

  it("a gateway that is down for 20 messages gets all of them, in order, once it is back", async () => {
    const a = await newUser(hs, "pg_down_a");
    const b = await newUser(hs, "pg_down_b");
    const roomId = await dm(a, b);
    await setPusher(b, "key-down");
    gw.status.set("key-down", 503);
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) ids.push(await send(hs, a, roomId, `m${i}`));
    await new Promise((r) => setTimeout(r, 300));
    expect(forKey("key-down")).toHaveLength(0);
    gw.status.delete("key-down");
    await until("the backlog", () => forKey("key-down").length >= 20, 15_000);
    await new Promise((r) => setTimeout(r, 200));
    expect(forKey("key-down").map((x) => x.event_id)).toEqual(ids);
    // The first request was persisted before the outage was seen and is retried as it was;
    // the backlog carries the count at the time it was prepared.
    const counts = forKey("key-down").map((x) => x.counts.unread as number);
    expect(counts.at(-1)).toBe(20);
    expect(counts).toEqual([...counts].sort((x, y) => x - y));
  });

  it("event_id_only sends just the event id, room id, counts and devices", async () => {
    const a = await newUser(hs, "pg_eid_a");
    const b = await newUser(hs, "pg_eid_b");
    const roomId = await dm(a, b);
    await setPusher(b, "key-eid", { format: "event_id_only" });
    const eventId = await send(hs, a, roomId, "secret text");
    const n = await until("the notification", () => forKey("key-eid").find((x) => x.event_id === eventId));
    expect(Object.keys(n).sort()).toEqual(["counts", "devices", "event_id", "prio", "room_id"]);
    expect(n.devices[0].data).toEqual({ format: "event_id_only" });
    expect(JSON.stringify(n)).not.toContain("secret text");
  });

  it("a rejected pushkey deletes the pusher", async () => {
    const a = await newUser(hs, "pg_rej_a");
    const b = await newUser(hs, "pg_rej_b");
    const roomId = await dm(a, b);
    await setPusher(b, "key-rej");
    gw.reject.add("key-rej");
    const first = await send(hs, a, roomId, "first");
    await until("the notification", () => forKey("key-rej").find((x) => x.event_id === first));
    const start = Date.now();
    let pushers: J[] = [{}];
    while (pushers.length > 0 && Date.now() - start < 5000) {
      pushers = (await api(hs, "GET", "/pushers", b.token)).json.pushers as J[];
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(pushers).toEqual([]);
    const second = await send(hs, a, roomId, "second");
    await new Promise((r) => setTimeout(r, 300));
    expect(forKey("key-rej").some((x) => x.event_id === second)).toBe(false);
  });
});

describe("unread_thread_notifications in /sync (threaded read receipts)", () => {
  it("partitions counts per thread and a threaded receipt clears only its thread", async () => {
    const a = await newUser(hs, "pg_th_a");
    const b = await newUser(hs, "pg_th_b");
    const roomId = await dm(a, b);
    const root = await send(hs, a, roomId, "root");
    const inThread = async (txn: string, body: string) => {
      const r = await api(hs, "PUT", `/rooms/${enc(roomId)}/send/m.room.message/${txn}`, a.token, {
        msgtype: "m.text",
        body,
        "m.relates_to": { rel_type: "m.thread", event_id: root },
      });
      expect(r.status).toBe(200);
      return r.json.event_id as string;
    };
    await inThread("th1", "reply 1");
    const reply2 = await inThread("th2", "reply 2");
    const filter = enc(JSON.stringify({ room: { timeline: { unread_thread_notifications: true } } }));
    const threaded = async () => (await api(hs, "GET", `/sync?timeout=0&filter=${filter}`, b.token)).json.rooms.join[roomId] as J;
    let r = await threaded();
    expect(r.unread_notifications).toEqual({ notification_count: 1, highlight_count: 0 });
    expect(r.unread_thread_notifications).toEqual({ [root]: { notification_count: 2, highlight_count: 0 } });
    // Without the filter flag everything is summed and no per-thread counts are served.
    const plain = (await api(hs, "GET", "/sync?timeout=0", b.token)).json.rooms.join[roomId] as J;
    expect(plain.unread_notifications).toEqual({ notification_count: 3, highlight_count: 0 });
    expect(plain.unread_thread_notifications).toBeUndefined();

    // A receipt in the thread clears the thread, the main timeline keeps its count.
    expect((await api(hs, "POST", `/rooms/${enc(roomId)}/receipt/m.read/${enc(reply2)}`, b.token, { thread_id: root })).status).toBe(200);
    r = await threaded();
    expect(r.unread_notifications).toEqual({ notification_count: 1, highlight_count: 0 });
    expect(r.unread_thread_notifications).toEqual({});
    // An unthreaded receipt covers every thread up to its event.
    await inThread("th3", "reply 3");
    const main = await send(hs, a, roomId, "main again");
    r = await threaded();
    expect(r.unread_notifications).toEqual({ notification_count: 2, highlight_count: 0 });
    expect(r.unread_thread_notifications).toEqual({ [root]: { notification_count: 1, highlight_count: 0 } });
    expect((await api(hs, "POST", `/rooms/${enc(roomId)}/receipt/m.read/${enc(main)}`, b.token, {})).status).toBe(200);
    r = await threaded();
    expect(r.unread_notifications).toEqual({ notification_count: 0, highlight_count: 0 });
    expect(r.unread_thread_notifications).toEqual({});
  });
});

describe("GET /notifications (Listing Notifications)", () => {
  it("lists notified events newest first with actions and read flags, paginates, filters highlights", async () => {
    const a = await newUser(hs, "pg_ls_a");
    const b = await newUser(hs, "pg_ls_b");
    const roomId = await dm(a, b);
    const first = await send(hs, a, roomId, "first");
    expect((await api(hs, "POST", `/rooms/${enc(roomId)}/receipt/m.read/${enc(first)}`, b.token, {})).status).toBe(200);
    const second = await send(hs, a, roomId, "second");
    const mention = await api(hs, "PUT", `/rooms/${enc(roomId)}/send/m.room.message/ls1`, a.token, {
      msgtype: "m.text",
      body: "b!",
      "m.mentions": { user_ids: [b.userId] },
    });
    const all = await api(hs, "GET", "/notifications", b.token);
    expect(all.status).toBe(200);
    const list = all.json.notifications as J[];
    // The invite into the DM notified too (.m.rule.invite_for_me).
    expect(list.map((n) => n.event.event_id).slice(0, 3)).toEqual([mention.json.event_id, second, first]);
    expect(list[3].event).toMatchObject({ type: "m.room.member", state_key: b.userId, content: { membership: "invite" } });
    expect(list.map((n) => n.read)).toEqual([false, false, true, true]);
    expect(list[0].actions).toEqual(["notify", { set_tweak: "sound", value: "default" }, { set_tweak: "highlight" }]);
    expect(list[2]).toMatchObject({ room_id: roomId, actions: ["notify", { set_tweak: "sound", value: "default" }], ts: expect.any(Number) });
    expect(list[2].event).toMatchObject({ type: "m.room.message", sender: a.userId, content: { body: "first" } });
    expect(all.json.next_token).toBeUndefined();

    const page1 = await api(hs, "GET", "/notifications?limit=2", b.token);
    expect((page1.json.notifications as J[]).map((n) => n.event.event_id)).toEqual([mention.json.event_id, second]);
    const page2 = await api(hs, "GET", `/notifications?limit=3&from=${enc(page1.json.next_token as string)}`, b.token);
    expect((page2.json.notifications as J[]).map((n) => n.event.event_id)).toEqual([first, list[3].event.event_id]);
    expect(page2.json.next_token).toBeUndefined();

    const hl = await api(hs, "GET", "/notifications?only=highlight", b.token);
    expect((hl.json.notifications as J[]).map((n) => n.event.event_id)).toEqual([mention.json.event_id]);

    expect((await api(hs, "GET", "/notifications?from=nonsense", b.token)).json.errcode).toBe("M_INVALID_PARAM");
    expect((await api(hs, "GET", "/notifications?limit=0", b.token)).status).toBe(400);
    expect((await hs.request("GET", "/_matrix/client/v3/notifications")).status).toBe(401);
  });
});

describe("durable pusher positions", () => {
  // Runs last: it restarts the server on the same database.
  it("a restart while the gateway is down loses nothing", async () => {
    const a = await newUser(hs, "pg_rs_a");
    const b = await newUser(hs, "pg_rs_b");
    const roomId = await dm(a, b);
    await setPusher(b, "key-restart");
    gw.status.set("key-restart", 500);
    const ids = [await send(hs, a, roomId, "r1"), await send(hs, a, roomId, "r2"), await send(hs, a, roomId, "r3")];
    await new Promise((r) => setTimeout(r, 200));
    const config = hs.server.config;
    await hs.server.close();
    gw.status.delete("key-restart");
    restarted = await startServer(config, { log: hs.server.log });
    await until("the backlog after restart", () => forKey("key-restart").length >= 3, 15_000);
    expect(forKey("key-restart").map((x) => x.event_id)).toEqual(ids);
    // The restarted server serves the same user.
    const who = await httpRequest<J>(restarted.clientUrl, "GET", "/_matrix/client/v3/account/whoami", { token: b.token });
    expect(who.json.user_id).toBe(b.userId);
  });
});
