import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import postgres from "postgres";
import { parse, stringify } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FakeAppService, until, writeRegistrations } from "../appservice-helpers.js";
import { spawnServer } from "../process.js";
import { startCluster, type TestCluster } from "./cluster.js";
import { historyFrom, register, sendRetrying, syncReader, type ClusterUser, type J } from "./helpers.js";

// Three processes on one PostgreSQL behind a round-robin proxy (PostgreSQL
// only: the embedded database serves one process). Every request goes to the
// next process, so sends, syncs and their tokens cross processes all the time.
let c: TestCluster;
let db: postgres.Sql;
const bridge = new FakeAppService();
let owner: ClusterUser;
let roomId: string;
const senders: ClusterUser[] = [];

beforeAll(async () => {
  // An application service interested in every room: its deliveries show how many senders there are.
  await bridge.start();
  const [registration] = writeRegistrations([
    {
      id: "watcher",
      url: bridge.url,
      as_token: "as-token-watcher",
      hs_token: "hs-token-watcher",
      sender_localpart: "watcher_bot",
      namespaces: { users: [], aliases: [], rooms: [{ exclusive: false, regex: "!.*" }] },
      rate_limited: false,
    },
  ]);
  c = await startCluster(3, { app_service_config_files: [registration] });
  db = postgres(c.databaseUrl, { max: 1, onnotice: () => {} });
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
  await db?.end();
  await c?.close();
  await bridge.stop();
});

/** Which process holds the appservice's delivery lease (the one sender across the cluster), by its connection's name. */
async function senderInstance(): Promise<number | undefined> {
  const rows = await db<{ application_name: string }[]>`
    SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
     WHERE l.locktype = 'advisory' AND l.objsubid = 1 AND l.granted AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
       AND ((l.classid::int8 << 32) | l.objid::int8) = hashtextextended('delivery/appservice/watcher', 7)`;
  const m = /\/w(\d+)$/.exec(rows[0]?.application_name ?? "");
  return m ? Number(m[1]) : undefined;
}

/** Bodies of the room's messages the application service received, each delivery counted. */
const bridged = () =>
  bridge
    .events()
    .filter((e) => e.room_id === roomId && e.type === "m.room.message")
    .map((e) => e.content.body as string);

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
    // One sender for the application service across the three processes: every event once.
    await until(() => bridged().length >= 200, 15_000, "the appservice deliveries");
    expect(bridged()).toHaveLength(200);
    expect(new Set(bridged())).toEqual(sent);
  });

  it("shares one data_dir with a lock per instance: a second start of a running instance is refused", async () => {
    const again = spawnServer(["--config", c.processes[1]!.configFile]);
    expect(await again.exited).not.toBe(0);
    expect(again.stderr()).toMatch(/in use by another running server/);
    // The same name from another data_dir is refused too: the name is held in the database.
    const elsewhere = mkdtempSync(path.join(os.tmpdir(), "hs-cluster-dup-"));
    const file = path.join(elsewhere, "dup.yaml");
    writeFileSync(file, stringify({ ...parse(readFileSync(c.processes[1]!.configFile, "utf8")), data_dir: elsewhere }));
    const twin = spawnServer(["--config", file]);
    expect(await twin.exited).not.toBe(0);
    expect(twin.stderr()).toMatch(/instance_name w1 is in use by another running process/);
    rmSync(elsewhere, { recursive: true, force: true });
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

  it("loses no acknowledged event when a process is killed during sends, the others keep serving and take over its sending", async () => {
    const reader = syncReader(c, owner, roomId);
    await reader.ready;
    // The process to kill is the one sending to the application service.
    const victim = await senderInstance();
    expect(victim).toBeDefined();
    const survivors = [0, 1, 2].filter((i) => i !== victim);
    const before = (await historyFrom(c, survivors[0]!, owner, roomId)).length;
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
            await c.kill(victim!);
          }
        }
      }),
    );
    expect(killed).toBe(true);
    await reader.until(60);
    await reader.stop();
    const after = await historyFrom(c, survivors[0]!, owner, roomId);
    const fresh = after.slice(before);
    // Every acknowledged send is there exactly once (retries of a send kept its transaction id).
    expect(fresh.length).toBe(60);
    expect(new Set(fresh)).toEqual(new Set(acked));
    expect(reader.bodies).toEqual(fresh);
    expect(await historyFrom(c, survivors[1]!, owner, roomId)).toEqual(after);
    // Another process took the application service over and sent what was left.
    await until(async () => acked.every((b) => bridged().includes(b)), 20_000, "the takeover of the appservice sender");
    const holder = await senderInstance();
    expect(survivors).toContain(holder);
  });
});
