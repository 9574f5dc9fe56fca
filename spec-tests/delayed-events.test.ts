import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sendText, startRestartable, type RestartableServer } from "./sliding-helpers.js";
import { api, createRoom, enc, join, newUser, type J, type TestUser } from "./sync-helpers.js";

// Delayed events (MSC4140): scheduled sends, restart / cancel / send actions,
// limits, and durability across a server restart.

const PREFIX = "/_matrix/client/unstable/org.matrix.msc4140/delayed_events";
const MAX_DELAY = 60_000;

let hs: RestartableServer;
let alice: TestUser;
let bob: TestUser;
let room: string;

beforeAll(async () => {
  hs = await startRestartable({ delayed_events: { max_delay_ms: MAX_DELAY, max_per_user: 20 } });
  alice = await newUser(hs, "alice");
  bob = await newUser(hs, "bob");
  room = await createRoom(hs, alice, { preset: "public_chat" });
  await join(hs, bob, room);
}, 60_000);
afterAll(() => hs?.close());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let txn = 0;

async function delayedSend(u: TestUser, body: J, delay: number): Promise<string> {
  const r = await api(hs, "PUT", `/rooms/${enc(room)}/send/m.room.message/d${++txn}?org.matrix.msc4140.delay=${delay}`, u.token, body);
  expect(r.status, JSON.stringify(r.json)).toBe(200);
  expect(r.json.event_id).toBeUndefined();
  return r.json.delay_id as string;
}

/** Bodies of the room's latest messages, newest first. */
async function recentBodies(u: TestUser = alice): Promise<string[]> {
  const r = await api(hs, "GET", `/rooms/${enc(room)}/messages?dir=b&limit=30`, u.token);
  expect(r.status).toBe(200);
  return (r.json.chunk as J[]).filter((e) => e.type === "m.room.message").map((e) => e.content.body as string);
}

async function eventually(check: () => Promise<boolean>, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    if (await check()) return;
    if (Date.now() > end) throw new Error("condition not met in time");
    await sleep(100);
  }
}

async function pending(u: TestUser): Promise<J[]> {
  const r = await hs.request<J>("GET", PREFIX, { token: u.token });
  expect(r.status).toBe(200);
  return r.json.delayed_events as J[];
}

const action = (u: TestUser, id: string, a: string) => hs.request<J>("POST", `${PREFIX}/${enc(id)}`, { token: u.token, body: { action: a } });

