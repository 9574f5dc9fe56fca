import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type J, registerSession, type Session } from "./accounts-helpers.js";
import { startTestServer, type TestServer } from "./harness.js";

let hs: TestServer;
type U = Session;
let alice: U;
let bob: U;
let carol: U;
let room1: string;
let room2: string;
let secret: string;

const enc = encodeURIComponent;

const user = (name: string): Promise<U> => registerSession(hs, name);

const v3 = <T = J>(method: string, path: string, token: string, body?: unknown) =>
  hs.request<T>(method, `/_matrix/client/v3${path}`, { token, body });

let txn = 0;
async function say(u: U, roomId: string, body: string): Promise<string> {
  const r = await v3("PUT", `/rooms/${enc(roomId)}/send/m.room.message/t${++txn}`, u.token, { msgtype: "m.text", body });
  expect(r.status, JSON.stringify(r.json)).toBe(200);
  return r.json.event_id as string;
}

const search = (u: U, roomEvents: J, nextBatch?: string) =>
  v3("POST", `/search${nextBatch ? `?next_batch=${enc(nextBatch)}` : ""}`, u.token, { search_categories: { room_events: roomEvents } });
const ids = (r: { json: J }) => (r.json.search_categories.room_events.results as J[]).map((x) => x.result.event_id);

const sent: Record<string, string> = {};

beforeAll(async () => {
  hs = await startTestServer({ registration: { enabled: true }, password_policy: { scrypt_cost: 1024 } });
  [alice, bob, carol] = await Promise.all([user("alice"), user("bob"), user("carol")]);
  room1 = (await v3("POST", "/createRoom", alice.token, { preset: "public_chat", name: "Kitchen talk", topic: "Recipes and cooking" })).json.room_id;
  room2 = (await v3("POST", "/createRoom", alice.token, { preset: "public_chat" })).json.room_id;
  secret = (await v3("POST", "/createRoom", carol.token, { preset: "private_chat" })).json.room_id;
  await v3("POST", `/join/${enc(room1)}`, bob.token, {});
  await v3("POST", `/join/${enc(room2)}`, bob.token, {});
  sent.pancakes = await say(alice, room1, "I love pancakes with syrup");
  sent.waffles = await say(bob, room1, "Waffles are better than pancakes, pancakes are flat");
  sent.jumping = await say(alice, room1, "The fox was jumping over the fence");
  sent.other = await say(bob, room2, "pancakes in the other room");
  sent.hidden = await say(carol, secret, "secret pancakes recipe");
  sent.noise = await say(alice, room1, "unrelated chatter");
}, 60_000);
afterAll(() => hs?.close());

