import { describe, expect, it } from "vitest";
import type { JsonObject } from "../../core/index.js";
import type { DeviceListUpdate } from "../../e2ee/remote-device-lists.js";
import type { StoredReceipt } from "../../ephemeral/receipts.js";
import { createLogger } from "../../logging.js";
import type { InboundEduDeps } from "./context.js";
import { EduReceiver } from "./receiver.js";

const origin = "o.test";
const room = "!r:o.test";
const alice = "@alice:o.test";
/** Event ids as room versions 4+ make them. */
const ev = (c: string) => `$${c.repeat(43)}`;

function setup(opts: { joined?: string[]; tracked?: string[]; acl?: (server: string) => boolean } = {}) {
  const calls = {
    typing: [] as Array<[string, string, boolean]>,
    receipts: [] as StoredReceipt[],
    presence: [] as Array<[string, string, string | null, number]>,
    toDevice: [] as Array<[string, string, string, JsonObject]>,
    updates: [] as DeviceListUpdate[],
    signing: [] as Array<[string, { master?: JsonObject; selfSigning?: JsonObject }]>,
  };
  const joined = new Set(opts.joined ?? [alice]);
  const deps: InboundEduDeps = {
    serverName: "me.test",
    isJoined: async (u, r) => r === room && joined.has(u),
    serverAllowedInRoom: opts.acl ? async (s) => opts.acl!(s) : undefined,
    isTracked: async (u) => (opts.tracked ?? [alice]).includes(u),
    typing: { setTyping: (r, u, t) => void calls.typing.push([r, u, t]) },
    receipts: { receiveRemote: async (r) => void calls.receipts.push(r) },
    presence: { receiveRemote: async (u, s, m, ago) => void calls.presence.push([u, s, m, ago]) },
    toDevice: { receiveRemote: async (s, t, id, m) => void calls.toDevice.push([s, t, id, m]) },
    deviceLists: {
      onUpdate: async (u) => void calls.updates.push(u),
      onSigningKeyUpdate: async (u, k) => void calls.signing.push([u, k]),
    },
    log: createLogger("silent"),
  };
  return { receiver: new EduReceiver(deps), calls };
}

describe("EduReceiver", () => {
  it("m.typing: only for a joined user of the origin, and only where the ACL admits the origin", async () => {
    const t = setup({ joined: [alice, "@carol:other.test"] });
    await t.receiver.receive(origin, [
      { edu_type: "m.typing", content: { room_id: room, user_id: alice, typing: true } },
      { edu_type: "m.typing", content: { room_id: room, user_id: "@carol:other.test", typing: true } },
      { edu_type: "m.typing", content: { room_id: room, user_id: "@bob:o.test", typing: true } },
      { edu_type: "m.typing", content: { room_id: room, user_id: alice, typing: "yes" } },
      { edu_type: "m.typing", content: "not an object" },
      "not an edu",
      { edu_type: "m.unknown", content: {} },
    ]);
    expect(t.calls.typing).toEqual([[room, alice, true]]);
    const denied = setup({ acl: (s) => s !== origin });
    await denied.receiver.receive(origin, [{ edu_type: "m.typing", content: { room_id: room, user_id: alice, typing: true } }]);
    expect(denied.calls.typing).toEqual([]);
  });

  it("m.receipt: threaded and unthreaded read receipts of joined users; malformed entries skipped", async () => {
    const t = setup();
    await t.receiver.receive(origin, [
      {
        edu_type: "m.receipt",
        content: {
          [room]: {
            "m.read": {
              [alice]: { event_ids: [ev("A")], data: { ts: 5, thread_id: "main" } },
              "@bob:o.test": { event_ids: [ev("A")], data: { ts: 5 } },
            },
          },
          "!other:o.test": { "m.read": { [alice]: { event_ids: [ev("B")], data: { ts: 6 } } } },
        },
      },
      { edu_type: "m.receipt", content: { [room]: { "m.read": { [alice]: { event_ids: [ev("C")], data: { ts: 7, thread_id: "bad" } } } } } },
      { edu_type: "m.receipt", content: { [room]: { "m.read": { [alice]: { event_ids: [ev("D")], data: { ts: 8 } } } } } },
    ]);
    expect(t.calls.receipts).toEqual([
      { roomId: room, userId: alice, eventId: ev("A"), threadId: "main", ts: 5 },
      { roomId: room, userId: alice, eventId: ev("D"), threadId: undefined, ts: 8 },
    ]);
  });

  it("m.presence: users of the origin someone here shares a room with", async () => {
    const t = setup({ tracked: [alice, "@eve:other.test"] });
    await t.receiver.receive(origin, [
      {
        edu_type: "m.presence",
        content: {
          push: [
            { user_id: alice, presence: "online", last_active_ago: 10, status_msg: "hi" },
            { user_id: "@eve:other.test", presence: "online", last_active_ago: 1 },
            { user_id: "@bob:o.test", presence: "online", last_active_ago: 1 },
            { user_id: alice, presence: "dancing", last_active_ago: 1 },
          ],
        },
      },
    ]);
    expect(t.calls.presence).toEqual([[alice, "online", "hi", 10]]);
  });

  it("m.direct_to_device, m.device_list_update and m.signing_key_update: only about users of the origin", async () => {
    const t = setup();
    const keys = { user_id: alice, device_id: "D", keys: { "ed25519:D": "k" } };
    await t.receiver.receive(origin, [
      { edu_type: "m.direct_to_device", content: { sender: alice, type: "m.x", message_id: "m1", messages: { "@me:me.test": { "*": { a: 1 } } } } },
      { edu_type: "m.direct_to_device", content: { sender: "@x:other.test", type: "m.x", message_id: "m2", messages: {} } },
      { edu_type: "m.device_list_update", content: { user_id: alice, device_id: "D", stream_id: 3, prev_id: [2, "x"], keys } },
      { edu_type: "m.device_list_update", content: { user_id: alice, device_id: "E", stream_id: 4, prev_id: [3], keys } },
      { edu_type: "m.device_list_update", content: { user_id: "@x:other.test", device_id: "D", stream_id: 3 } },
      { edu_type: "m.device_list_update", content: { user_id: alice, device_id: "D", stream_id: "3" } },
      { edu_type: "m.signing_key_update", content: { user_id: alice, master_key: { user_id: alice, usage: ["master"], keys: { "ed25519:m": "m" } } } },
      { edu_type: "m.signing_key_update", content: { user_id: alice, master_key: { user_id: alice, usage: ["self_signing"], keys: {} } } },
    ]);
    expect(t.calls.toDevice).toEqual([[alice, "m.x", "m1", { "@me:me.test": { "*": { a: 1 } } }]]);
    expect(t.calls.updates).toEqual([
      { userId: alice, deviceId: "D", streamId: 3, prevIds: [2], deleted: false, displayName: null, keys },
      // Keys naming another device are not taken.
      { userId: alice, deviceId: "E", streamId: 4, prevIds: [3], deleted: false, displayName: null, keys: null },
    ]);
    expect(t.calls.signing).toEqual([[alice, { master: { user_id: alice, usage: ["master"], keys: { "ed25519:m": "m" } }, selfSigning: undefined }]]);
  });
});
