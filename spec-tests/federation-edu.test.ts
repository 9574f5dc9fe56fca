import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getRoomVersion, verifyKeyOf, type EventKeyLookup, type JsonObject, type Pdu, type SigningKey } from "../src/core/index.js";
import type { Edu, FederationOutbound } from "../src/federation/outbound.js";
import { TestServer as SigningServer, type Built } from "../test/support/remote-server.js";
import { login } from "./accounts-helpers.js";
import { crossSigningKey, ed25519Key, makeDeviceKeys, makeOneTimeKeys } from "./e2ee-helpers.js";
import {
  coreKey,
  eventually,
  freePort,
  makeTestCertificate,
  removeTestCertificate,
  signedFedRequest,
  startFederated,
  type TlsFiles,
} from "./federation-helpers.js";
import type { TestServer } from "./harness.js";
import { api, createRoom, enc, newUser, send, sync, type J, type TestUser } from "./sync-helpers.js";

// Two instances on loopback over HTTPS, A and B, sharing a room: A's user
// created it, B's user joined with a member event signed by B. EDUs each
// instance hands its federation sender are recorded and delivered to the
// other instance's PUT /send, signed by the sending instance; the tests also
// sign /send requests themselves for what a sender must not be able to do.

/** A stand-in for the federation sender: records EDUs and delivers them at once with a signed PUT /send. */
class ForwardingOutbound implements FederationOutbound {
  readonly sent: Array<{ destinations: string[]; edu: Edu; durable: boolean }> = [];
  forward = true;
  hs: TestServer | undefined;
  private n = 0;

  async sendEdu(destinations: readonly string[], edu: Edu, opts?: { durable?: boolean }): Promise<void> {
    this.sent.push({ destinations: [...destinations], edu, durable: opts?.durable === true });
    const hs = this.hs;
    if (!this.forward || !hs) return;
    const origin = hs.server.config.server_name;
    for (const d of destinations) {
      await hs.server.federation.client
        .put(d, `/_matrix/federation/v1/send/fwd-${Date.now()}-${++this.n}`, {
          origin,
          origin_server_ts: Date.now(),
          pdus: [],
          edus: [edu as unknown as JsonObject],
        })
        .catch(() => undefined);
    }
  }

  wake(): void {}

  of(type: string): Array<{ destinations: string[]; edu: Edu; durable: boolean }> {
    return this.sent.filter((s) => s.edu.edu_type === type);
  }
}

let tls: TlsFiles;
let a: TestServer;
let b: TestServer;
let nameA: string;
let nameB: string;
const outA = new ForwardingOutbound();
const outB = new ForwardingOutbound();
let alice: TestUser;
let bob: TestUser;
let roomId: string;
let keyA: SigningKey;
let silent: net.Server | undefined;

function keyLookup(...keys: SigningKey[]): EventKeyLookup {
  return (_server, keyId) => {
    const k = keys.find((x) => x.keyId === keyId);
    return k ? verifyKeyOf(k) : undefined;
  };
}

async function eventsOf(hs: TestServer, room: string): Promise<Built[]> {
  const rows = await hs.server.sql.query<{ event_id: string; pdu: string; depth: number }>(
    "SELECT event_id, pdu, depth FROM events WHERE room_id = $1 ORDER BY stream_ordering",
    [room],
  );
  return rows.map((r) => ({ id: r.event_id, pdu: (typeof r.pdu === "string" ? JSON.parse(r.pdu) : r.pdu) as Pdu, depth: Number(r.depth) }));
}

/** A transaction of EDUs from A to B, signed by A as its sender would. */
let txn = 0;
async function sendToB(edus: Array<{ edu_type: string; content: J }>): Promise<void> {
  const r = await signedFedRequest(b, nameA, keyA, nameB, "PUT", `/_matrix/federation/v1/send/test-${++txn}-${Date.now()}`, {
    origin: nameA,
    origin_server_ts: Date.now(),
    pdus: [],
    edus,
  } as unknown as JsonObject);
  expect(r.status, JSON.stringify(r.json)).toBe(200);
}

