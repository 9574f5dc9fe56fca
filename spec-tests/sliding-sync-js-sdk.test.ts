import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClientEvent, createClient, KnownMembership, MatrixEventEvent, Preset, RoomEvent, SyncState, type MatrixClient, type MatrixEvent } from "matrix-js-sdk";
import { logger } from "matrix-js-sdk/lib/logger.js";
import { SlidingSync, type MSC3575List } from "matrix-js-sdk/lib/sliding-sync.js";
import { registerUser, type J } from "./accounts-helpers.js";
import { roomOf } from "./js-sdk-helpers.js";
import { createRooms, sdkList, sdkRecorder, startRestartable, type RestartableServer } from "./sliding-helpers.js";
import type { TestUser } from "./sync-helpers.js";

(logger as unknown as { disableAll(): void }).disableAll();

// matrix-js-sdk's SlidingSync (MSC4186) against the server: invites, and two
// SlidingSync clients with Rust crypto exchanging an encrypted message
// (to_device and e2ee extensions). The room-list window over 300 rooms is
// driven through the SDK in sliding-sync.test.ts, which has those rooms.

let hs: RestartableServer;
const clients: MatrixClient[] = [];
const syncs: SlidingSync[] = [];

beforeAll(async () => {
  hs = await startRestartable();
}, 60_000);
afterAll(async () => {
  for (const s of syncs) s.stop();
  for (const c of clients) c.stopClient();
  await hs?.close();
});

function plainClient(session: J): MatrixClient {
  const c = createClient({ baseUrl: hs.url, accessToken: session.access_token, userId: session.user_id, deviceId: session.device_id });
  clients.push(c);
  return c;
}

function asUser(session: J): TestUser {
  return { token: session.access_token as string, userId: session.user_id as string, deviceId: session.device_id as string };
}

/** A SlidingSync loop recording what it gets, stopped with the test file. */
function recorder(c: MatrixClient, lists: Map<string, MSC3575List>) {
  const r = sdkRecorder(hs.url, c, lists);
  syncs.push(r.s);
  return r;
}

describe("matrix-js-sdk SlidingSync", () => {
  let aliceSession: J;
  let rooms: string[];

  beforeAll(async () => {
    aliceSession = await registerUser(hs, "ssalice");
    rooms = await createRooms(hs, asUser(aliceSession), 1, "List room", 1);
  }, 180_000);

  it("shows an invite in an is_invite list with its invite_state", async () => {
    const bobSession = await registerUser(hs, "ssbob");
    const bob = plainClient(bobSession);
    const r = recorder(bob, new Map([["invites", { ...sdkList(9), filters: { is_invite: true } }]]));
    await expect.poll(() => r.responses(), { timeout: 20_000 }).toBeGreaterThanOrEqual(1);
    expect(r.s.getListData("invites")?.joinedCount).toBe(0);
    const room = rooms[0]!;
    const inv = await hs.request<J>("POST", `/_matrix/client/v3/rooms/${encodeURIComponent(room)}/invite`, {
      token: aliceSession.access_token,
      body: { user_id: bobSession.user_id },
    });
    expect(inv.status).toBe(200);
    await expect.poll(() => r.seen.some((x) => x.roomId === room), { timeout: 20_000 }).toBe(true);
    const data = r.seen.find((x) => x.roomId === room)!.data;
    const own = data.invite_state?.find((e) => e.type === "m.room.member" && e.state_key === bobSession.user_id);
    expect(own?.sender).toBe(aliceSession.user_id);
    await expect.poll(() => r.s.getListData("invites")?.joinedCount, { timeout: 10_000 }).toBe(1);
    r.s.stop();
  });
});

describe("matrix-js-sdk SlidingSync with Rust crypto", () => {
  /** A client whose sync loop is SlidingSync (the SDK registers the to_device, e2ee and other extensions). */
  async function slidingCryptoClient(session: J): Promise<MatrixClient> {
    const c = createClient({ baseUrl: hs.url, accessToken: session.access_token, userId: session.user_id, deviceId: session.device_id });
    clients.push(c);
    await c.initRustCrypto({ useIndexedDB: false });
    const lists = new Map<string, MSC3575List>([["all", { ranges: [[0, 20]], timeline_limit: 10, required_state: [["*", "*"]] }]]);
    const sliding = new SlidingSync(hs.url, lists, { timeline_limit: 10, required_state: [["*", "*"]] }, c, 5000);
    syncs.push(sliding);
    await startSliding(c, sliding);
    return c;
  }

  async function startSliding(c: MatrixClient, sliding: SlidingSync): Promise<void> {
    const prepared = new Promise<void>((resolve, reject) => {
      const onSync = (state: SyncState) => {
        if (state === SyncState.Prepared) {
          c.off(ClientEvent.Sync, onSync);
          resolve();
        } else if (state === SyncState.Error) reject(new Error("sync error"));
      };
      c.on(ClientEvent.Sync, onSync);
    });
    await c.startClient({ slidingSync: sliding });
    await prepared;
  }

  it("an encrypted message between two SlidingSync clients decrypts", async () => {
    const aSession = await registerUser(hs, "sse2a");
    const bSession = await registerUser(hs, "sse2b");
    const [a, b] = await Promise.all([slidingCryptoClient(aSession), slidingCryptoClient(bSession)]);
    const { room_id: roomId } = await a.createRoom({
      preset: Preset.PrivateChat,
      invite: [bSession.user_id],
      initial_state: [{ type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } }],
    });
    await roomOf(b, roomId, KnownMembership.Invite);
    await b.joinRoom(roomId);
    await roomOf(b, roomId, KnownMembership.Join);
    await expect.poll(() => a.getRoom(roomId)?.getJoinedMemberCount(), { timeout: 15_000 }).toBe(2);

    const got = new Promise<MatrixEvent>((resolve) => {
      const onTimeline = (e: MatrixEvent) => {
        if (e.getRoomId() === roomId && e.getWireType() === "m.room.encrypted") resolve(e);
      };
      b.on(RoomEvent.Timeline, onTimeline);
    });
    await a.sendTextMessage(roomId, "sliding secret");
    const event = await got;
    if (event.isBeingDecrypted() || event.getType() === "m.room.encrypted") {
      await new Promise<void>((resolve) => {
        if (!event.isBeingDecrypted() && event.getType() !== "m.room.encrypted") return resolve();
        event.once(MatrixEventEvent.Decrypted, () => resolve());
      });
    }
    expect(event.isDecryptionFailure(), `decryption failed: ${event.decryptionFailureReason}`).toBe(false);
    expect(event.getContent().body).toBe("sliding secret");
  }, 90_000);
});
