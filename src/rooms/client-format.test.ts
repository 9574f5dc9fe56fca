import { describe, expect, it } from "vitest";
import { requireRoomVersion, type JsonObject } from "../core/index.js";
import type { EventsRepo } from "../storage/events-repo.js";
import { EventFormatter } from "./client-format.js";
import type { EventStore, LoadedEvent } from "./event-store.js";

const rv = requireRoomVersion("11");

function message(eventId: string, sender: string, body: string, extra: Partial<LoadedEvent["row"]> = {}): LoadedEvent {
  const pdu = { type: "m.room.message", sender, room_id: "!r:x", origin_server_ts: 1_000, content: { msgtype: "m.text", body } };
  return {
    row: { eventId, sender, type: "m.room.message", stateKey: null, originServerTs: 1_000, redactedBy: null, replacesState: null, stateBefore: 1, ...extra },
    rv,
    pdu,
    event: { roomId: "!r:x", content: pdu.content },
  } as unknown as LoadedEvent;
}

function topic(eventId: string, topicText: string, replaces: string | null): LoadedEvent {
  const pdu = { type: "m.room.topic", state_key: "", sender: "@alice:x", room_id: "!r:x", origin_server_ts: 500, content: { topic: topicText } };
  return {
    row: { eventId, sender: "@alice:x", type: "m.room.topic", stateKey: "", originServerTs: 500, redactedBy: null, replacesState: replaces, stateBefore: 1 },
    rv,
    pdu,
    event: { roomId: "!r:x", content: pdu.content },
  } as unknown as LoadedEvent;
}

/** A formatter over in-memory events; the sending device D1 of @alice:x sent "$m" as transaction "txn1". */
function formatter(events: LoadedEvent[], now: () => number) {
  // Read at each call: a test replaces an event by its redacted form in `events`.
  const find = (id: string) => events.find((e) => e.row.eventId === id);
  const store = { getEvents: async (ids: readonly string[]) => new Map(ids.flatMap((id) => (find(id) ? [[id, find(id)!] as const] : []))) };
  const repo = {
    txnIdsFor: async (ids: readonly string[], userId: string, deviceId: string) =>
      new Map(ids.filter((id) => id === "$m" && userId === "@alice:x" && deviceId === "D1").map((id) => [id, "txn1"])),
  };
  return new EventFormatter(store as unknown as EventStore, repo as unknown as EventsRepo, now);
}

describe("EventFormatter: one event formatted for many viewers", () => {
  it("the sender's two devices and another member woken by the same event each get their own unsigned fields", async () => {
    let now = 1_250;
    const e = message("$m", "@alice:x", "hello");
    const f = formatter([e], () => now);
    const [d1] = await f.format([e], { userId: "@alice:x", deviceId: "D1" });
    now = 1_300;
    const [d2] = await f.format([e], { userId: "@alice:x", deviceId: "D2" });
    const [bob] = await f.format([e], { userId: "@bob:x", deviceId: "B1" });

    // "Transaction identifiers": only the device that sent the event sees its transaction id.
    expect(d1!.unsigned).toEqual({ age: 250, transaction_id: "txn1" });
    expect(d2!.unsigned).toEqual({ age: 300 });
    expect(bob!.unsigned).toEqual({ age: 300 });
    // The shared fields are the same objects, each viewer's unsigned its own.
    expect(d2!.content).toBe(d1!.content);
    expect(d2!.unsigned).not.toBe(bob!.unsigned);
    for (const out of [d1!, d2!, bob!]) {
      expect(out).toMatchObject({ event_id: "$m", sender: "@alice:x", type: "m.room.message", room_id: "!r:x", origin_server_ts: 1_000 });
    }
    // Serialised, each response carries its own unsigned (nothing of one viewer leaks into another's).
    expect(JSON.parse(JSON.stringify(d1)).unsigned.transaction_id).toBe("txn1");
    expect(JSON.parse(JSON.stringify(bob)).unsigned.transaction_id).toBeUndefined();
    // A later viewer changing its copy leaves the shared part alone.
    (bob!.unsigned as JsonObject).age = -1;
    const [again] = await f.format([e], { userId: "@alice:x", deviceId: "D1" });
    expect(again!.unsigned).toEqual({ age: 300, transaction_id: "txn1" });
  });

  it("a redaction applied later is served redacted, not from the part shared before it", async () => {
    const e = message("$m", "@alice:x", "secret");
    const redaction = message("$red", "@alice:x", "", { type: "m.room.redaction" });
    const f = formatter([e, redaction], () => 2_000);
    const [before] = await f.format([e], { userId: "@bob:x", deviceId: "B1" });
    expect((before!.content as JsonObject).body).toBe("secret");
    const redacted = { ...e, row: { ...e.row, redactedBy: "$red" } } as LoadedEvent;
    const [after] = await f.format([redacted], { userId: "@bob:x", deviceId: "B1" });
    expect(after!.content).toEqual({});
    expect((after!.unsigned as JsonObject).redacted_because).toMatchObject({ event_id: "$red" });
  });

  it("state events carry prev_content of the event they replaced for every viewer", async () => {
    const old = topic("$t1", "old", null);
    const next = topic("$t2", "new", "$t1");
    const events = [old, next];
    const f = formatter(events, () => 600);
    const [a] = await f.format([next], { userId: "@bob:x", deviceId: null });
    const [b] = await f.format([next], { userId: "@carol:x", deviceId: "C" });
    for (const out of [a!, b!]) {
      expect(out.unsigned).toEqual({ age: 100, prev_content: { topic: "old" }, replaces_state: "$t1", prev_sender: "@alice:x" });
    }
    // Once the replaced event is redacted, prev_content is its redacted content.
    events[0] = { ...old, row: { ...old.row, redactedBy: "$r" } } as LoadedEvent;
    const [c] = await f.format([next], { userId: "@bob:x", deviceId: null });
    expect((c!.unsigned as JsonObject).prev_content).toEqual({});
  });
});