/** Incremental syncs of `u` until `pick` finds something; returns it and the next token. */
async function syncUntil<T>(hs: TestServer, u: TestUser, since: string, pick: (res: J) => T | undefined, what: string): Promise<{ value: T; next: string }> {
  let token = since;
  return eventually(
    async () => {
      const res = await sync(hs, u, { since: token, timeout: 500 });
      token = res.next_batch as string;
      const v = pick(res);
      return v === undefined ? undefined : { value: v, next: token };
    },
    15_000,
    what,
  );
}

function typingIn(res: J, room: string): string[] | undefined {
  const ev = ((res.rooms?.join?.[room]?.ephemeral?.events ?? []) as J[]).find((e) => e.type === "m.typing");
  return ev ? (ev.content.user_ids as string[]) : undefined;
}

beforeAll(async () => {
  tls = makeTestCertificate();
  const [pa, pb] = [await freePort(), await freePort()];
  nameA = `localhost:${pa}`;
  nameB = `localhost:${pb}`;
  a = await startFederated(tls, pa, {}, {}, { federationOutbound: outA });
  b = await startFederated(tls, pb, {}, {}, { federationOutbound: outB });
  outA.hs = a;
  outB.hs = b;
  keyA = coreKey(a);
  alice = await newUser(a, "alice");
  bob = await newUser(b, "bob");

  // The room: created on A; bob's join built and signed by B; the same DAG persisted on both.
  roomId = await createRoom(a, alice, { preset: "public_chat", room_version: "10" });
  const events = await eventsOf(a, roomId);
  const byType = (t: string) => events.find((e) => (e.pdu as J).type === t && (e.pdu as J).state_key === "")!;
  const signerB = new SigningServer(nameB, coreKey(b));
  const joinB = signerB.event(getRoomVersion("10")!, roomId, {
    type: "m.room.member",
    sender: bob.userId,
    stateKey: bob.userId,
    content: { membership: "join" },
    prev: [events[events.length - 1]!],
    auth: [byType("m.room.create"), byType("m.room.power_levels"), byType("m.room.join_rules")],
  });
  const keys = keyLookup(keyA, coreKey(b));
  expect((await a.server.roomInput.persist(roomId, joinB.pdu, { kind: "new", keys, origin: nameB })).status).toBe("accepted");
  for (const e of events) {
    const r = await b.server.roomInput.persist(roomId, e.pdu, { kind: "new", keys, origin: nameA, roomVersion: "10" });
    expect(r.status, JSON.stringify(r)).toBe("accepted");
  }
  expect((await b.server.roomInput.persist(roomId, joinB.pdu, { kind: "new", keys })).status).toBe("accepted");
}, 120_000);

afterAll(async () => {
  silent?.close();
  await a?.close();
  await b?.close();
  removeTestCertificate(tls);
});

