import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createClient,
  KnownMembership,
  Preset,
  RoomEvent,
  RoomMemberEvent,
  type MatrixClient,
  type MatrixEvent,
  type Room,
} from "matrix-js-sdk";
import { logger } from "matrix-js-sdk/lib/logger.js";
import { clearText, roomOf, startAndWait, waitFor } from "../js-sdk-helpers.js";
import { startCluster, type TestCluster } from "./cluster.js";
import { register, type ClusterUser } from "./helpers.js";

(logger as unknown as { disableAll(): void }).disableAll();

// Two processes on one PostgreSQL behind a round-robin proxy, driven by
// matrix-js-sdk clients with Rust crypto: each client's consecutive requests
// (its /sync long-polls included) land on alternating processes.
let c: TestCluster;
let aliceUser: ClusterUser;
let bobUser: ClusterUser;
let alice: MatrixClient;
let bob: MatrixClient;
let roomId: string;

async function cryptoClient(u: ClusterUser, deviceId: string): Promise<MatrixClient> {
  const client = createClient({ baseUrl: c.url, userId: u.userId, deviceId, accessToken: u.token });
  await client.initRustCrypto({ useIndexedDB: false });
  return client;
}

async function whoami(u: ClusterUser): Promise<string> {
  const r = await c.request<{ device_id: string }>("GET", "/_matrix/client/v3/account/whoami", { token: u.token });
  return r.json.device_id;
}

beforeAll(async () => {
  c = await startCluster(2);
  aliceUser = await register(c, "alice");
  bobUser = await register(c, "bob");
  alice = await cryptoClient(aliceUser, await whoami(aliceUser));
  bob = await cryptoClient(bobUser, await whoami(bobUser));
  await Promise.all([startAndWait(alice), startAndWait(bob)]);
  ({ room_id: roomId } = await alice.createRoom({
    preset: Preset.PrivateChat,
    name: "Cluster room",
    invite: [bobUser.userId],
    initial_state: [{ type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } }],
  }));
  await roomOf(bob, roomId, KnownMembership.Invite);
  await bob.joinRoom(roomId);
  await roomOf(bob, roomId, KnownMembership.Join);
  // (expect.poll is for tests only.)
  for (let i = 0; i < 150 && alice.getRoom(roomId)?.getJoinedMemberCount() !== 2; i++) await new Promise((r) => setTimeout(r, 100));
}, 120_000);
afterAll(async () => {
  alice?.stopClient();
  bob?.stopClient();
  await c?.close();
});

describe("two processes, matrix-js-sdk clients", () => {
  it("encrypted messages (room keys travel as to-device) arrive at the other client exactly once and in order", async () => {
    expect(alice.getRoom(roomId)?.getJoinedMemberCount()).toBe(2);
    const received: MatrixEvent[] = [];
    const onTimeline = (e: MatrixEvent, room: Room | undefined, toStart: boolean | undefined) => {
      if (room?.roomId === roomId && !toStart && e.getWireType() === "m.room.encrypted") received.push(e);
    };
    bob.on(RoomEvent.Timeline, onTimeline);
    const sent: string[] = [];
    for (let i = 0; i < 30; i++) sent.push((await alice.sendTextMessage(roomId, `secret ${i}`)).event_id);
    await expect.poll(() => received.length, { timeout: 30_000 }).toBeGreaterThanOrEqual(30);
    // A duplicate would come in a later response.
    await new Promise((r) => setTimeout(r, 500));
    bob.off(RoomEvent.Timeline, onTimeline);
    expect(received.map((e) => e.getId())).toEqual(sent);
    const texts = await Promise.all(received.map(clearText));
    expect(texts).toEqual(sent.map((_, i) => `secret ${i}`));
  }, 60_000);

  it("typing shows at the other client whichever process each request reaches, and stops", async () => {
    const typing = waitFor(bob, RoomMemberEvent.Typing, (_e: MatrixEvent, m: { userId: string; typing: boolean; roomId: string }) =>
      m.roomId === roomId && m.userId === aliceUser.userId && m.typing,
    );
    await alice.sendTyping(roomId, true, 20_000);
    await typing;
    const stopped = waitFor(bob, RoomMemberEvent.Typing, (_e: MatrixEvent, m: { userId: string; typing: boolean }) => m.userId === aliceUser.userId && !m.typing);
    await alice.sendTyping(roomId, false, 0);
    await stopped;
  });

  it("a read receipt from one client shows at the other", async () => {
    const sent = waitFor(bob, RoomEvent.Timeline, (e: MatrixEvent) => e.getRoomId() === roomId && e.getSender() === aliceUser.userId && e.getWireType() === "m.room.encrypted");
    await alice.sendTextMessage(roomId, "read this");
    const [event] = await sent;
    const receipt = waitFor(alice, RoomEvent.Receipt, (e: MatrixEvent) => {
      const content = e.getContent() as Record<string, Record<string, Record<string, unknown>>>;
      return content[event.getId()!]?.["m.read"]?.[bobUser.userId] !== undefined;
    });
    await bob.sendReadReceipt(event);
    await receipt;
    expect(alice.getRoom(roomId)!.getEventReadUpTo(bobUser.userId)).toBe(event.getId());
  });

  it("to-device messages reach the other device once", async () => {
    const got: MatrixEvent[] = [];
    const onToDevice = (e: MatrixEvent) => {
      if (e.getType() === "org.example.ping") got.push(e);
    };
    bob.on("toDeviceEvent" as never, onToDevice as never);
    for (let i = 0; i < 5; i++) {
      await alice.queueToDevice({ eventType: "org.example.ping", batch: [{ userId: bobUser.userId, deviceId: bob.getDeviceId()!, payload: { n: i } }] });
    }
    await expect.poll(() => got.length, { timeout: 15_000 }).toBeGreaterThanOrEqual(5);
    await new Promise((r) => setTimeout(r, 500));
    bob.off("toDeviceEvent" as never, onToDevice as never);
    expect(got.map((e) => e.getContent().n)).toEqual([0, 1, 2, 3, 4]);
  });
});
