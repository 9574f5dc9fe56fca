import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClientEvent, createClient, SyncState } from "matrix-js-sdk";
import { logger } from "matrix-js-sdk/lib/logger.js";
import { registerUser, type J, registerSession, type Session } from "./accounts-helpers.js";
import { startTestServer, type TestServer } from "./harness.js";

(logger as unknown as { disableAll(): void }).disableAll();

let hs: TestServer;
type U = Session;
let alice: U;
let bob: U;
let carol: U;
let dave: U;
let roomId: string;

const enc = encodeURIComponent;

const user = (name: string): Promise<U> => registerSession(hs, name);

const v3 = <T = J>(method: string, path: string, token: string, body?: unknown) =>
  hs.request<T>(method, `/_matrix/client/v3${path}`, { token, body });
const v1 = <T = J>(path: string, token: string) => hs.request<T>("GET", `/_matrix/client/v1${path}`, { token });

let txn = 0;
async function sendEvent(u: U, type: string, content: J): Promise<string> {
  const r = await v3("PUT", `/rooms/${enc(roomId)}/send/${type}/t${++txn}`, u.token, content);
  expect(r.status, JSON.stringify(r.json)).toBe(200);
  return r.json.event_id as string;
}
const text = (u: U, body: string, extra: J = {}) => sendEvent(u, "m.room.message", { msgtype: "m.text", body, ...extra });
const edit = (u: U, target: string, body: string) =>
  text(u, `* ${body}`, { "m.new_content": { msgtype: "m.text", body }, "m.relates_to": { rel_type: "m.replace", event_id: target } });
const threadReply = (u: U, root: string, body: string) => text(u, body, { "m.relates_to": { rel_type: "m.thread", event_id: root } });
const react = (u: U, target: string, key: string) =>
  v3("PUT", `/rooms/${enc(roomId)}/send/m.reaction/t${++txn}`, u.token, { "m.relates_to": { rel_type: "m.annotation", event_id: target, key } });
const getEvent = (u: U, id: string) => v3("GET", `/rooms/${enc(roomId)}/event/${enc(id)}`, u.token);

let root: string;
let edit1: string;
let edit2: string;
let reply1: string;
let reply2: string;
let reaction: string;
let reference: string;

beforeAll(async () => {
  hs = await startTestServer({ registration: { enabled: true }, password_policy: { scrypt_cost: 1024 } });
  [alice, bob, carol, dave] = await Promise.all([user("alice"), user("bob"), user("carol"), user("dave")]);
  const r = await v3("POST", "/createRoom", alice.token, { preset: "private_chat", invite: [bob.userId, carol.userId] });
  roomId = r.json.room_id as string;
  for (const u of [bob, carol]) expect((await v3("POST", `/join/${enc(roomId)}`, u.token, {})).status).toBe(200);
  root = await text(alice, "root");
  edit1 = await edit(alice, root, "first edit");
  edit2 = await edit(alice, root, "second edit");
  reply1 = await threadReply(bob, root, "in thread 1");
  reply2 = await threadReply(carol, root, "in thread 2");
  const rr = await react(bob, root, "👍");
  expect(rr.status).toBe(200);
  reaction = rr.json.event_id as string;
  reference = await sendEvent(bob, "m.key.verification.done", { "m.relates_to": { rel_type: "m.reference", event_id: root } });
}, 60_000);
afterAll(() => hs?.close());