describe("typing and receipts", () => {
  it("typing on A reaches B's /sync and typing on B reaches A's, through m.typing to the servers in the room", async () => {
    const sinceB = (await sync(b, bob)).next_batch as string;
    const sinceA = (await sync(a, alice)).next_batch as string;
    expect((await api(a, "PUT", `/rooms/${enc(roomId)}/typing/${enc(alice.userId)}`, alice.token, { typing: true, timeout: 20_000 })).status).toBe(200);
    const seen = await syncUntil(b, bob, sinceB, (r) => typingIn(r, roomId)?.includes(alice.userId) || undefined, "alice typing on B");
    expect(seen.value).toBe(true);
    expect(outA.of("m.typing").at(-1)).toMatchObject({
      destinations: [nameB],
      edu: { content: { room_id: roomId, user_id: alice.userId, typing: true } },
      durable: false,
    });

    expect((await api(b, "PUT", `/rooms/${enc(roomId)}/typing/${enc(bob.userId)}`, bob.token, { typing: true, timeout: 20_000 })).status).toBe(200);
    await syncUntil(a, alice, sinceA, (r) => typingIn(r, roomId)?.includes(bob.userId) || undefined, "bob typing on A");

    // Stopping is sent as well.
    expect((await api(a, "PUT", `/rooms/${enc(roomId)}/typing/${enc(alice.userId)}`, alice.token, { typing: false })).status).toBe(200);
    await syncUntil(
      b,
      bob,
      seen.next,
      (r) => (typingIn(r, roomId) && !typingIn(r, roomId)!.includes(alice.userId) ? true : undefined),
      "alice stops typing on B",
    );
  });

  it("refuses typing for a user of the origin who is not in the room, and for a user of another server", async () => {
    const since = (await sync(b, bob)).next_batch as string;
    const mallory = `@mallory:${nameA}`;
    const carol = `@carol:${nameB}`;
    await sendToB([
      { edu_type: "m.typing", content: { room_id: roomId, user_id: mallory, typing: true } },
      { edu_type: "m.typing", content: { room_id: roomId, user_id: carol, typing: true } },
      { edu_type: "m.typing", content: { room_id: roomId, user_id: bob.userId, typing: true } },
    ]);
    // Then a valid one: once it shows, the refused ones would have shown too.
    await sendToB([{ edu_type: "m.typing", content: { room_id: roomId, user_id: alice.userId, typing: true } }]);
    const { value } = await syncUntil(b, bob, since, (r) => (typingIn(r, roomId)?.includes(alice.userId) ? typingIn(r, roomId) : undefined), "alice typing");
    expect(value).not.toContain(mallory);
    expect(value).not.toContain(carol);
  });

  it("a read receipt on A (threaded too) reaches B's /sync; receipts for users not in the room are refused", async () => {
    const since = (await sync(b, bob)).next_batch as string;
    const e1 = await send(a, alice, roomId, "hello B");
    expect((await api(a, "POST", `/rooms/${enc(roomId)}/receipt/m.read/${enc(e1)}`, alice.token, { thread_id: "main" })).status).toBe(200);
    const sentReceipt = await eventually(async () => outA.of("m.receipt").at(-1), 5000, "the m.receipt handed to A's sender");
    expect(sentReceipt.edu.content).toEqual({
      [roomId]: { "m.read": { [alice.userId]: { event_ids: [e1], data: { ts: expect.any(Number), thread_id: "main" } } } },
    });
    const mallory = `@mallory:${nameA}`;
    await sendToB([{ edu_type: "m.receipt", content: { [roomId]: { "m.read": { [mallory]: { event_ids: [e1], data: { ts: 1 } } } } } }]);
    const { value } = await syncUntil(
      b,
      bob,
      since,
      (r) => {
        const ev = ((r.rooms?.join?.[roomId]?.ephemeral?.events ?? []) as J[]).find((e) => e.type === "m.receipt");
        return ev?.content?.[e1]?.["m.read"]?.[alice.userId] ? (ev.content as J) : undefined;
      },
      "alice's receipt on B",
    );
    expect(value[e1]["m.read"][alice.userId]).toMatchObject({ thread_id: "main" });
    expect(value[e1]["m.read"][mallory]).toBeUndefined();
    const stored = await b.server.sql.query("SELECT user_id FROM receipts WHERE room_id = $1 AND user_id = $2", [roomId, mallory]);
    expect(stored).toEqual([]);
  });

  it("presence set on A reaches B's /sync", async () => {
    const since = (await sync(b, bob)).next_batch as string;
    expect((await api(a, "PUT", `/presence/${enc(alice.userId)}/status`, alice.token, { presence: "online", status_msg: "across servers" })).status).toBe(200);
    const { value } = await syncUntil(
      b,
      bob,
      since,
      (r) => ((r.presence?.events ?? []) as J[]).find((e) => e.sender === alice.userId && e.content.status_msg === "across servers"),
      "alice's presence on B",
    );
    expect(value.content.presence).toBe("online");
  });

  it("a read receipt and presence set on B reach A's /sync", async () => {
    const since = (await sync(a, alice)).next_batch as string;
    // An event both servers hold: the newest of B's timeline (bob's join, or later).
    const timeline = ((await sync(b, bob)).rooms?.join?.[roomId]?.timeline?.events ?? []) as J[];
    const e1 = timeline.at(-1)?.event_id as string;
    expect(await a.server.sql.query("SELECT 1 FROM events WHERE event_id = $1", [e1])).toHaveLength(1);
    expect((await api(b, "POST", `/rooms/${enc(roomId)}/receipt/m.read/${enc(e1)}`, bob.token, {})).status).toBe(200);
    expect((await api(b, "PUT", `/presence/${enc(bob.userId)}/status`, bob.token, { presence: "unavailable", status_msg: "from B" })).status).toBe(200);
    const receipt = await syncUntil(
      a,
      alice,
      since,
      (r) => {
        const ev = ((r.rooms?.join?.[roomId]?.ephemeral?.events ?? []) as J[]).find((e) => e.type === "m.receipt");
        return ev?.content?.[e1]?.["m.read"]?.[bob.userId] ? true : undefined;
      },
      "bob's receipt on A",
    );
    expect(receipt.value).toBe(true);
    const presence = await syncUntil(
      a,
      alice,
      since,
      (r) => ((r.presence?.events ?? []) as J[]).find((e) => e.sender === bob.userId && e.content.status_msg === "from B"),
      "bob's presence on A",
    );
    expect(presence.value.content.presence).toBe("unavailable");
  });
});

