import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createClient,
  KnownMembership,
  Preset,
  RoomEvent,
  RoomMemberEvent,
  UserEvent,
  type MatrixClient,
  type MatrixEvent,
  type Room,
} from "matrix-js-sdk";
import { logger } from "matrix-js-sdk/lib/logger.js";
import { login, registerUser, type J } from "./accounts-helpers.js";
import { startTestServer, type TestServer } from "./harness.js";
import { roomOf, startAndWait, waitFor } from "./js-sdk-helpers.js";

(logger as unknown as { disableAll(): void }).disableAll();

// matrix-js-sdk clients running their real /sync loop against the server:
// messages, typing, receipts and presence from one client show up at another.
let hs: TestServer;
let alice: MatrixClient;
let bob: MatrixClient;
const clients: MatrixClient[] = [];

function client(session: J): MatrixClient {
  const c = createClient({ baseUrl: hs.url, accessToken: session.access_token, userId: session.user_id, deviceId: session.device_id });
  clients.push(c);
  return c;
}


let roomId: string;

beforeAll(async () => {
  hs = await startTestServer({ registration: { enabled: true }, password_policy: { scrypt_cost: 1024 } });
  alice = client(await registerUser(hs, "jsalice"));
  bob = client(await registerUser(hs, "jsbob"));
  await Promise.all([startAndWait(alice), startAndWait(bob)]);
  const created = await alice.createRoom({ preset: Preset.PrivateChat, name: "Sync room", invite: ["@jsbob:localhost"] });
  roomId = created.room_id;
  await roomOf(bob, roomId, KnownMembership.Invite);
  await bob.joinRoom(roomId);
  await roomOf(bob, roomId, KnownMembership.Join);
}, 60_000);

afterAll(async () => {
  for (const c of clients) c.stopClient();
  await hs?.close();
});

describe("matrix-js-sdk sync loop", () => {
  it("200 messages sent quickly by one client arrive at the other exactly once, in order, and /messages returns the whole history", async () => {
    const { room_id: busy } = await alice.createRoom({ preset: Preset.PrivateChat, name: "Busy room", invite: ["@jsbob:localhost"] });
    await roomOf(bob, busy, KnownMembership.Invite);
    await bob.joinRoom(busy);
    await roomOf(bob, busy, KnownMembership.Join);

    const received: string[] = [];
    const onTimeline = (e: MatrixEvent, room: Room | undefined, toStartOfTimeline: boolean | undefined) => {
      if (room?.roomId === busy && !toStartOfTimeline && e.getType() === "m.room.message") received.push(e.getId()!);
    };
    bob.on(RoomEvent.Timeline, onTimeline);
    const sent: string[] = [];
    // Sent back to back without waiting for delivery, so several land in each sync response.
    for (let i = 0; i < 200; i++) sent.push((await alice.sendTextMessage(busy, `burst ${i}`)).event_id);
    await expect.poll(() => received.length, { timeout: 30_000 }).toBeGreaterThanOrEqual(200);
    await new Promise((r) => setTimeout(r, 300)); // a duplicate would arrive in a later response
    bob.off(RoomEvent.Timeline, onTimeline);
    expect(received).toEqual(sent);

    // The full history, paginated backwards 37 at a time over raw /messages.
    const history: string[] = [];
    let from: string | undefined;
    for (let page = 0; page < 20; page++) {
      const q = new URLSearchParams({ dir: "b", limit: "37", ...(from ? { from } : {}) });
      const r = await hs.request<{ chunk: Array<{ event_id: string; type: string }>; end?: string }>(
        "GET",
        `/_matrix/client/v3/rooms/${encodeURIComponent(busy)}/messages?${q}`,
        { token: bob.getAccessToken()! },
      );
      expect(r.status).toBe(200);
      history.push(...r.json.chunk.filter((e) => e.type === "m.room.message").map((e) => e.event_id));
      if (!r.json.end) break;
      from = r.json.end;
    }
    expect(history.reverse()).toEqual(sent);
  }, 90_000);

  it("a message from one client arrives in the other's timeline", async () => {
    const got = waitFor(bob, RoomEvent.Timeline, (e: MatrixEvent) => e.getRoomId() === roomId && e.getContent().body === "hi bob");
    const { event_id } = await alice.sendTextMessage(roomId, "hi bob");
    const [event] = await got;
    expect(event.getId()).toBe(event_id);
    expect(event.getSender()).toBe("@jsalice:localhost");
    expect(bob.getRoom(roomId)!.name).toBe("Sync room");
  });

  it("typing from one client shows at the other, and stops", async () => {
    const typing = waitFor(bob, RoomMemberEvent.Typing, (_e: MatrixEvent, m: { userId: string; typing: boolean; roomId: string }) =>
      m.roomId === roomId && m.userId === "@jsalice:localhost" && m.typing,
    );
    await alice.sendTyping(roomId, true, 20_000);
    await typing;
    const stopped = waitFor(bob, RoomMemberEvent.Typing, (_e: MatrixEvent, m: { userId: string; typing: boolean }) => m.userId === "@jsalice:localhost" && !m.typing);
    await alice.sendTyping(roomId, false, 0);
    await stopped;
  });

  it("a read receipt from one client shows at the other", async () => {
    const sent = waitFor(bob, RoomEvent.Timeline, (e: MatrixEvent) => e.getContent().body === "read this");
    await alice.sendTextMessage(roomId, "read this");
    const [event] = await sent;
    const receipt = waitFor(alice, RoomEvent.Receipt, (e: MatrixEvent) => {
      const c = e.getContent() as Record<string, Record<string, Record<string, unknown>>>;
      return c[event.getId()!]?.["m.read"]?.["@jsbob:localhost"] !== undefined;
    });
    await bob.sendReadReceipt(event);
    await receipt;
    expect(alice.getRoom(roomId)!.getEventReadUpTo("@jsbob:localhost")).toBe(event.getId());
  });

  it("presence from one client shows at the other", async () => {
    const seen = waitFor(bob, UserEvent.Presence, (_e: MatrixEvent | undefined, user: { userId: string; presenceStatusMsg?: string }) =>
      user.userId === "@jsalice:localhost" && user.presenceStatusMsg === "in a meeting",
    );
    await alice.setPresence({ presence: "unavailable", status_msg: "in a meeting" });
    const [, user] = await seen;
    expect((user as unknown as { presence: string }).presence).toBe("unavailable");
  });

  it("a second device of the same user sees what the first sends", async () => {
    const other = client(await login(hs, "jsalice", "correct horse"));
    await startAndWait(other);
    expect(other.getRoom(roomId)?.getMyMembership()).toBe(KnownMembership.Join);
    const got = waitFor(other, RoomEvent.Timeline, (e: MatrixEvent) => e.getContent().body === "from my phone");
    await alice.sendTextMessage(roomId, "from my phone");
    const [event] = await got;
    expect(event.getSender()).toBe("@jsalice:localhost");
    other.stopClient();
  });

  it("leaving moves the room to leave at the other clients' view of membership", async () => {
    const left = waitFor(alice, RoomMemberEvent.Membership, (_e: MatrixEvent, m: { userId: string; membership?: string }) =>
      m.userId === "@jsbob:localhost" && m.membership === "leave",
    );
    await bob.leave(roomId);
    await roomOf(bob, roomId, KnownMembership.Leave);
    await left;
    // The summary of the same response is applied after its timeline events.
    await expect.poll(() => alice.getRoom(roomId)!.getJoinedMemberCount()).toBe(1);
  });
});
