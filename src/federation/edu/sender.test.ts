import { describe, expect, it } from "vitest";
import type { JsonObject } from "../../core/index.js";
import type { DeviceListSnapshot } from "../../e2ee/device-keys.js";
import { createLogger } from "../../logging.js";
import type { OutboundDeviceListState } from "../../storage/device-list-outbound-repo.js";
import type { Edu } from "../outbound.js";
import { EduSender } from "./sender.js";

const self = "a.test";
const alice = `@alice:${self}`;

function setup(servers: string[] = ["b.test"]) {
  const sent: Array<{ destinations: readonly string[]; edu: Edu; durable: boolean }> = [];
  let snap: DeviceListSnapshot = { devices: [] };
  const state: OutboundDeviceListState = { streamId: 0, signingDigest: null, devices: new Map() };
  const sender = new EduSender({
    serverName: self,
    outbound: {
      sendEdu: async (destinations, edu, opts) => void sent.push({ destinations, edu, durable: opts?.durable === true }),
      wake: () => {},
    },
    roomServers: async () => servers,
    usersSharingRoomWith: async () => [alice, ...servers.map((s) => `@u:${s}`)],
    snapshot: async () => snap,
    outboundRepo: {
      streamId: async () => state.streamId,
      state: async () => ({ ...state, devices: new Map(state.devices) }),
      save: async (_u, streamId, signingDigest, devices) => {
        state.streamId = streamId;
        state.signingDigest = signingDigest;
        for (const [d, dg] of devices) dg === null ? state.devices.delete(d) : state.devices.set(d, dg);
      },
    },
    log: createLogger("silent"),
  });
  return {
    sender,
    sent,
    state,
    setSnapshot: (s: DeviceListSnapshot) => {
      snap = s;
    },
    async change() {
      sender.deviceListChanged(alice);
      await sender.flushDeviceList(alice);
    },
  };
}

const keysOf = (id: string): JsonObject => ({ user_id: alice, device_id: id, keys: { [`ed25519:${id}`]: "k" } });

describe("EduSender device list updates (Device Management)", () => {
  it("numbers updates per user, each naming the previous in prev_id, and sends only devices that changed", async () => {
    const t = setup();
    t.setSnapshot({ devices: [{ device_id: "D1", keys: keysOf("D1") }] });
    await t.change();
    t.setSnapshot({
      devices: [
        { device_id: "D1", keys: keysOf("D1") },
        { device_id: "D2", device_display_name: "phone" },
      ],
    });
    await t.change();
    await t.change(); // nothing changed: nothing sent
    t.setSnapshot({ devices: [{ device_id: "D2", device_display_name: "phone" }] });
    await t.change();
    expect(t.sent.map((s) => s.edu.content)).toEqual([
      { user_id: alice, device_id: "D1", keys: keysOf("D1"), stream_id: 1, prev_id: [] },
      { user_id: alice, device_id: "D2", device_display_name: "phone", stream_id: 2, prev_id: [1] },
      { user_id: alice, device_id: "D1", deleted: true, stream_id: 3, prev_id: [2] },
    ]);
    expect(t.sent.every((s) => s.durable && s.edu.edu_type === "m.device_list_update" && s.destinations.join() === "b.test")).toBe(true);
    expect(await t.sender.deviceListStreamId(alice)).toBe(3);
  });

  it("sends m.signing_key_update when the master or self-signing key changes, once", async () => {
    const t = setup();
    const master = { user_id: alice, usage: ["master"], keys: { "ed25519:m": "m" } };
    t.setSnapshot({ devices: [], master_key: master });
    await t.change();
    await t.change();
    expect(t.sent).toEqual([
      { destinations: ["b.test"], durable: true, edu: { edu_type: "m.signing_key_update", content: { user_id: alice, master_key: master } } },
    ]);
  });

  it("still numbers updates when no other server shares a room, and ignores other servers' users", async () => {
    const t = setup([]);
    t.setSnapshot({ devices: [{ device_id: "D1" }] });
    await t.change();
    expect(t.sent).toEqual([]);
    expect(t.state.streamId).toBe(1);
    t.sender.deviceListChanged("@bob:b.test");
    t.sender.typingChanged("!r:a.test", "@bob:b.test", true);
    await new Promise((r) => setTimeout(r, 10));
    expect(t.sent).toEqual([]);
  });

  it("typing and receipts go to the servers in the room; to-device to each recipient server, durably", async () => {
    const t = setup(["b.test", "c.test"]);
    t.sender.typingChanged("!r:a.test", alice, true);
    t.sender.receiptStored({ roomId: "!r:a.test", userId: alice, eventId: "$e", threadId: "$root", ts: 5 });
    await t.sender.toDevice(alice, "m.x", "mid", new Map([["b.test", { "@bob:b.test": { D: { n: 1 } } }]]));
    await new Promise((r) => setTimeout(r, 10));
    expect(t.sent).toContainEqual({
      destinations: ["b.test", "c.test"],
      durable: false,
      edu: { edu_type: "m.typing", content: { room_id: "!r:a.test", user_id: alice, typing: true } },
    });
    expect(t.sent).toContainEqual({
      destinations: ["b.test", "c.test"],
      durable: false,
      edu: { edu_type: "m.receipt", content: { "!r:a.test": { "m.read": { [alice]: { event_ids: ["$e"], data: { ts: 5, thread_id: "$root" } } } } } },
    });
    expect(t.sent).toContainEqual({
      destinations: ["b.test"],
      durable: true,
      edu: { edu_type: "m.direct_to_device", content: { sender: alice, type: "m.x", message_id: "mid", messages: { "@bob:b.test": { D: { n: 1 } } } } },
    });
  });
});