describe("to-device messages", () => {
  it("cross exactly once: a repeated message_id is not delivered twice", async () => {
    const since = (await sync(b, bob)).next_batch as string;
    const body = { messages: { [bob.userId]: { [bob.deviceId]: { text: "psst" } } } };
    expect((await a.request("PUT", "/_matrix/client/v3/sendToDevice/m.test.secret/td1", { token: alice.token, body })).status).toBe(200);
    const edu = outA.of("m.direct_to_device").at(-1)!;
    expect(edu).toMatchObject({ destinations: [nameB], durable: true, edu: { content: { sender: alice.userId, type: "m.test.secret" } } });
    // The sender retries the EDU in a new transaction, and the client retransmits its request.
    await sendToB([edu.edu as unknown as { edu_type: string; content: J }]);
    expect((await a.request("PUT", "/_matrix/client/v3/sendToDevice/m.test.secret/td1", { token: alice.token, body })).status).toBe(200);
    // A second, different message marks the end of what can arrive.
    const second = { messages: { [bob.userId]: { "*": { text: "second" } } } };
    expect((await a.request("PUT", "/_matrix/client/v3/sendToDevice/m.test.secret/td2", { token: alice.token, body: second })).status).toBe(200);
    const got: J[] = [];
    let token = since;
    await eventually(async () => {
      const r = await sync(b, bob, { since: token, timeout: 500 });
      token = r.next_batch as string;
      got.push(...((r.to_device?.events ?? []) as J[]));
      return got.some((e) => e.content.text === "second") ? true : undefined;
    });
    expect(got.filter((e) => e.content.text === "psst")).toEqual([{ sender: alice.userId, type: "m.test.secret", content: { text: "psst" } }]);
  });

  it("crosses exactly once also across a restart of the receiver", async () => {
    const since = (await sync(b, bob)).next_batch as string;
    const body = { messages: { [bob.userId]: { [bob.deviceId]: { text: "before restart" } } } };
    expect((await a.request("PUT", "/_matrix/client/v3/sendToDevice/m.test.secret/restart1", { token: alice.token, body })).status).toBe(200);
    const edu = outA.of("m.direct_to_device").at(-1)!;
    expect(edu.edu.content.message_id).toEqual(expect.any(String));
    await b.stop();
    await b.start();
    // The sender did not hear B's answer and sends the EDU again to the restarted B.
    await sendToB([edu.edu as unknown as { edu_type: string; content: J }]);
    await sendToB([
      {
        edu_type: "m.direct_to_device",
        content: { sender: alice.userId, type: "m.test.secret", message_id: "marker-r", messages: { [bob.userId]: { "*": { text: "marker" } } } },
      },
    ]);
    const got: J[] = [];
    let token = since;
    await eventually(async () => {
      const r = await sync(b, bob, { since: token, timeout: 500 });
      token = r.next_batch as string;
      got.push(...((r.to_device?.events ?? []) as J[]));
      return got.some((e) => e.content.text === "marker") ? true : undefined;
    });
    expect(got.filter((e) => e.content.text === "before restart")).toHaveLength(1);
  });

  it("a to-device EDU whose sender is not of the origin is dropped", async () => {
    const since = (await sync(b, bob)).next_batch as string;
    await sendToB([
      {
        edu_type: "m.direct_to_device",
        content: { sender: `@eve:${nameB}`, type: "m.test.forged", message_id: "forged1", messages: { [bob.userId]: { "*": { x: 1 } } } },
      },
      {
        edu_type: "m.direct_to_device",
        content: { sender: alice.userId, type: "m.test.ok", message_id: "ok1", messages: { [bob.userId]: { "*": { x: 2 } } } },
      },
    ]);
    const { value } = await syncUntil(
      b,
      bob,
      since,
      (r) => (((r.to_device?.events ?? []) as J[]).length > 0 ? (r.to_device.events as J[]) : undefined),
      "to-device",
    );
    expect(value.map((e) => e.type)).toEqual(["m.test.ok"]);
  });
});