describe("POST /search", () => {
  it("finds messages in joined rooms only, ranked, with prefix and stemmed matches", async () => {
    const r = await search(bob, { search_term: "pancakes" });
    expect(r.status).toBe(200);
    const re = r.json.search_categories.room_events;
    expect(new Set(ids(r))).toEqual(new Set([sent.pancakes, sent.waffles, sent.other]));
    expect(re.count).toBe(3);
    // The message mentioning it twice ranks first.
    expect(ids(r)[0]).toBe(sent.waffles);
    expect(re.results[0].rank).toBeGreaterThan(0);
    expect(re.highlights).toContain("pancakes");
    expect(ids(await search(bob, { search_term: "jump" }))).toEqual([sent.jumping]);
    expect(ids(await search(bob, { search_term: "panc" })).length).toBe(3);
  });

  it("order_by recent, filter rooms/senders, keys", async () => {
    const recent = await search(bob, { search_term: "pancakes", order_by: "recent" });
    expect(ids(recent)).toEqual([sent.other, sent.waffles, sent.pancakes]);
    const inRoom1 = await search(bob, { search_term: "pancakes", filter: { rooms: [room1] } });
    expect(new Set(ids(inRoom1))).toEqual(new Set([sent.pancakes, sent.waffles]));
    const byAlice = await search(bob, { search_term: "pancakes", filter: { senders: [alice.userId] } });
    expect(ids(byAlice)).toEqual([sent.pancakes]);
    const names = await search(bob, { search_term: "kitchen", keys: ["content.name"] });
    expect(names.json.search_categories.room_events.results[0].result.type).toBe("m.room.name");
    const topics = await search(bob, { search_term: "cooking", keys: ["content.body"] });
    expect(ids(topics)).toEqual([]);
    const badKey = await search(bob, { search_term: "x", keys: ["content.nope"] });
    expect(badKey.status).toBe(400);
    expect(badKey.json.errcode).toBe("M_INVALID_PARAM");
  });

  it("paginates with next_batch", async () => {
    const p1 = await search(bob, { search_term: "pancakes", order_by: "recent", filter: { limit: 2 } });
    expect(ids(p1)).toEqual([sent.other, sent.waffles]);
    const next = p1.json.search_categories.room_events.next_batch as string;
    expect(typeof next).toBe("string");
    // A new match between pages neither shifts nor repeats results in recent order.
    await say(alice, room1, "pancakes interlude");
    const p2 = await search(bob, { search_term: "pancakes", order_by: "recent", filter: { limit: 2 } }, next);
    expect(ids(p2)).toEqual([sent.pancakes]);
    expect(p2.json.search_categories.room_events.next_batch).toBeUndefined();
    const r1 = await search(bob, { search_term: "pancakes", filter: { limit: 2 } });
    const r2 = await search(bob, { search_term: "pancakes", filter: { limit: 2 } }, r1.json.search_categories.room_events.next_batch);
    expect(new Set([...ids(r1), ...ids(r2)]).size).toBe(4);
    const bad = await search(bob, { search_term: "pancakes" }, "garbage");
    expect(bad.status).toBe(400);
    expect(bad.json.errcode).toBe("M_INVALID_PARAM");
  });

  it("returns event_context with profiles, room state and groupings", async () => {
    const r = await search(bob, {
      search_term: "jumping",
      event_context: { before_limit: 1, after_limit: 1, include_profile: true },
      include_state: true,
      groupings: { group_by: [{ key: "room_id" }, { key: "sender" }] },
    });
    const re = r.json.search_categories.room_events;
    const ctx = re.results[0].context;
    expect(ctx.events_before.map((e: J) => e.event_id)).toEqual([sent.waffles]);
    expect(ctx.events_after.map((e: J) => e.event_id)).toEqual([sent.noise]);
    expect(typeof ctx.start).toBe("string");
    expect(typeof ctx.end).toBe("string");
    expect(Object.keys(ctx.profile_info).sort()).toEqual([alice.userId, bob.userId].sort());
    expect(re.state[room1].some((e: J) => e.type === "m.room.name")).toBe(true);
    expect(re.groups.room_id[room1]).toMatchObject({ results: [sent.jumping], order: 1 });
    expect(re.groups.sender[alice.userId].results).toEqual([sent.jumping]);
  });

  it("redacted messages leave the index; ignored users' messages are hidden", async () => {
    const id = await say(alice, room1, "ephemeral zeppelin");
    expect(ids(await search(bob, { search_term: "zeppelin" }))).toEqual([id]);
    await v3("PUT", `/rooms/${enc(room1)}/redact/${enc(id)}/r1`, alice.token, {});
    expect(ids(await search(bob, { search_term: "zeppelin" }))).toEqual([]);
    await v3("PUT", `/user/${enc(bob.userId)}/account_data/m.ignored_user_list`, bob.token, { ignored_users: { [alice.userId]: {} } });
    expect(new Set(ids(await search(bob, { search_term: "pancakes" })))).toEqual(new Set([sent.waffles, sent.other]));
    await v3("PUT", `/user/${enc(bob.userId)}/account_data/m.ignored_user_list`, bob.token, { ignored_users: {} });
  });

  it("respects history visibility: a joined user sees shared history, a departed one stops at the leave", async () => {
    await v3("POST", `/join/${enc(room1)}`, carol.token, {});
    expect(ids(await search(carol, { search_term: "syrup" }))).toEqual([sent.pancakes]);
    await v3("POST", `/rooms/${enc(room1)}/leave`, carol.token, {});
    // Only joined rooms are searched.
    expect(ids(await search(carol, { search_term: "syrup" }))).toEqual([]);
  });

  it("a search limited to an upgraded room also covers its predecessor", async () => {
    const up = await v3("POST", `/rooms/${enc(room2)}/upgrade`, alice.token, { new_version: "11" });
    expect(up.status).toBe(200);
    const next = up.json.replacement_room as string;
    expect((await v3("POST", `/join/${enc(next)}`, bob.token, {})).status).toBe(200);
    const fresh = await say(bob, next, "pancakes after the upgrade");
    const r = await search(bob, { search_term: "pancakes", filter: { rooms: [next] } });
    expect(new Set(ids(r))).toEqual(new Set([fresh, sent.other]));
  });

  it("refuses malformed bodies with M_BAD_JSON", async () => {
    const r = await v3("POST", "/search", bob.token, { search_categories: { room_events: { order_by: "rank" } } });
    expect(r.status).toBe(400);
    expect(r.json.errcode).toBe("M_BAD_JSON");
    const r2 = await v3("POST", "/search", bob.token, {});
    expect(r2.status).toBe(400);
    expect(r2.json.errcode).toBe("M_BAD_JSON");
  });
});