describe("bundled aggregations", () => {
  it("GET /event bundles the latest edit, the thread summary and references", async () => {
    const r = await getEvent(bob, root);
    expect(r.status).toBe(200);
    const rel = r.json.unsigned["m.relations"];
    expect(rel["m.replace"]).toMatchObject({ event_id: edit2, sender: alice.userId, content: { "m.new_content": { body: "second edit" } } });
    expect(typeof rel["m.replace"].origin_server_ts).toBe("number");
    expect(rel["m.thread"]).toMatchObject({ count: 2, current_user_participated: true, latest_event: { event_id: reply2, sender: carol.userId } });
    expect(rel["m.reference"]).toEqual({ chunk: [{ event_id: reference }] });
    // Annotations are not aggregated by the server; the original content is left intact.
    expect(rel["m.annotation"]).toBeUndefined();
    expect(r.json.content.body).toBe("root");
  });

  it("current_user_participated is false for a user who neither sent the root nor replied", async () => {
    await v3("POST", `/rooms/${enc(roomId)}/invite`, alice.token, { user_id: dave.userId });
    await v3("POST", `/join/${enc(roomId)}`, dave.token, {});
    // Joined later, history "shared": dave sees the root and the thread.
    const r = await getEvent(dave, root);
    expect(r.json.unsigned["m.relations"]["m.thread"].current_user_participated).toBe(false);
  });

  it("/messages and /context carry the same bundles", async () => {
    const m = await v3("GET", `/rooms/${enc(roomId)}/messages?dir=b&limit=50`, bob.token);
    const inTimeline = (m.json.chunk as J[]).find((e) => e.event_id === root)!;
    expect(inTimeline.unsigned["m.relations"]["m.replace"].event_id).toBe(edit2);
    const c = await v3("GET", `/rooms/${enc(roomId)}/context/${enc(root)}?limit=2`, bob.token);
    expect(c.json.event.unsigned["m.relations"]["m.thread"].count).toBe(2);
  });

  it("refuses a duplicate annotation with 400 M_DUPLICATE_ANNOTATION", async () => {
    const r = await react(bob, root, "👍");
    expect(r.status).toBe(400);
    expect(r.json.errcode).toBe("M_DUPLICATE_ANNOTATION");
    // Another key, or another user, is fine.
    expect((await react(bob, root, "🎉")).status).toBe(200);
    expect((await react(carol, root, "👍")).status).toBe(200);
  });

  it("refuses a thread off an event that has a relation with 400 M_UNKNOWN", async () => {
    const r = await v3("PUT", `/rooms/${enc(roomId)}/send/m.room.message/t${++txn}`, bob.token, {
      msgtype: "m.text",
      body: "x",
      "m.relates_to": { rel_type: "m.thread", event_id: reply1 },
    });
    expect(r.status).toBe(400);
    expect(r.json.errcode).toBe("M_UNKNOWN");
  });
});

describe("GET /relations", () => {
  it("lists all children newest first, filters by rel_type and event type", async () => {
    const all = await v1(`/rooms/${enc(roomId)}/relations/${enc(root)}`, bob.token);
    expect(all.status).toBe(200);
    const ids = (all.json.chunk as J[]).map((e) => e.event_id);
    expect(ids.slice(-6)).toEqual([reference, reaction, reply2, reply1, edit2, edit1]);
    expect(all.json).not.toHaveProperty("recursion_depth");
    const edits = await v1(`/rooms/${enc(roomId)}/relations/${enc(root)}/m.replace`, bob.token);
    expect((edits.json.chunk as J[]).map((e) => e.event_id)).toEqual([edit2, edit1]);
    const reactions = await v1(`/rooms/${enc(roomId)}/relations/${enc(root)}/m.annotation/m.reaction`, bob.token);
    expect((reactions.json.chunk as J[]).every((e) => e.type === "m.reaction")).toBe(true);
    expect(reactions.json.chunk.length).toBe(3);
    const none = await v1(`/rooms/${enc(roomId)}/relations/${enc(root)}/m.annotation/m.room.message`, bob.token);
    expect(none.json.chunk).toEqual([]);
  });

  it("paginates with limit, next_batch, prev_batch and dir=f", async () => {
    const p1 = await v1(`/rooms/${enc(roomId)}/relations/${enc(root)}/m.thread?limit=1`, bob.token);
    expect((p1.json.chunk as J[]).map((e) => e.event_id)).toEqual([reply2]);
    expect(p1.json.next_batch).toEqual(expect.any(String));
    const p2 = await v1(`/rooms/${enc(roomId)}/relations/${enc(root)}/m.thread?limit=1&from=${enc(p1.json.next_batch)}`, bob.token);
    expect((p2.json.chunk as J[]).map((e) => e.event_id)).toEqual([reply1]);
    expect(p2.json.prev_batch).toBe(p1.json.next_batch);
    const p3 = await v1(`/rooms/${enc(roomId)}/relations/${enc(root)}/m.thread?limit=1&from=${enc(p2.json.next_batch)}`, bob.token);
    expect(p3.json.chunk).toEqual([]);
    expect(p3.json).not.toHaveProperty("next_batch");
    const fwd = await v1(`/rooms/${enc(roomId)}/relations/${enc(root)}/m.replace?dir=f`, bob.token);
    expect((fwd.json.chunk as J[]).map((e) => e.event_id)).toEqual([edit1, edit2]);
  });

  it("recurse=true includes indirect relations and reports recursion_depth", async () => {
    const r = await react(alice, reply1, "👀");
    const flat = await v1(`/rooms/${enc(roomId)}/relations/${enc(root)}?recurse=false`, bob.token);
    expect((flat.json.chunk as J[]).map((e) => e.event_id)).not.toContain(r.json.event_id);
    expect(flat.json.recursion_depth).toBe(1);
    const deep = await v1(`/rooms/${enc(roomId)}/relations/${enc(root)}?recurse=true`, bob.token);
    expect((deep.json.chunk as J[]).map((e) => e.event_id)).toContain(r.json.event_id);
    expect(deep.json.recursion_depth).toBe(3);
    // A rel_type filter applies to every link: the reaction hangs off a thread reply.
    const filtered = await v1(`/rooms/${enc(roomId)}/relations/${enc(root)}/m.annotation?recurse=true`, bob.token);
    expect((filtered.json.chunk as J[]).map((e) => e.event_id)).not.toContain(r.json.event_id);
  });

  it("is 404 M_NOT_FOUND for an unknown event and for a user who cannot see the room", async () => {
    const unknown = await v1(`/rooms/${enc(roomId)}/relations/${enc("$nope")}`, bob.token);
    expect(unknown.status).toBe(404);
    expect(unknown.json.errcode).toBe("M_NOT_FOUND");
    const outsider = await user("mallory");
    const r = await v1(`/rooms/${enc(roomId)}/relations/${enc(root)}`, outsider.token);
    expect(r.status).toBe(404);
    expect(r.json.errcode).toBe("M_NOT_FOUND");
  });
});

