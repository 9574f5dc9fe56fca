import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSignedPdu, getRoomVersion, type JsonObject } from "../src/core/index.js";
import { coreKey, eventually, makeTestCertificate, removeTestCertificate, signedFedRequest, startPair, type TlsFiles } from "./federation-helpers.js";
import type { TestServer } from "./harness.js";
import { api, createRoom, enc, newUser, send, type J, type TestUser } from "./sync-helpers.js";

// Two instances of this server, A and B, federating over HTTPS on loopback:
// rooms that span both, driven only through the client-server API (and one
// forged transaction), as users of two homeservers see them.

let tls: TlsFiles;
let a: TestServer;
let b: TestServer;
let nameA: string;
let nameB: string;
let alice: TestUser;
let bob: TestUser;

/**
 * A client's incremental `/sync` loop: every timeline event of every joined
 * room, in the order served, so tests can check "in order, exactly once".
 */
class SyncLog {
  since: string | undefined;
  readonly timelines = new Map<string, J[]>();
  readonly invites = new Set<string>();
  readonly ephemeral: J[] = [];
  readonly presence: J[] = [];
  readonly devicesChanged = new Set<string>();

  constructor(
    private readonly hs: () => TestServer,
    private readonly user: TestUser,
  ) {}

  async poll(timeout = 0): Promise<void> {
    // A timeline limit above any burst here, so a gap never hides events behind `limited`.
    const q = new URLSearchParams({ timeout: String(timeout), filter: JSON.stringify({ room: { timeline: { limit: 100 } } }) });
    if (this.since) q.set("since", this.since);
    const r = await this.hs().request<J>("GET", `/_matrix/client/v3/sync?${q}`, { token: this.user.token });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    this.since = r.json.next_batch as string;
    for (const [roomId, room] of Object.entries((r.json.rooms?.join ?? {}) as Record<string, J>)) {
      const list = this.timelines.get(roomId) ?? [];
      list.push(...((room.timeline?.events ?? []) as J[]));
      this.timelines.set(roomId, list);
    }
    for (const roomId of Object.keys((r.json.rooms?.invite ?? {}) as J)) this.invites.add(roomId);
    for (const room of Object.values((r.json.rooms?.join ?? {}) as Record<string, J>)) this.ephemeral.push(...((room.ephemeral?.events ?? []) as J[]));
    this.presence.push(...((r.json.presence?.events ?? []) as J[]));
    for (const u of (r.json.device_lists?.changed ?? []) as string[]) this.devicesChanged.add(u);
  }

  ids(roomId: string): string[] {
    return (this.timelines.get(roomId) ?? []).map((e) => e.event_id as string);
  }

  bodies(roomId: string): string[] {
    return (this.timelines.get(roomId) ?? []).filter((e) => e.type === "m.room.message").map((e) => e.content.body as string);
  }

  /** Polls until `pred` holds, failing after `ms`. */
  async until(pred: () => boolean, ms = 20_000, what = "sync condition"): Promise<void> {
    await eventually(
      async () => {
        if (pred()) return true;
        await this.poll(500);
        return pred() ? true : undefined;
      },
      ms,
      what,
    );
  }
}

async function joinVia(hs: TestServer, u: TestUser, roomIdOrAlias: string, via: string): Promise<J> {
  const r = await api(hs, "POST", `/join/${enc(roomIdOrAlias)}?server_name=${enc(via)}&via=${enc(via)}`, u.token, {});
  expect(r.status, JSON.stringify(r.json)).toBe(200);
  return r.json;
}

async function stateOf(hs: TestServer, u: TestUser, roomId: string): Promise<Map<string, string>> {
  const r = await api<J[]>(hs, "GET", `/rooms/${enc(roomId)}/state`, u.token);
  expect(r.status, JSON.stringify(r.json)).toBe(200);
  return new Map(r.json.map((e) => [`${e.type}|${e.state_key}`, e.event_id as string]));
}

async function membershipOn(hs: TestServer, u: TestUser, roomId: string, userId: string): Promise<string | undefined> {
  const r = await api(hs, "GET", `/rooms/${enc(roomId)}/state/m.room.member/${enc(userId)}`, u.token);
  return r.status === 200 ? (r.json.membership as string) : undefined;
}

/** A room on A that bob (on B) has joined through an invite. */
async function sharedRoom(body: J = {}): Promise<string> {
  const roomId = await createRoom(a, alice, { preset: "private_chat", ...body });
  const inv = await api(a, "POST", `/rooms/${enc(roomId)}/invite`, alice.token, { user_id: bob.userId });
  expect(inv.status, JSON.stringify(inv.json)).toBe(200);
  await joinVia(b, bob, roomId, nameA);
  await eventually(async () => ((await membershipOn(a, alice, roomId, bob.userId)) === "join" ? true : undefined), 20_000, "bob's join on A");
  return roomId;
}

