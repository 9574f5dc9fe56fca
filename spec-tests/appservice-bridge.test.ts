import { mkdtempSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { Appservice as BotSdkAppservice, LogLevel, LogService, MemoryStorageProvider } from "@vector-im/matrix-bot-sdk";
import { AppServiceRegistration, Bridge, Logger, type WeakEvent } from "matrix-appservice-bridge";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { registerSession, type J, type Session } from "./accounts-helpers.js";
import { until, writeRegistrations } from "./appservice-helpers.js";
import { startTestServer, type TestServer } from "./harness.js";

// Real bridges against the server, as bridge authors build them: a
// matrix-appservice-bridge Bridge (intents, ghost users, on-demand aliases and
// users, ephemeral events) and a matrix-bot-sdk Appservice (the Element-maintained
// release that matrix-appservice-bridge ships: restarts, pings).

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

let hs: TestServer;
let bridge: Bridge;
let alice: Session;
let bridgePort: number;
let botPort: number;
const bridgeEvents: WeakEvent[] = [];
const bridgeEphemeral: J[] = [];

const BOT_REG = {
  id: "botsdk",
  as_token: "botsdk-as-token-abcdef",
  hs_token: "botsdk-hs-token-abcdef",
  sender_localpart: "_botsdk_bot",
  namespaces: { users: [{ exclusive: true, regex: "@_botsdk_.*:localhost" }], aliases: [], rooms: [] },
  rate_limited: false,
};

function botAppservice(storage: MemoryStorageProvider): BotSdkAppservice {
  return new BotSdkAppservice({
    port: botPort,
    bindAddress: "127.0.0.1",
    homeserverName: "localhost",
    homeserverUrl: hs.url,
    registration: { ...BOT_REG, url: `http://127.0.0.1:${botPort}` },
    storage,
  });
}

beforeAll(async () => {
  // The libraries log every request; only their errors are of interest here.
  LogService.setLevel(LogLevel.ERROR);
  Logger.configure({ console: "error" });
  bridgePort = await freePort();
  botPort = await freePort();
  const reg = new AppServiceRegistration(`http://127.0.0.1:${bridgePort}`);
  reg.setId("bridge");
  reg.setHomeserverToken("bridge-hs-token-0123456789");
  reg.setAppServiceToken("bridge-as-token-0123456789");
  reg.setSenderLocalpart("_bridge_bot");
  reg.addRegexPattern("users", "@_bridge_.*", true);
  reg.addRegexPattern("aliases", "#_bridge_.*", true);
  reg.pushEphemeral = true;
  const dir = mkdtempSync(path.join(os.tmpdir(), "hs-bridge-"));
  const bridgeFile = path.join(dir, "bridge.yaml");
  reg.outputAsYaml(bridgeFile);
  const [botFile] = writeRegistrations([{ ...BOT_REG, url: `http://127.0.0.1:${botPort}` }]);
  hs = await startTestServer({
    registration: { enabled: true },
    app_service_config_files: [bridgeFile, botFile!],
    app_services: { retry_min_ms: 50, retry_max_ms: 400 },
  });
  alice = await registerSession(hs, "alice");

  bridge = new Bridge({
    homeserverUrl: hs.url,
    domain: "localhost",
    registration: bridgeFile,
    disableStores: true,
    disableContext: true,
    controller: {
      onEvent: (request) => {
        bridgeEvents.push(request.getData());
      },
      onEphemeralEvent: (request) => {
        bridgeEphemeral.push(request.getData() as unknown as J);
      },
      onUserQuery: (user) => ({ name: `Remote ${user.localpart}` }),
      onAliasQuery: (_alias, localpart) => ({ creationOpts: { room_alias_name: localpart, name: `Bridged ${localpart}`, preset: "public_chat" } }),
    },
  });
  await bridge.run(bridgePort, undefined, "127.0.0.1");
}, 60_000);

afterAll(async () => {
  await bridge?.close().catch(() => undefined);
  await hs?.close();
});

const req = (method: string, p: string, body?: unknown) => hs.request<J>(method, p, { token: alice.token, body });
const enc = encodeURIComponent;

describe("matrix-appservice-bridge", () => {
  let roomId: string;

  it("registers a ghost through its intent, creates a room as it, and the user joins and reads the ghost's messages", async () => {
    const ghost = bridge.getIntent("@_bridge_carol:localhost");
    const created = await ghost.createRoom({ createAsClient: true, options: { name: "Bridged chat", invite: [alice.userId] } });
    roomId = created.room_id;
    expect(roomId).toMatch(/^!/);
    const join = await req("POST", `/_matrix/client/v3/rooms/${enc(roomId)}/join`, {});
    expect(join.status, join.text).toBe(200);
    await ghost.sendText(roomId, "hello from the other side");
    const msgs = await req("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/messages?dir=b&limit=10`);
    const texts = (msgs.json.chunk as J[]).filter((e) => e.type === "m.room.message");
    expect(texts[0]).toMatchObject({ sender: "@_bridge_carol:localhost", content: { body: "hello from the other side" } });
  });

  it("receives every message real users send into its rooms exactly once and in order", async () => {
    const sent: string[] = [];
    for (let i = 0; i < 10; i++) {
      const r = await req("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/b${i}`, { msgtype: "m.text", body: `msg ${i}` });
      sent.push(r.json.event_id);
    }
    await until(() => sent.every((id) => bridgeEvents.some((e) => e.event_id === id)), 10_000, "bridge events");
    const fromAlice = bridgeEvents.filter((e) => e.type === "m.room.message" && e.sender === alice.userId).map((e) => e.event_id);
    expect(fromAlice).toEqual(sent);
    // The ghost's own message and the memberships came through too.
    expect(bridgeEvents.some((e) => e.type === "m.room.member" && e.state_key === alice.userId)).toBe(true);
  });

  it("gets typing notifications and read receipts", async () => {
    await req("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/typing/${enc(alice.userId)}`, { typing: true, timeout: 5000 });
    const last = bridgeEvents.filter((e) => e.room_id === roomId).pop()!;
    await req("POST", `/_matrix/client/v3/rooms/${enc(roomId)}/receipt/m.read/${enc(last.event_id)}`, {});
    await until(() => bridgeEphemeral.some((e) => e.type === "m.typing") && bridgeEphemeral.some((e) => e.type === "m.receipt"), 10_000, "ephemeral");
    expect(bridgeEphemeral.find((e) => e.type === "m.typing")).toMatchObject({ room_id: roomId, content: { user_ids: [alice.userId] } });
    const receipt = bridgeEphemeral.find((e) => e.type === "m.receipt")!;
    expect(receipt.content[last.event_id]["m.read"][alice.userId]).toBeDefined();
  });

  it("resolves a namespaced alias on demand: the bridge creates the room and the user joins it", async () => {
    const join = await req("POST", `/_matrix/client/v3/join/${enc("#_bridge_lobby:localhost")}`, {});
    expect(join.status, join.text).toBe(200);
    const dir = await hs.request<J>("GET", `/_matrix/client/v3/directory/room/${enc("#_bridge_lobby:localhost")}`);
    expect(dir.json.room_id).toBe(join.json.room_id);
    const name = await req("GET", `/_matrix/client/v3/rooms/${enc(join.json.room_id)}/state/m.room.name`);
    expect(name.json.name).toBe("Bridged _bridge_lobby");
  });

  it("answers a user query: the queried ghost is provisioned with its display name", async () => {
    const p = await req("GET", `/_matrix/client/v3/profile/${enc("@_bridge_dave:localhost")}`);
    expect(p.status, p.text).toBe(200);
    await until(async () => (await req("GET", `/_matrix/client/v3/profile/${enc("@_bridge_dave:localhost")}`)).json.displayname === "Remote _bridge_dave", 5_000, "display name");
  });
});

describe("matrix-bot-sdk Appservice", () => {
  it("pings the homeserver and gets the round trip", async () => {
    const as = botAppservice(new MemoryStorageProvider());
    await as.begin();
    try {
      const r = (await as.pingHomeserver()) as { duration_ms: number };
      expect(r.duration_ms).toEqual(expect.any(Number));
    } finally {
      as.stop();
    }
  });

  it("gets all 50 messages sent while it was stopped, once each, in order, after it starts again", async () => {
    const storage = new MemoryStorageProvider();
    const received: string[] = [];
    const attach = (as: BotSdkAppservice) => as.on("room.message", (_roomId: string, ev: J) => void received.push(ev.event_id));
    let as = botAppservice(storage);
    attach(as);
    await as.begin();
    const room = await req("POST", "/_matrix/client/v3/createRoom", { invite: ["@_botsdk_bot:localhost"] });
    const roomId = room.json.room_id as string;
    await as.botIntent.joinRoom(roomId);
    const first = await req("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/first`, { msgtype: "m.text", body: "before" });
    await until(() => received.includes(first.json.event_id), 10_000, "first message");
    as.stop();

    const sent: string[] = [];
    for (let i = 0; i < 50; i++) {
      const r = await req("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/s${i}`, { msgtype: "m.text", body: `while stopped ${i}` });
      sent.push(r.json.event_id);
    }
    await new Promise((r) => setTimeout(r, 300));
    as = botAppservice(storage);
    attach(as);
    await as.begin();
    try {
      await until(() => sent.every((id) => received.includes(id)), 20_000, "the 50 messages");
      await new Promise((r) => setTimeout(r, 200));
      expect(received).toEqual([first.json.event_id, ...sent]);
    } finally {
      as.stop();
    }
  });
});