describe("threads", () => {
  let root2: string;
  beforeAll(async () => {
    root2 = await text(carol, "second root");
    await threadReply(carol, root2, "carol alone");
  });

  it("lists thread roots by latest reply, with include=participated and pagination", async () => {
    const all = await v1(`/rooms/${enc(roomId)}/threads`, bob.token);
    expect(all.status).toBe(200);
    expect((all.json.chunk as J[]).map((e) => e.event_id)).toEqual([root2, root]);
    expect(all.json.chunk[1].unsigned["m.relations"]["m.thread"].count).toBe(2);
    const mine = await v1(`/rooms/${enc(roomId)}/threads?include=participated`, bob.token);
    expect((mine.json.chunk as J[]).map((e) => e.event_id)).toEqual([root]);
    const p1 = await v1(`/rooms/${enc(roomId)}/threads?limit=1`, bob.token);
    expect((p1.json.chunk as J[]).map((e) => e.event_id)).toEqual([root2]);
    const p2 = await v1(`/rooms/${enc(roomId)}/threads?limit=1&from=${enc(p1.json.next_batch)}`, bob.token);
    expect((p2.json.chunk as J[]).map((e) => e.event_id)).toEqual([root]);
    // A fresh thread reply moves its root to the front.
    await threadReply(bob, root, "bump");
    const again = await v1(`/rooms/${enc(roomId)}/threads`, bob.token);
    expect((again.json.chunk as J[]).map((e) => e.event_id)).toEqual([root, root2]);
  });

  it("refuses bad parameters and outsiders", async () => {
    expect((await v1(`/rooms/${enc(roomId)}/threads?limit=0`, bob.token)).json.errcode).toBe("M_INVALID_PARAM");
    const bad = await v1(`/rooms/${enc(roomId)}/threads?from=garbage`, bob.token);
    expect(bad.status).toBe(400);
    expect(bad.json.errcode).toBe("M_INVALID_PARAM");
    const outsider = await user("eve");
    const r = await v1(`/rooms/${enc(roomId)}/threads`, outsider.token);
    expect(r.status).toBe(403);
    expect(r.json.errcode).toBe("M_FORBIDDEN");
  });
});

describe("matrix-js-sdk", () => {
  it("reads relations pages and the bundled thread summary the way Element does", async () => {
    const r = await registerUser(hs, "sdkuser");
    await v3("POST", `/rooms/${enc(roomId)}/invite`, alice.token, { user_id: r.user_id });
    const client = createClient({ baseUrl: hs.url, accessToken: r.access_token, userId: r.user_id, deviceId: r.device_id });
    await client.joinRoom(roomId);
    const all = (await v1(`/rooms/${enc(roomId)}/relations/${enc(root)}/m.thread`, bob.token)).json.chunk as J[];
    expect(all.length).toBeGreaterThanOrEqual(2);
    const res = await client.relations(roomId, root, "m.thread", null, { limit: 1 });
    expect(res.originalEvent?.getId()).toBe(root);
    expect(res.events.map((e) => e.getId())).toEqual([all[0]!.event_id]);
    expect(res.nextBatch).toEqual(expect.any(String));
    const thread = res.originalEvent!.getServerAggregatedRelation<{ count: number; latest_event: { event_id: string } }>("m.thread");
    expect(thread?.count).toBe(all.length);
    expect(thread?.latest_event.event_id).toBe(all[0]!.event_id);
    const page2 = await client.relations(roomId, root, "m.thread", null, { limit: 1, from: res.nextBatch! });
    expect(page2.events.map((e) => e.getId())).toEqual([all[1]!.event_id]);
  });
});

