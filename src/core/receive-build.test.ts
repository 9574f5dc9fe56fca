import { describe, expect, it } from "vitest";
import { signingKeyFromSeed, verifyKeyOf, encodeBase64 } from "./crypto.js";
import { requireRoomVersion, KNOWN_ROOM_VERSIONS } from "./room-versions.js";
import { buildPdu, createSignedPdu, nextDepth } from "./events/build.js";
import { checkReceivedPdu } from "./events/receive.js";
import { computeReferenceHash } from "./events/hashes.js";
import { findNonIntegerNumberLiteral } from "./canonical-json.js";
import { roomIdFromCreateEvent } from "./events/event-id.js";
import { toRoomEvent } from "./events/pdu.js";
import { checkAuth } from "./auth/check-auth.js";
import { EventStateMap } from "./events/state-map.js";
import type { JsonObject } from "./json.js";

const key = signingKeyFromSeed(new Uint8Array(32).fill(3), "k1");
const vk = verifyKeyOf(key);
const lookup = (server: string, keyId: string) => (server === "hs.example" && keyId === key.keyId ? vk : undefined);

describe.each(KNOWN_ROOM_VERSIONS)("build, sign and receive in room version %s", (v) => {
  const rv = requireRoomVersion(v);
  it("round-trips a create event and a message through the receipt checks", () => {
    const opts = { eventIdLocalpart: "c1", referenceHashOf: () => "hash" };
    const content: JsonObject = rv.creatorIsSender ? { room_version: v } : { room_version: v, creator: "@a:hs.example" };
    const createFields = {
      roomId: rv.roomIdIsCreateEventHash ? undefined : "!r:hs.example",
      sender: "@a:hs.example", type: "m.room.create", stateKey: "", content,
      prevEvents: [], authEvents: [], depth: 1, originServerTs: 1000,
    };
    const create = createSignedPdu(createFields, rv, "hs.example", key, opts);
    const recv = checkReceivedPdu(create.pdu, rv, lookup);
    expect(recv).toMatchObject({ ok: true, eventId: create.eventId, redactedForHashMismatch: false });
    const roomId = rv.roomIdIsCreateEventHash ? roomIdFromCreateEvent(create.pdu, rv) : "!r:hs.example";
    const createEv = toRoomEvent(create.pdu, create.eventId, rv);
    expect(checkAuth(createEv, new EventStateMap(), rv).allowed).toBe(true);

    const refHash = encodeBase64(computeReferenceHash(create.pdu, rv));
    const msg = createSignedPdu(
      { roomId, sender: "@a:hs.example", type: "m.room.redaction", content: { reason: "x" }, redacts: "$x:hs.example",
        prevEvents: [create.eventId], authEvents: rv.createEventInAuthEvents ? [create.eventId] : [], depth: nextDepth([1]), originServerTs: 1001 },
      rv, "hs.example", key, { eventIdLocalpart: "m1", referenceHashOf: () => refHash },
    );
    expect(msg.pdu.depth).toBe(2);
    if (rv.redactsInContent) expect((msg.pdu.content as { redacts: string }).redacts).toBe("$x:hs.example");
    else expect(msg.pdu.redacts).toBe("$x:hs.example");
    expect(checkReceivedPdu(msg.pdu, rv, lookup)).toMatchObject({ ok: true, eventId: msg.eventId });
    // A tampered body fails the hash check: stored redacted.
    const tampered = { ...msg.pdu, content: { ...(msg.pdu.content as object), reason: "y" } };
    const r = checkReceivedPdu(tampered, rv, lookup);
    expect(r).toMatchObject({ ok: true, redactedForHashMismatch: true });
    // A tampered essential field fails the signature check: dropped.
    expect(checkReceivedPdu({ ...msg.pdu, origin_server_ts: 5 }, rv, lookup)).toMatchObject({ ok: false, step: 2 });
    // Unknown signing key: dropped.
    expect(checkReceivedPdu(msg.pdu, rv, () => undefined)).toMatchObject({ ok: false, step: 2 });
    // Malformed: dropped at step 1.
    expect(checkReceivedPdu({ ...msg.pdu, depth: "1" }, rv, lookup)).toMatchObject({ ok: false, step: 1 });
  });
});

describe("builder details", () => {
  it("v1 needs an event id localpart and reference hashes", () => {
    const rv = requireRoomVersion("1");
    const f = { roomId: "!r:x", sender: "@a:x", type: "t", content: {}, prevEvents: ["$p:x"], authEvents: [], depth: 1, originServerTs: 1 };
    expect(() => buildPdu(f, rv, { serverName: "x" })).toThrow();
    expect(buildPdu(f, rv, { serverName: "x", eventIdLocalpart: "e", referenceHashOf: () => "h" })).toMatchObject({
      event_id: "$e:x",
      prev_events: [["$p:x", { sha256: "h" }]],
    });
    expect(nextDepth([Number.MAX_SAFE_INTEGER])).toBe(Number.MAX_SAFE_INTEGER);
  });
  it("finds float literals in raw JSON outside strings", () => {
    expect(findNonIntegerNumberLiteral('{"a":1,"b":[2,-3],"c":"1.5e3"}')).toBeUndefined();
    expect(findNonIntegerNumberLiteral('{"a":1.0}')).toBe("1.0");
    expect(findNonIntegerNumberLiteral('{"s":"x\\"1.5","a":1e10}')).toBe("1e10");
  });
});