beforeAll(async () => {
  tls = makeTestCertificate();
  // Short retry delays: a restarted peer is retried within a second, not after minutes of backoff.
  const quick = { sender: { min_backoff_ms: 200, max_backoff_ms: 1000 } };
  ({ a, b, nameA, nameB } = await startPair(tls, quick, quick));
  alice = await newUser(a, "alice");
  bob = await newUser(b, "bob");
}, 120_000);

afterAll(async () => {
  await a?.close();
  await b?.close();
  removeTestCertificate(tls);
});

describe("a room spanning two servers", () => {
  it("an invite from A reaches B's /sync; B joins; messages both ways arrive in order, exactly once, on both sides", async () => {
    const aliceLog = new SyncLog(() => a, alice);
    const bobLog = new SyncLog(() => b, bob);
    await aliceLog.poll();
    await bobLog.poll();
    const roomId = await createRoom(a, alice, { preset: "private_chat", name: "Across" });
    const inv = await api(a, "POST", `/rooms/${enc(roomId)}/invite`, alice.token, { user_id: bob.userId });
    expect(inv.status, JSON.stringify(inv.json)).toBe(200);
    await bobLog.until(() => bobLog.invites.has(roomId), 20_000, "the invite in B's /sync");

    await joinVia(b, bob, roomId, nameA);
    await aliceLog.until(
      () => (aliceLog.timelines.get(roomId) ?? []).some((e) => e.type === "m.room.member" && e.state_key === bob.userId),
      20_000,
      "bob's join on A",
    );

    const sent: string[] = [];
    for (let i = 0; i < 5; i++) {
      await send(a, alice, roomId, `a${i}`);
      sent.push(`a${i}`);
      await send(b, bob, roomId, `b${i}`);
      sent.push(`b${i}`);
    }
    const wantA = sent.filter((s) => s.startsWith("a"));
    const wantB = sent.filter((s) => s.startsWith("b"));
    for (const log of [aliceLog, bobLog]) {
      await log.until(() => log.bodies(roomId).length >= sent.length, 30_000, "all ten messages");
      await log.poll();
      const bodies = log.bodies(roomId);
      // Exactly once each, and each sender's messages in the order sent.
      expect([...bodies].sort()).toEqual([...sent].sort());
      expect(bodies.filter((x) => x.startsWith("a"))).toEqual(wantA);
      expect(bodies.filter((x) => x.startsWith("b"))).toEqual(wantB);
      expect(new Set(log.ids(roomId)).size).toBe(log.ids(roomId).length);
    }
    // Both servers agree on the room's current state.
    await eventually(async () => {
      const [sa, sb] = [await stateOf(a, alice, roomId), await stateOf(b, bob, roomId)];
      return JSON.stringify([...sa].sort()) === JSON.stringify([...sb].sort()) ? true : undefined;
    });
  });

  it("B joins a public room of A by its alias", async () => {
    const roomId = await createRoom(a, alice, { preset: "public_chat", room_alias_name: "lobby", name: "Lobby" });
    const joined = await joinVia(b, bob, `#lobby:${nameA}`, nameA);
    expect(joined.room_id).toBe(roomId);
    expect(await membershipOn(b, bob, roomId, bob.userId)).toBe("join");
    const name = await api(b, "GET", `/rooms/${enc(roomId)}/state/m.room.name`, bob.token);
    expect(name.json.name).toBe("Lobby");
  });

  it("A's admin kicks and bans B's user, who then cannot send", async () => {
    const roomId = await sharedRoom();
    const kick = await api(a, "POST", `/rooms/${enc(roomId)}/kick`, alice.token, { user_id: bob.userId, reason: "out" });
    expect(kick.status, JSON.stringify(kick.json)).toBe(200);
    await eventually(async () => ((await membershipOn(b, bob, roomId, bob.userId)) === "leave" ? true : undefined), 20_000, "the kick on B");
    const ban = await api(a, "POST", `/rooms/${enc(roomId)}/ban`, alice.token, { user_id: bob.userId, reason: "gone" });
    expect(ban.status, JSON.stringify(ban.json)).toBe(200);
    const denied = await api(b, "PUT", `/rooms/${enc(roomId)}/send/m.room.message/after-ban`, bob.token, { msgtype: "m.text", body: "x" });
    expect(denied.status).toBe(403);
    const rejoin = await api(b, "POST", `/join/${enc(roomId)}?server_name=${enc(nameA)}`, bob.token, {});
    expect(rejoin.status).toBe(403);
    expect(await membershipOn(a, alice, roomId, bob.userId)).toBe("ban");
  });

  it("20 concurrent state changes from both sides end in the same current state on both servers", async () => {
    const roomId = await sharedRoom();
    // Bob may send state: give him power 50 and state_default 50.
    const pl = await api(a, "GET", `/rooms/${enc(roomId)}/state/m.room.power_levels/`, alice.token);
    const content = { ...pl.json, users: { ...(pl.json.users as J), [bob.userId]: 50 }, state_default: 50 };
    expect((await api(a, "PUT", `/rooms/${enc(roomId)}/state/m.room.power_levels/`, alice.token, content)).status).toBe(200);
    await eventually(async () => {
      const r = await api(b, "GET", `/rooms/${enc(roomId)}/state/m.room.power_levels/`, bob.token);
      return r.json.users?.[bob.userId] === 50 ? true : undefined;
    });
    const writes: Promise<unknown>[] = [];
    for (let i = 0; i < 10; i++) {
      writes.push(api(a, "PUT", `/rooms/${enc(roomId)}/state/org.example.fork/k${i % 4}`, alice.token, { from: "a", i }));
      writes.push(api(b, "PUT", `/rooms/${enc(roomId)}/state/org.example.fork/k${i % 4}`, bob.token, { from: "b", i }));
    }
    const results = (await Promise.all(writes)) as { status: number }[];
    expect(results.every((r) => r.status === 200)).toBe(true);
    // A last message from each side merges the forks.
    await send(a, alice, roomId, "merge-a");
    await send(b, bob, roomId, "merge-b");
    const same = await eventually(
      async () => {
        const [sa, sb] = [await stateOf(a, alice, roomId), await stateOf(b, bob, roomId)];
        const ka = JSON.stringify([...sa].sort());
        return ka === JSON.stringify([...sb].sort()) && [...sa.keys()].filter((k) => k.startsWith("org.example.fork|")).length === 4 ? sa : undefined;
      },
      30_000,
      "identical current state",
    );
    expect(same.size).toBeGreaterThan(4);
  });

  it("B stopped while A sends 50 messages gets all 50 once after its restart", async () => {
    const roomId = await sharedRoom();
    const bobLog = new SyncLog(() => b, bob);
    await bobLog.poll();
    await b.stop();
    const bodies: string[] = [];
    for (let i = 0; i < 50; i++) {
      await send(a, alice, roomId, `offline-${i}`);
      bodies.push(`offline-${i}`);
    }
    await b.start();
    // Bob's client goes on from its last position, as after a network outage.
    await bobLog.until(() => bobLog.bodies(roomId).filter((x) => x.startsWith("offline-")).length >= 50, 60_000, "the 50 messages on B");
    await bobLog.poll();
    expect(bobLog.bodies(roomId).filter((x) => x.startsWith("offline-"))).toEqual(bodies);
    expect(new Set(bobLog.ids(roomId)).size).toBe(bobLog.ids(roomId).length);
  }, 120_000);

  it("B paginates history from before its join, fetched from A", async () => {
    const roomId = await createRoom(a, alice, {
      preset: "public_chat",
      name: "History",
      initial_state: [{ type: "m.room.history_visibility", state_key: "", content: { history_visibility: "shared" } }],
    });
    const early: string[] = [];
    for (let i = 0; i < 15; i++) {
      await send(a, alice, roomId, `early-${i}`);
      early.push(`early-${i}`);
    }
    await joinVia(b, bob, roomId, nameA);
    const seen: string[] = [];
    let from: string | undefined;
    for (let page = 0; page < 10 && seen.filter((x) => x.startsWith("early-")).length < 15; page++) {
      const q = new URLSearchParams({ dir: "b", limit: "10" });
      if (from) q.set("from", from);
      const r = await api(b, "GET", `/rooms/${enc(roomId)}/messages?${q}`, bob.token);
      expect(r.status, JSON.stringify(r.json)).toBe(200);
      for (const e of r.json.chunk as J[]) if (e.type === "m.room.message") seen.push(e.content.body as string);
      if (!r.json.end) break;
      from = r.json.end as string;
    }
    expect(seen.filter((x) => x.startsWith("early-")).reverse()).toEqual(early);
  });

  it("a PDU that fails the authorization rules is rejected and shows in neither timeline", async () => {
    const roomId = await sharedRoom({ room_version: "11" });
    const marker = await send(a, alice, roomId, "before-forgery");
    // A PDU "from A" by a user of A who never joined, signed with A's real key.
    const keyA = coreKey(a);
    const state = await api(b, "GET", `/rooms/${enc(roomId)}/state`, bob.token);
    const byKey = new Map((state.json as unknown as J[]).map((e) => [`${e.type}|${e.state_key}`, e.event_id as string]));
    const rv = getRoomVersion("11")!;
    const mallory = `@mallory:${nameA}`;
    // Cites real auth events, but mallory never joined: the authorization rules refuse it.
    const auth = [byKey.get("m.room.create|"), byKey.get("m.room.power_levels|")].filter((x): x is string => !!x);
    const { pdu, eventId } = createSignedPdu(
      {
        roomId,
        sender: mallory,
        type: "m.room.message",
        content: { msgtype: "m.text", body: "forged" },
        prevEvents: [marker],
        authEvents: auth,
        depth: 1000,
        originServerTs: Date.now(),
      },
      rv,
      nameA,
      keyA,
      {},
    );
    const txn = { origin: nameA, origin_server_ts: Date.now(), pdus: [pdu as unknown as JsonObject] };
    const uri = `/_matrix/federation/v1/send/forged-${Date.now()}`;
    const r = await signedFedRequest(b, nameA, keyA, nameB, "PUT", uri, txn as unknown as JsonObject);
    expect(r.status).toBe(200);
    expect((r.json.pdus as J)[eventId]?.error).toBeTruthy();
    const ev = await api(b, "GET", `/rooms/${enc(roomId)}/event/${enc(eventId)}`, bob.token);
    expect(ev.status).toBe(404);
    const evA = await api(a, "GET", `/rooms/${enc(roomId)}/event/${enc(eventId)}`, alice.token);
    expect(evA.status).toBe(404);
  });
});

