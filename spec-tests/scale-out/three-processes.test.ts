import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnServer } from "../process.js";
import { startCluster, type TestCluster } from "./cluster.js";
import { historyFrom, register, sendRetrying, syncReader, type ClusterUser, type J } from "./helpers.js";

// Three processes on one PostgreSQL behind a round-robin proxy (PostgreSQL
// only: the embedded database serves one process). Every request goes to the
// next process, so sends, syncs and their tokens cross processes all the time.
let c: TestCluster;
let owner: ClusterUser;
let roomId: string;
const senders: ClusterUser[] = [];

beforeAll(async () => {
  c = await startCluster(3);
  owner = await register(c, "owner");
  const created = await c.request<J>("POST", "/_matrix/client/v3/createRoom", { token: owner.token, body: { preset: "public_chat" } });
  expect(created.status).toBe(200);
  roomId = created.json.room_id as string;
  for (let i = 0; i < 20; i++) {
    const u = await register(c, `sender${i}`);
    const j = await c.request("POST", `/_matrix/client/v3/join/${encodeURIComponent(roomId)}`, { token: u.token, body: {} });
    expect(j.status).toBe(200);
    senders.push(u);
  }
});
afterAll(async () => {
  await c?.close();
});

describe("three processes on one database", () => {
  it("delivers 200 messages from 20 senders exactly once and in one order to every reader", async () => {
    const readers = [syncReader(c, owner, roomId), syncReader(c, senders[0]!, roomId)];
    await Promise.all(readers.map((r) => r.ready));
    const sent = new Set<string>();
    await Promise.all(
      senders.map(async (u, s) => {
        for (let m = 0; m < 10; m++) {
          const body = `s${s}-m${m}`;
          await sendRetrying(c, u, roomId, `t${s}-${m}`, body);
          sent.add(body);
        }
      }),
    );
    await Promise.all(readers.map((r) => r.until(200)));
    await Promise.all(readers.map((r) => r.stop()));
    const order = await historyFrom(c, 0, owner, roomId);
    expect(order).toHaveLength(200);
    expect(new Set(order)).toEqual(sent);
    // Each sender's own messages in the order it sent them.
    for (let s = 0; s < 20; s++) {
      const mine = order.filter((b) => b.startsWith(`s${s}-`));
      expect(mine).toEqual(Array.from({ length: 10 }, (_, m) => `s${s}-m${m}`));
    }
    // Every process serves the same history, and every live reader saw exactly it.
    expect(await historyFrom(c, 1, owner, roomId)).toEqual(order);
    expect(await historyFrom(c, 2, owner, roomId)).toEqual(order);
    for (const r of readers) expect(r.bodies).toEqual(order);
    for (const r of readers) expect(r.polls).toBeGreaterThan(3);
  });

  it("shares one data_dir with a lock per instance: a second start of a running instance is refused", async () => {
    const again = spawnServer(["--config", c.processes[1]!.configFile]);
    expect(await again.exited).not.toBe(0);
    expect(again.stderr()).toMatch(/in use by another running server/);
    expect((await c.requestTo(1, "GET", "/_matrix/client/versions")).status).toBe(200);
  });

  it("refuses a revoked access token on every process within a second", async () => {
    const u = await register(c, "revoked");
    const login = await c.request<J>("POST", "/_matrix/client/v3/login", {
      body: { type: "m.login.password", identifier: { type: "m.id.user", user: "revoked" }, password: "correct horse" },
    });
    expect(login.status).toBe(200);
    const token = login.json.access_token as string;
    // Each process now holds the token in its cache.
    for (let i = 0; i < 3; i++) expect((await c.requestTo(i, "GET", "/_matrix/client/v3/account/whoami", { token })).status).toBe(200);
    const out = await c.requestTo(1, "POST", "/_matrix/client/v3/logout", { token, body: {} });
    expect(out.status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    for (let i = 0; i < 3; i++) {
      const r = await c.requestTo<J>(i, "GET", "/_matrix/client/v3/account/whoami", { token });
      expect(r.status).toBe(401);
      expect(r.json.errcode).toBe("M_UNKNOWN_TOKEN");
    }
    // The user's other token is untouched.
    expect((await c.request("GET", "/_matrix/client/v3/account/whoami", { token: u.token })).status).toBe(200);
  });

  it("loses no acknowledged event when a process is killed during sends, and the others keep serving", async () => {
    const reader = syncReader(c, owner, roomId);
    await reader.ready;
    const before = (await historyFrom(c, 0, owner, roomId)).length;
    const acked: string[] = [];
    let killed = false;
    await Promise.all(
      senders.slice(0, 5).map(async (u, s) => {
        for (let m = 0; m < 12; m++) {
          const body = `kill-s${s}-m${m}`;
          await sendRetrying(c, u, roomId, `k${s}-${m}`, body);
          acked.push(body);
          if (!killed && acked.length === 20) {
            killed = true;
            await c.kill(2);
          }
        }
      }),
    );
    expect(killed).toBe(true);
    await reader.until(60);
    await reader.stop();
    const after = await historyFrom(c, 0, owner, roomId);
    const fresh = after.slice(before);
    // Every acknowledged send is there exactly once (retries of a send kept its transaction id).
    expect(fresh.length).toBe(60);
    expect(new Set(fresh)).toEqual(new Set(acked));
    expect(reader.bodies).toEqual(fresh);
    expect(await historyFrom(c, 1, owner, roomId)).toEqual(after);
  });
});
