import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClientEvent, createClient, KnownMembership, MatrixEventEvent, Preset, RoomEvent, SyncState, type MatrixClient, type MatrixEvent } from "matrix-js-sdk";
import { logger } from "matrix-js-sdk/lib/logger.js";
import { SlidingSync, SlidingSyncEvent, SlidingSyncState, type MSC3575List, type MSC3575RoomData } from "matrix-js-sdk/lib/sliding-sync.js";
import { registerUser, type J } from "./accounts-helpers.js";
import { roomOf } from "./js-sdk-helpers.js";
import { createRooms, joinedCount, sendText, startRestartable, type RestartableServer } from "./sliding-helpers.js";
import type { TestUser } from "./sync-helpers.js";

(logger as unknown as { disableAll(): void }).disableAll();

// matrix-js-sdk's SlidingSync (MSC4186) against the server: the room list
// window and its updates, invites, and two SlidingSync clients with Rust
// crypto exchanging an encrypted message (to_device and e2ee extensions).

let hs: RestartableServer;
const clients: MatrixClient[] = [];
const syncs: SlidingSync[] = [];
const ROOMS = 40;

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

const list = (end: number): MSC3575List => ({
  ranges: [[0, end]],
  timeline_limit: 1,
  required_state: [
    ["m.room.create", ""],
    ["m.room.name", ""],
    ["m.room.member", "$ME"],
  ],
});

/** A SlidingSync loop that records every RoomData it gets, in order. */
function recorder(c: MatrixClient, lists: Map<string, MSC3575List>) {
  const s = new SlidingSync(hs.url, lists, { timeline_limit: 1, required_state: [] }, c, 5000);
  syncs.push(s);
  const seen: Array<{ roomId: string; data: MSC3575RoomData }> = [];
  let responses = 0;
  s.on(SlidingSyncEvent.RoomData, (roomId: string, data: MSC3575RoomData) => {
    seen.push({ roomId, data });
  });
  s.on(SlidingSyncEvent.Lifecycle, (state: SlidingSyncState) => {
    if (state === SlidingSyncState.Complete) responses++;
  });
  void s.start();
  return { s, seen, responses: () => responses };
}

describe("matrix-js-sdk SlidingSync", () => {
  let aliceSession: J;
  let rooms: string[];

  beforeAll(async () => {
    aliceSession = await registerUser(hs, "ssalice");
    rooms = await createRooms(hs, asUser(aliceSession), ROOMS, "List room");
  }, 180_000);

  it("gets the 20 most recent rooms first with their required state, and a new message moves its room up", async () => {
    const alice = plainClient(aliceSession);
    const r = recorder(alice, new Map([["all", list(19)]]));
    await expect.poll(() => r.responses(), { timeout: 20_000 }).toBeGreaterThanOrEqual(1);
    expect(r.s.getListData("all")?.joinedCount).toBe(await joinedCount(hs, asUser(aliceSession)));
    const first = r.seen.slice();
    expect(new Set(first.map((x) => x.roomId))).toEqual(new Set(rooms.slice(-20)));
    for (const { roomId, data } of first) {
      expect(data.initial).toBe(true);
      const types = data.required_state.map((e) => e.type).sort();
      expect(types).toEqual(["m.room.create", "m.room.member", "m.room.name"]);
      expect(data.name).toBe(`List room ${rooms.indexOf(roomId)}`);
    }
    const top = Math.max(...first.map((x) => x.data.bump_stamp ?? 0));

    const old = rooms[2]!;
    const eventId = await sendText(hs, asUser(aliceSession), old, "bump from js-sdk test");
    await expect.poll(() => r.seen.some((x) => x.roomId === old), { timeout: 20_000 }).toBe(true);
    const bumped = r.seen.find((x) => x.roomId === old)!.data;
    expect(bumped.bump_stamp).toBeGreaterThan(top);
    expect(bumped.timeline.map((e) => e.event_id)).toEqual([eventId]);
    r.s.stop();
  });

  it("shows an invite in an is_invite list with its invite_state", async () => {
    const bobSession = await registerUser(hs, "ssbob");
    const bob = plainClient(bobSession);
    const r = recorder(bob, new Map([["invites", { ...list(9), filters: { is_invite: true } }]]));
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
