import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient, Direction, Preset, type MatrixClient } from "matrix-js-sdk";
import { logger } from "matrix-js-sdk/lib/logger.js";
import { registerUser } from "./accounts-helpers.js";
import { startTestServer, type TestServer } from "./harness.js";

(logger as unknown as { disableAll(): void }).disableAll();

// Two matrix-js-sdk clients using the rooms API the way Element does. /sync is
// not used here: messages are read back through /messages.
let hs: TestServer;
let alice: MatrixClient;
let bob: MatrixClient;

beforeAll(async () => {
  hs = await startTestServer({ registration: { enabled: true }, password_policy: { scrypt_cost: 1024 } });
  const a = await registerUser(hs, "sdkalice");
  const b = await registerUser(hs, "sdkbob");
  alice = createClient({ baseUrl: hs.url, accessToken: a.access_token, userId: a.user_id, deviceId: a.device_id });
  bob = createClient({ baseUrl: hs.url, accessToken: b.access_token, userId: b.user_id, deviceId: b.device_id });
}, 60_000);
afterAll(() => hs?.close());

describe("matrix-js-sdk rooms", () => {
  it("creates a room, invites, joins, and both see each other's messages in order", async () => {
    const { room_id: roomId } = await alice.createRoom({ preset: Preset.PrivateChat, name: "SDK room", invite: ["@sdkbob:localhost"] });
    expect((await bob.getJoinedRooms()).joined_rooms).not.toContain(roomId);
    await bob.joinRoom(roomId);
    expect((await bob.getJoinedRooms()).joined_rooms).toContain(roomId);

    const sent: string[] = [];
    for (let i = 0; i < 10; i++) {
      const client = i % 2 === 0 ? alice : bob;
      const r = await client.sendTextMessage(roomId, `hello ${i}`);
      sent.push(r.event_id);
    }
    const page = await bob.createMessagesRequest(roomId, null, 50, Direction.Backward);
    const messages = page.chunk.filter((e) => e.type === "m.room.message");
    expect(messages.map((e) => e.event_id)).toEqual([...sent].reverse());
    expect(messages.map((e) => e.content.body)).toEqual(sent.map((_, i) => `hello ${i}`).reverse());

    const members = await alice.getJoinedRoomMembers(roomId);
    expect(Object.keys(members.joined).sort()).toEqual(["@sdkalice:localhost", "@sdkbob:localhost"]);
    const name = await bob.getStateEvent(roomId, "m.room.name", "");
    expect(name).toEqual({ name: "SDK room" });

    await alice.redactEvent(roomId, sent[1]!);
    const redacted = await bob.fetchRoomEvent(roomId, sent[1]!);
    expect(redacted.content).toEqual({});
    expect(redacted.unsigned?.redacted_because?.sender).toBe("@sdkalice:localhost");
  });
});