describe("matrix-js-sdk threads through the sync loop", () => {
  it("builds the room's threads from /threads and bundled aggregations", async () => {
    const r = await registerUser(hs, "sdkthreads");
    const room = (await v3("POST", "/createRoom", alice.token, { preset: "public_chat" })).json.room_id as string;
    const client = createClient({ baseUrl: hs.url, accessToken: r.access_token, userId: r.user_id, deviceId: r.device_id });
    client.getPushRules = async () => ({ global: {} }) as never;
    try {
      await client.joinRoom(room);
      const say = async (body: string, rel?: J) =>
        (await v3("PUT", `/rooms/${enc(room)}/send/m.room.message/s${++txn}`, alice.token, { msgtype: "m.text", body, ...(rel ? { "m.relates_to": rel } : {}) })).json.event_id as string;
      const threadRoot = await say("thread root");
      await say("first reply", { rel_type: "m.thread", event_id: threadRoot });
      const last = await say("second reply", { rel_type: "m.thread", event_id: threadRoot });
      const prepared = new Promise<void>((resolve, reject) => {
        client.on(ClientEvent.Sync, (state: SyncState) => {
          if (state === SyncState.Prepared) resolve();
          else if (state === SyncState.Error) reject(new Error("sync error"));
        });
      });
      await client.startClient({ initialSyncLimit: 10, threadSupport: true });
      await prepared;
      const sdkRoom = client.getRoom(room)!;
      await sdkRoom.fetchRoomThreads();
      let thread = sdkRoom.getThread(threadRoot);
      for (let i = 0; i < 50 && (!thread || thread.length < 2); i++) {
        await new Promise((res) => setTimeout(res, 20));
        thread = sdkRoom.getThread(threadRoot);
      }
      expect(thread).toBeTruthy();
      expect(thread!.length).toBe(2);
      expect(thread!.replyToEvent?.getId()).toBe(last);
    } finally {
      client.stopClient();
      // Let the SDK's in-flight thread requests finish before the server goes away.
      await new Promise((res) => setTimeout(res, 500));
    }
  });
});

describe("redactions and ignored users", () => {
  it("a redacted edit drops out: the previous edit is bundled again", async () => {
    const red = await v3("PUT", `/rooms/${enc(roomId)}/redact/${enc(edit2)}/r${++txn}`, alice.token, {});
    expect(red.status).toBe(200);
    const r = await getEvent(bob, root);
    expect(r.json.unsigned["m.relations"]["m.replace"].event_id).toBe(edit1);
    const edits = await v1(`/rooms/${enc(roomId)}/relations/${enc(root)}/m.replace`, bob.token);
    expect((edits.json.chunk as J[]).map((e) => e.event_id)).toEqual([edit1]);
  });

  it("a redacted annotation no longer counts as a duplicate", async () => {
    expect((await v3("PUT", `/rooms/${enc(roomId)}/redact/${enc(reaction)}/r${++txn}`, bob.token, {})).status).toBe(200);
    expect((await react(bob, root, "👍")).status).toBe(200);
  });

  it("events of ignored users are left out of relations, threads counts and latest_event", async () => {
    const before = (await getEvent(alice, root)).json.unsigned["m.relations"]["m.thread"];
    const put = await v3("PUT", `/user/${enc(alice.userId)}/account_data/m.ignored_user_list`, alice.token, { ignored_users: { [carol.userId]: {} } });
    expect(put.status).toBe(200);
    const after = (await getEvent(alice, root)).json.unsigned["m.relations"]["m.thread"];
    expect(after.count).toBe(before.count - 1);
    const rel = await v1(`/rooms/${enc(roomId)}/relations/${enc(root)}/m.thread`, alice.token);
    expect((rel.json.chunk as J[]).map((e) => e.sender)).not.toContain(carol.userId);
    // carol's own thread has only her replies: it disappears for alice.
    const threads = await v1(`/rooms/${enc(roomId)}/threads`, alice.token);
    expect((threads.json.chunk as J[]).map((e) => e.event_id)).toEqual([root]);
    await v3("PUT", `/user/${enc(alice.userId)}/account_data/m.ignored_user_list`, alice.token, { ignored_users: {} });
  });

  it("redacting the original drops the edit from its bundle but keeps the thread", async () => {
    expect((await v3("PUT", `/rooms/${enc(roomId)}/redact/${enc(root)}/r${++txn}`, alice.token, {})).status).toBe(200);
    const r = await getEvent(bob, root);
    expect(r.json.content).toEqual({});
    expect(r.json.unsigned["m.relations"]["m.replace"]).toBeUndefined();
    expect(r.json.unsigned["m.relations"]["m.thread"].count).toBe(3);
  });
});