describe("delayed events", () => {
  it("are advertised as org.matrix.msc4140", async () => {
    const r = await hs.request<J>("GET", "/_matrix/client/versions");
    expect(r.json.unstable_features["org.matrix.msc4140"]).toBe(true);
  });

  it("sends a delayed message once its delay passes, and lists it until then", async () => {
    const id = await delayedSend(alice, { msgtype: "m.text", body: "later 1" }, 1500);
    const list = await pending(alice);
    const mine = list.find((e) => e.delay_id === id);
    expect(mine).toMatchObject({ room_id: room, type: "m.room.message", delay: 1500, content: { body: "later 1" } });
    expect(typeof mine!.running_since).toBe("number");
    expect(mine!.state_key).toBeUndefined();
    expect(await pending(bob)).toEqual([]);
    expect(await recentBodies()).not.toContain("later 1");
    await eventually(async () => (await recentBodies()).includes("later 1"));
    expect((await pending(alice)).some((e) => e.delay_id === id)).toBe(false);
    // Sent as alice.
    const r = await api(hs, "GET", `/rooms/${enc(room)}/messages?dir=b&limit=10`, alice.token);
    expect((r.json.chunk as J[]).find((e) => e.content?.body === "later 1")?.sender).toBe(alice.userId);
  });

  it("restart postpones the send; cancel drops it; send sends it at once", async () => {
    const restarted = await delayedSend(alice, { msgtype: "m.text", body: "restarted" }, 3000);
    const cancelled = await delayedSend(alice, { msgtype: "m.text", body: "cancelled" }, 1000);
    const sentNow = await delayedSend(alice, { msgtype: "m.text", body: "sent now" }, 50_000);
    const t0 = Date.now();
    expect((await action(alice, cancelled, "cancel")).status).toBe(200);
    expect((await action(alice, sentNow, "send")).status).toBe(200);
    expect(await recentBodies()).toContain("sent now");
    await sleep(Math.max(0, 2000 - (Date.now() - t0)));
    expect((await action(alice, restarted, "restart")).status).toBe(200);
    const restartAt = Date.now();
    // Without the restart it would have gone out at t0 + 3000.
    await sleep(Math.max(0, 2500 - (Date.now() - restartAt)));
    const bodies = await recentBodies();
    if (Date.now() - restartAt < 3000) expect(bodies).not.toContain("restarted");
    expect(bodies).not.toContain("cancelled");
    await eventually(async () => (await recentBodies()).includes("restarted"));
    expect(await recentBodies()).not.toContain("cancelled");
    // All three are gone from the list; their ids are unknown now.
    for (const id of [restarted, cancelled, sentNow]) {
      const r = await action(alice, id, "cancel");
      expect(r.status).toBe(404);
      expect(r.json.errcode).toBe("M_NOT_FOUND");
    }
  });

  it("sends a delayed leave when the client stops restarting it", async () => {
    const r = await api(hs, "PUT", `/rooms/${enc(room)}/state/m.room.member/${enc(bob.userId)}?org.matrix.msc4140.delay=1200`, bob.token, {
      membership: "leave",
    });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    const id = r.json.delay_id as string;
    expect((await pending(bob))[0]).toMatchObject({ delay_id: id, type: "m.room.member", state_key: bob.userId });
    // Kept alive twice, then left alone.
    for (let i = 0; i < 2; i++) {
      await sleep(600);
      expect((await action(bob, id, "restart")).status).toBe(200);
    }
    const membership = async () => (await api(hs, "GET", `/rooms/${enc(room)}/state/m.room.member/${enc(bob.userId)}`, alice.token)).json.membership;
    expect(await membership()).toBe("join");
    await eventually(async () => (await membership()) === "leave");
    await join(hs, bob, room);
  });

  it("keeps a delayed event pending across a restart, and it still fires", async () => {
    const id = await delayedSend(alice, { msgtype: "m.text", body: "across restart" }, 8000);
    await hs.restart();
    expect((await pending(alice)).some((e) => e.delay_id === id)).toBe(true);
    await eventually(async () => (await recentBodies()).includes("across restart"), 20_000);
    expect((await recentBodies()).filter((b) => b === "across restart").length).toBe(1);
  }, 60_000);

  it("refuses bad delays, actions and other users' delay ids", async () => {
    const big = await api(hs, "PUT", `/rooms/${enc(room)}/send/m.room.message/big?org.matrix.msc4140.delay=${MAX_DELAY + 1}`, alice.token, { body: "x" });
    expect(big.status).toBe(400);
    expect(big.json.errcode).toBe("M_MAX_DELAY_EXCEEDED");
    expect(big.json["org.matrix.msc4140.max_delay"]).toBe(MAX_DELAY);
    const bad = await api(hs, "PUT", `/rooms/${enc(room)}/send/m.room.message/bad?org.matrix.msc4140.delay=soon`, alice.token, { body: "x" });
    expect(bad.status).toBe(400);
    expect(bad.json.errcode).toBe("M_INVALID_PARAM");
    const other = await createRoom(hs, bob, {});
    const notIn = await api(hs, "PUT", `/rooms/${enc(other)}/send/m.room.message/x?org.matrix.msc4140.delay=1000`, alice.token, { body: "x" });
    expect(notIn.status).toBe(403);
    const id = await delayedSend(alice, { msgtype: "m.text", body: "mine" }, 30_000);
    expect((await action(bob, id, "cancel")).status).toBe(404);
    const wrong = await action(alice, id, "explode");
    expect(wrong.status).toBe(400);
    const missing = await hs.request<J>("POST", `${PREFIX}/${enc(id)}`, { token: alice.token, body: {} });
    expect(missing.status).toBe(400);
    // The path form of the actions.
    expect((await hs.request<J>("POST", `${PREFIX}/${enc(id)}/cancel`, { token: alice.token, body: {} })).status).toBe(200);
    // A retried PUT with the same transaction id names the same delayed event.
    const a = await api(hs, "PUT", `/rooms/${enc(room)}/send/m.room.message/same?org.matrix.msc4140.delay=30000`, alice.token, { body: "x" });
    const b = await api(hs, "PUT", `/rooms/${enc(room)}/send/m.room.message/same?org.matrix.msc4140.delay=30000`, alice.token, { body: "x" });
    expect(a.json.delay_id).toBe(b.json.delay_id);
    expect((await pending(alice)).filter((e) => e.delay_id === a.json.delay_id).length).toBe(1);
    expect((await hs.request<J>("GET", PREFIX)).status).toBe(401);
    // An ordinary send is unaffected.
    await sendText(hs, alice, room, "plain");
  });
});