describe("device lists and keys", () => {
  it("/keys/query and /keys/claim on B for A's user are answered by A over federation", async () => {
    const dk = makeDeviceKeys(alice.userId, alice.deviceId);
    const up = await api(a, "POST", "/keys/upload", alice.token, { device_keys: dk.keys, one_time_keys: makeOneTimeKeys(alice.userId, dk.key, 2) });
    expect(up.status, JSON.stringify(up.json)).toBe(200);
    const q = await api(b, "POST", "/keys/query", bob.token, { device_keys: { [alice.userId]: [] } });
    expect(q.status).toBe(200);
    expect(q.json.failures).toEqual({});
    expect(q.json.device_keys[alice.userId][alice.deviceId]).toMatchObject({ user_id: alice.userId, device_id: alice.deviceId, keys: dk.keys.keys });

    const c = await api(b, "POST", "/keys/claim", bob.token, { one_time_keys: { [alice.userId]: { [alice.deviceId]: "signed_curve25519" } } });
    expect(c.status).toBe(200);
    expect(c.json.failures).toEqual({});
    const claimed = Object.keys(c.json.one_time_keys[alice.userId][alice.deviceId]);
    expect(claimed).toHaveLength(1);
    expect(claimed[0]).toMatch(/^signed_curve25519:/);
  });

  it("a server that never answers makes /keys/query return within its timeout, listed in failures", async () => {
    // Accepts connections and never says a word (no TLS handshake, no answer).
    const port = await freePort();
    const held: net.Socket[] = [];
    silent = net.createServer((s) => void held.push(s));
    await new Promise<void>((r) => silent!.listen(port, "127.0.0.1", r));
    const ghost = `@ghost:localhost:${port}`;
    const started = Date.now();
    const q = await api(b, "POST", "/keys/query", bob.token, { device_keys: { [ghost]: [], [alice.userId]: [] }, timeout: 1500 });
    const took = Date.now() - started;
    expect(q.status).toBe(200);
    expect(took).toBeLessThan(6000);
    expect(Object.keys(q.json.failures)).toEqual([`localhost:${port}`]);
    // The answering server's results are still there.
    expect(Object.keys(q.json.device_keys[alice.userId])).toContain(alice.deviceId);
    const c = await api(b, "POST", "/keys/claim", bob.token, { one_time_keys: { [ghost]: { DEV: "signed_curve25519" } }, timeout: 1000 });
    expect(c.status).toBe(200);
    expect(Object.keys(c.json.failures)).toEqual([`localhost:${port}`]);
    for (const s of held) s.destroy();
  });

  it("GET /user/devices answers local users only, with their keys and stream_id", async () => {
    const r = await signedFedRequest(a, nameB, coreKey(b), nameA, "GET", `/_matrix/federation/v1/user/devices/${enc(alice.userId)}`);
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ user_id: alice.userId, stream_id: expect.any(Number) });
    expect(r.json.stream_id).toBeGreaterThan(0);
    expect((r.json.devices as J[]).find((d) => d.device_id === alice.deviceId)?.keys?.device_id).toBe(alice.deviceId);
    const other = await signedFedRequest(a, nameB, coreKey(b), nameA, "GET", `/_matrix/federation/v1/user/devices/${enc(bob.userId)}`);
    expect(other.status).toBe(400);
  });

  it("a device list update with a gap in prev_id makes B resync from /user/devices", async () => {
    // B caches alice's list (she shares a room with bob): wait until it is there.
    const cached = await eventually(async () => {
      const [row] = await b.server.sql.query<{ stream_id: number; stale: boolean }>("SELECT stream_id, stale FROM remote_device_lists WHERE user_id = $1", [
        alice.userId,
      ]);
      return row && !row.stale ? row : undefined;
    });
    outA.forward = false; // only the updates below reach B
    try {
      const fake = (id: string) => makeDeviceKeys(alice.userId, id, ed25519Key(id)).keys;
      // In sequence: applied to the cache (A has no such device: only the update can have put it there).
      await sendToB([
        {
          edu_type: "m.device_list_update",
          content: { user_id: alice.userId, device_id: "FAKE1", stream_id: cached.stream_id + 1, prev_id: [cached.stream_id], keys: fake("FAKE1") },
        },
      ]);
      const q1 = await eventually(async () => {
        const q = await api(b, "POST", "/keys/query", bob.token, { device_keys: { [alice.userId]: [] } });
        return q.json.device_keys[alice.userId].FAKE1 ? q.json : undefined;
      });
      expect(Object.keys(q1.device_keys[alice.userId]).sort()).toEqual([alice.deviceId, "FAKE1"].sort());
      // A gap: prev_id names an update B never saw. B fetches the list from A, which has neither fake device.
      await sendToB([
        {
          edu_type: "m.device_list_update",
          content: { user_id: alice.userId, device_id: "FAKE2", stream_id: cached.stream_id + 10, prev_id: [cached.stream_id + 5], keys: fake("FAKE2") },
        },
      ]);
      // Stale at once, then fresh again at A's stream_id once the resync is done.
      const row = await eventually(async () => {
        const [r] = await b.server.sql.query<{ stream_id: number; stale: boolean }>("SELECT stream_id, stale FROM remote_device_lists WHERE user_id = $1", [
          alice.userId,
        ]);
        return r && !r.stale && r.stream_id !== cached.stream_id + 1 ? r : undefined;
      });
      expect(row).toEqual({ stream_id: cached.stream_id, stale: false });
      const q2 = await api(b, "POST", "/keys/query", bob.token, { device_keys: { [alice.userId]: [] } });
      expect(Object.keys(q2.json.device_keys[alice.userId])).toEqual([alice.deviceId]);
      const devices = await b.server.sql.query<{ device_id: string }>("SELECT device_id FROM remote_devices WHERE user_id = $1 ORDER BY device_id", [
        alice.userId,
      ]);
      expect(devices.map((d) => d.device_id)).toEqual([alice.deviceId]);
    } finally {
      outA.forward = true;
    }
  });

  it("B sees A's user's new device in device_lists.changed and /keys/changes, and its keys in /keys/query", async () => {
    const since = (await sync(b, bob)).next_batch as string;
    const second = await login(a, "alice", "correct horse", { device_id: "SECOND" });
    const dk = makeDeviceKeys(alice.userId, "SECOND");
    expect((await api(a, "POST", "/keys/upload", second.access_token as string, { device_keys: dk.keys })).status).toBe(200);
    await syncUntil(b, bob, since, (r) => ((r.device_lists?.changed ?? []) as string[]).includes(alice.userId) || undefined, "alice in device_lists.changed");
    const updates = outA.of("m.device_list_update").filter((s) => s.edu.content.device_id === "SECOND");
    expect(updates.length).toBeGreaterThan(0);
    expect(updates.every((u) => u.durable && u.destinations.includes(nameB))).toBe(true);
    const q = await eventually(async () => {
      const r = await api(b, "POST", "/keys/query", bob.token, { device_keys: { [alice.userId]: [] } });
      return r.json.device_keys[alice.userId].SECOND?.keys ? r.json : undefined;
    });
    expect(q.device_keys[alice.userId].SECOND.keys).toEqual(dk.keys.keys);
    // /keys/changes between the token before and a token taken now (the stream keeps each user's latest change).
    const changed = await eventually(
      async () => {
        const upto = (await sync(b, bob, { since, timeout: 0 })).next_batch as string;
        const r = await b.request<J>("GET", `/_matrix/client/v3/keys/changes?from=${enc(since)}&to=${enc(upto)}`, { token: bob.token });
        return (r.json.changed as string[]).includes(alice.userId) ? r.json.changed : undefined;
      },
      10_000,
      "alice in /keys/changes",
    );
    expect(changed).toContain(alice.userId);
    // B's cache holds the new device and its keys, and is not stale.
    await eventually(
      async () => {
        const rows = await b.server.sql.query<{ stale: boolean; key_json: string | null }>(
          "SELECT l.stale, d.key_json FROM remote_device_lists l JOIN remote_devices d USING (user_id) WHERE user_id = $1 AND d.device_id = 'SECOND'",
          [alice.userId],
        );
        return rows[0] && !rows[0].stale && rows[0].key_json !== null ? true : undefined;
      },
      10_000,
      "SECOND in B's cache",
    );
  });

  it("a signing key update from A reaches B's cache and /keys/query", async () => {
    const master = ed25519Key();
    const mk = crossSigningKey(alice.userId, "master", master);
    const ssk = crossSigningKey(alice.userId, "self_signing", ed25519Key(), master);
    const usk = crossSigningKey(alice.userId, "user_signing", ed25519Key(), master);
    const first = await api(a, "POST", "/keys/device_signing/upload", alice.token, { master_key: mk, self_signing_key: ssk, user_signing_key: usk });
    const r =
      first.status === 401
        ? await api(a, "POST", "/keys/device_signing/upload", alice.token, {
            master_key: mk,
            self_signing_key: ssk,
            user_signing_key: usk,
            auth: { type: "m.login.password", identifier: { type: "m.id.user", user: "alice" }, password: "correct horse", session: first.json.session },
          })
        : first;
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    const update = await eventually(async () => outA.of("m.signing_key_update").at(-1), 5000, "the m.signing_key_update handed to A's sender");
    expect(update).toMatchObject({
      durable: true,
      edu: { content: { user_id: alice.userId, master_key: { usage: ["master"] } } },
    });
    const q = await eventually(async () => {
      const x = await api(b, "POST", "/keys/query", bob.token, { device_keys: { [alice.userId]: [] } });
      return x.json.master_keys?.[alice.userId] ? x.json : undefined;
    });
    expect(q.master_keys[alice.userId].keys).toEqual(mk.keys);
    expect(q.self_signing_keys[alice.userId].keys).toEqual(ssk.keys);
    expect(q.user_signing_keys?.[alice.userId]).toBeUndefined();
  });
});