describe("EDUs across the two servers, through the senders", () => {
  it("typing, a read receipt, presence and a new device of A's user reach B's /sync", async () => {
    const roomId = await sharedRoom();
    const bobLog = new SyncLog(() => b, bob);
    await bobLog.poll();
    const typing = await api(a, "PUT", `/rooms/${enc(roomId)}/typing/${enc(alice.userId)}`, alice.token, { typing: true, timeout: 30_000 });
    expect(typing.status).toBe(200);
    await bobLog.until(
      () => bobLog.ephemeral.some((e) => e.type === "m.typing" && (e.content.user_ids as string[]).includes(alice.userId)),
      20_000,
      "typing on B",
    );

    const eventId = await send(b, bob, roomId, "read me");
    await eventually(async () => ((await api(a, "GET", `/rooms/${enc(roomId)}/event/${enc(eventId)}`, alice.token)).status === 200 ? true : undefined));
    expect((await api(a, "POST", `/rooms/${enc(roomId)}/receipt/m.read/${enc(eventId)}`, alice.token, {})).status).toBe(200);
    await bobLog.until(
      () => bobLog.ephemeral.some((e) => e.type === "m.receipt" && e.content[eventId]?.["m.read"]?.[alice.userId] !== undefined),
      20_000,
      "the receipt on B",
    );

    expect((await api(a, "PUT", `/presence/${enc(alice.userId)}/status`, alice.token, { presence: "online", status_msg: "across" })).status).toBe(200);
    await bobLog.until(() => bobLog.presence.some((e) => e.sender === alice.userId && e.content.status_msg === "across"), 20_000, "presence on B");

    const login = await a.request<J>("POST", "/_matrix/client/v3/login", {
      body: { type: "m.login.password", identifier: { type: "m.id.user", user: "alice" }, password: "correct horse" },
    });
    expect(login.status, JSON.stringify(login.json)).toBe(200);
    const keys = await api(a, "POST", "/keys/upload", login.json.access_token as string, {
      device_keys: {
        user_id: alice.userId,
        device_id: login.json.device_id,
        algorithms: ["m.olm.v1.curve25519-aes-sha2"],
        keys: { [`curve25519:${login.json.device_id}`]: "x", [`ed25519:${login.json.device_id}`]: "y" },
        signatures: {},
      },
    });
    expect(keys.status, JSON.stringify(keys.json)).toBe(200);
    await bobLog.until(() => bobLog.devicesChanged.has(alice.userId), 20_000, "alice's device list change on B");
    const query = await api(b, "POST", "/keys/query", bob.token, { device_keys: { [alice.userId]: [] } });
    expect(Object.keys((query.json.device_keys as J)[alice.userId] ?? {})).toContain(login.json.device_id);
  });
});

describe("every room version across the two servers", () => {
  it("rooms of versions 1 to 12 are joined from B and carry messages both ways", async () => {
    const versions = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12"];
    for (const v of versions) {
      const roomId = await sharedRoom({ room_version: v });
      const fromA = await send(a, alice, roomId, `hello from A in v${v}`);
      const fromB = await send(b, bob, roomId, `hello from B in v${v}`);
      await eventually(
        async () => ((await api(b, "GET", `/rooms/${enc(roomId)}/event/${enc(fromA)}`, bob.token)).status === 200 ? true : undefined),
        20_000,
        `A's message on B in v${v}`,
      );
      await eventually(
        async () => ((await api(a, "GET", `/rooms/${enc(roomId)}/event/${enc(fromB)}`, alice.token)).status === 200 ? true : undefined),
        20_000,
        `B's message on A in v${v}`,
      );
    }
  }, 180_000);
});
