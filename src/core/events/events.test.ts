import { describe, expect, it } from "vitest";
import { decodeBase64, signingKeyFromSeed, verifyKeyOf } from "../crypto.js";
import { requireRoomVersion } from "../room-versions.js";
import { checkContentHash, computeReferenceHash } from "./hashes.js";
import { computeEventId, roomIdFromCreateEvent } from "./event-id.js";
import { hashAndSign, verifyEventSignatures } from "./signatures.js";
import { redact } from "./redaction.js";
import { checkPduFormat } from "./format.js";
import { toRoomEvent } from "./pdu.js";
import type { JsonObject } from "../json.js";

const KEY = signingKeyFromSeed(decodeBase64("YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1")!, "1");
const V1 = requireRoomVersion("1");

describe("event signing (appendix vectors)", () => {
  it("signs the minimally-sized event byte for byte", () => {
    const event: JsonObject = {
      room_id: "!x:domain",
      sender: "@a:domain",
      origin: "domain",
      origin_server_ts: 1000000,
      signatures: {},
      hashes: {},
      type: "X",
      content: {},
      prev_events: [],
      auth_events: [],
      depth: 3,
      unsigned: { age_ts: 1000000 },
    };
    expect(hashAndSign(event, "domain", KEY, V1)).toEqual({
      auth_events: [],
      content: {},
      depth: 3,
      hashes: { sha256: "5jM4wQpv6lnBo7CLIghJuHdW+s2CMBJPUOGOC89ncos" },
      origin: "domain",
      origin_server_ts: 1000000,
      prev_events: [],
      room_id: "!x:domain",
      sender: "@a:domain",
      signatures: {
        domain: {
          "ed25519:1": "KxwGjPSDEtvnFgU00fwFz+l6d2pJM6XBIaMEn81SXPTRl16AqLAYqfIReFGZlHi5KLjAWbOoMszkwsQma+lYAg",
        },
      },
      type: "X",
      unsigned: { age_ts: 1000000 },
    });
  });

  it("signs the event with redactable content byte for byte", () => {
    const event: JsonObject = {
      content: { body: "Here is the message content" },
      event_id: "$0:domain",
      origin: "domain",
      origin_server_ts: 1000000,
      type: "m.room.message",
      room_id: "!r:domain",
      sender: "@u:domain",
      signatures: {},
      unsigned: { age_ts: 1000000 },
    };
    const signed = hashAndSign(event, "domain", KEY, V1);
    expect(signed).toEqual({
      content: { body: "Here is the message content" },
      event_id: "$0:domain",
      hashes: { sha256: "onLKD1bGljeBWQhWZ1kaP9SorVmRQNdN5aM2JYU2n/g" },
      origin: "domain",
      origin_server_ts: 1000000,
      type: "m.room.message",
      room_id: "!r:domain",
      sender: "@u:domain",
      signatures: {
        domain: {
          "ed25519:1": "Wm+VzmOUOz08Ds+0NTWb1d4CZrVsJSikkeRxh6aCcUwu6pNC78FunoD7KNWzqFn241eYHYMGCA5McEiVPdhzBA",
        },
      },
      unsigned: { age_ts: 1000000 },
    });
    // The signature still verifies on the redacted copy; the hash does not match it.
    const vk = verifyKeyOf(KEY);
    const lookup = (server: string, keyId: string) => (server === "domain" && keyId === "ed25519:1" ? vk : undefined);
    expect(verifyEventSignatures(signed, V1, lookup)).toEqual({ ok: true });
    expect(checkContentHash(signed, V1)).toBe(true);
    const redacted = redact(signed, V1);
    expect(verifyEventSignatures(redacted, V1, lookup)).toEqual({ ok: true });
    expect(checkContentHash(redacted, V1)).toBe(false);
    expect(verifyEventSignatures({ ...signed, origin_server_ts: 5 }, V1, lookup).ok).toBe(false);
  });
});

function v4Event(overrides: JsonObject = {}): JsonObject {
  return {
    room_id: "!room:example.org",
    sender: "@alice:example.org",
    origin_server_ts: 1,
    type: "m.room.message",
    content: { body: "hi" },
    prev_events: [],
    auth_events: [],
    depth: 1,
    hashes: { sha256: "x" },
    signatures: {},
    ...overrides,
  };
}

describe("event ids", () => {
  it("v3 uses standard base64, v4+ URL-safe, both of the reference hash", () => {
    const ev = v4Event();
    const hash = Buffer.from(computeReferenceHash(ev, requireRoomVersion("3")));
    expect(computeEventId(ev, requireRoomVersion("3"))).toBe(`$${hash.toString("base64").replace(/=+$/, "")}`);
    expect(computeEventId(ev, requireRoomVersion("4"))).toBe(`$${hash.toString("base64url")}`);
    // Unsigned data, signatures and redactable content do not change the id.
    const v4 = requireRoomVersion("10");
    const id = computeEventId(ev, v4);
    expect(computeEventId({ ...ev, unsigned: { age: 1 }, signatures: { a: {} } }, v4)).toBe(id);
    expect(computeEventId({ ...ev, content: { body: "other" } }, v4)).toBe(id);
    expect(computeEventId({ ...ev, hashes: { sha256: "y" } }, v4)).not.toBe(id);
    expect(computeEventId({ ...ev, event_id: "$bogus" }, v4)).toBe(id);
  });

  it("v1 takes event_id from the event", () => {
    expect(computeEventId(v4Event({ event_id: "$a:b" }), V1)).toBe("$a:b");
    expect(() => computeEventId(v4Event(), V1)).toThrow();
  });

  it("v12 room id is the create event id with ! sigil", () => {
    const v12 = requireRoomVersion("12");
    const { room_id: _r, ...create } = v4Event({ type: "m.room.create", state_key: "", content: { room_version: "12" } });
    const eventId = computeEventId(create, v12);
    const roomId = roomIdFromCreateEvent(create, v12);
    expect(roomId).toBe(`!${eventId.slice(1)}`);
    expect(roomId).toMatch(/^![A-Za-z0-9_-]{43}$/);
    expect(toRoomEvent(create, eventId, v12).roomId).toBe(roomId);
  });
});

describe("redaction", () => {
  const base = {
    event_id: "$e:x", type: "", room_id: "!r:x", sender: "@u:x", state_key: "", content: {}, hashes: {}, signatures: {},
    depth: 1, prev_events: [], prev_state: [], auth_events: [], origin: "x", origin_server_ts: 1, membership: "join",
    unsigned: { age: 1 }, extra: 1, redacts: "$y:x",
  } satisfies JsonObject;

  it("v1 keeps the v1 top-level keys and aliases", () => {
    const r = redact({ ...base, type: "m.room.aliases", content: { aliases: ["#a:x"], other: 1 } }, V1);
    expect(Object.keys(r).sort()).toEqual(
      ["auth_events", "content", "depth", "event_id", "hashes", "membership", "origin", "origin_server_ts", "prev_events", "prev_state", "room_id", "sender", "signatures", "state_key", "type"],
    );
    expect(r.content).toEqual({ aliases: ["#a:x"] });
    expect(redact({ ...base, type: "m.room.aliases", content: { aliases: [] } }, requireRoomVersion("6")).content).toEqual({});
  });

  it("per-version content rules", () => {
    const jr = { ...base, type: "m.room.join_rules", content: { join_rule: "restricted", allow: [], x: 1 } };
    expect(redact(jr, requireRoomVersion("7")).content).toEqual({ join_rule: "restricted" });
    expect(redact(jr, requireRoomVersion("8")).content).toEqual({ join_rule: "restricted", allow: [] });
    const mem = { ...base, type: "m.room.member", content: { membership: "join", join_authorised_via_users_server: "@a:x", displayname: "A", third_party_invite: { signed: { a: 1 }, display_name: "x" } } };
    expect(redact(mem, requireRoomVersion("8")).content).toEqual({ membership: "join" });
    expect(redact(mem, requireRoomVersion("9")).content).toEqual({ membership: "join", join_authorised_via_users_server: "@a:x" });
    expect(redact(mem, requireRoomVersion("11")).content).toEqual({ membership: "join", join_authorised_via_users_server: "@a:x", third_party_invite: { signed: { a: 1 } } });
    const create = { ...base, type: "m.room.create", content: { creator: "@u:x", room_version: "1", "m.federate": false } };
    expect(redact(create, requireRoomVersion("10")).content).toEqual({ creator: "@u:x" });
    expect(redact(create, requireRoomVersion("11")).content).toEqual(create.content);
    const pl = { ...base, type: "m.room.power_levels", content: { ban: 1, events: {}, events_default: 1, kick: 1, redact: 1, state_default: 1, users: {}, users_default: 1, invite: 1, notifications: {} } };
    const { invite: _i, notifications: _n, ...plV1 } = pl.content;
    expect(redact(pl, requireRoomVersion("10")).content).toEqual(plV1);
    expect(redact(pl, requireRoomVersion("11")).content).toEqual({ ...plV1, invite: 1 });
    const red = { ...base, type: "m.room.redaction", content: { redacts: "$z:x", reason: "r" } };
    expect(redact(red, requireRoomVersion("10")).content).toEqual({});
    expect(redact(red, requireRoomVersion("11")).content).toEqual({ redacts: "$z:x" });
    const hv = { ...base, type: "m.room.history_visibility", content: { history_visibility: "shared", x: 1 } };
    expect(redact(hv, requireRoomVersion("11")).content).toEqual({ history_visibility: "shared" });
  });

  it("v11 drops origin, membership and prev_state", () => {
    const r = redact(base, requireRoomVersion("11"));
    expect(Object.keys(r).sort()).toEqual(
      ["auth_events", "content", "depth", "event_id", "hashes", "origin_server_ts", "prev_events", "room_id", "sender", "signatures", "state_key", "type"],
    );
  });
});

describe("format checks", () => {
  const v10 = requireRoomVersion("10");
  it("accepts a well-formed event", () => {
    expect(checkPduFormat(v4Event(), v10)).toEqual({ ok: true });
  });
  it("rejects bad shapes", () => {
    const bad: Array<[JsonObject, string]> = [
      [v4Event({ type: 1 }), "type"],
      [v4Event({ sender: "alice" }), "sender"],
      [v4Event({ room_id: "room" }), "room_id"],
      [v4Event({ state_key: "x".repeat(256) }), "state_key"],
      [v4Event({ type: "t".repeat(256) }), "type"],
      [v4Event({ content: [] }), "content"],
      [v4Event({ depth: -1 }), "depth"],
      [v4Event({ hashes: {} }), "hashes"],
      [v4Event({ prev_events: Array.from({ length: 21 }, () => "$aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa") }), "prev_events"],
      [v4Event({ auth_events: ["$not-a-hash"] }), "auth_events"],
      [v4Event({ content: { body: "x".repeat(70000) } }), "limit"],
      [v4Event({ content: { n: 1.5 } }), "canonical"],
    ];
    for (const [ev, word] of bad) {
      const r = checkPduFormat(ev, v10);
      expect(r.ok, word).toBe(false);
      if (!r.ok) expect(r.reason).toContain(word);
    }
  });
  it("allows floats in v1-v5 and requires event_id and pair lists in v1-v2", () => {
    expect(checkPduFormat(v4Event({ content: { n: 1.5 } }), requireRoomVersion("5")).ok).toBe(true);
    expect(checkPduFormat(v4Event({ event_id: "$a:b" }), V1).ok).toBe(true);
    expect(checkPduFormat(v4Event({ event_id: "$a:b", prev_events: [["$c:d", { sha256: "x" }]] }), V1).ok).toBe(true);
    expect(checkPduFormat(v4Event({ event_id: "$a:b", prev_events: ["$c:d"] }), V1).ok).toBe(false);
    expect(checkPduFormat(v4Event(), V1).ok).toBe(false);
  });
  it("v12: create has no room_id, others have hash room ids", () => {
    const v12 = requireRoomVersion("12");
    const { room_id: _r, ...create } = v4Event({ type: "m.room.create", state_key: "" });
    expect(checkPduFormat(create, v12).ok).toBe(true);
    expect(checkPduFormat({ ...create, room_id: "!a:b" }, v12).ok).toBe(false);
    expect(checkPduFormat(v4Event(), v12).ok).toBe(false);
    expect(checkPduFormat(v4Event({ room_id: "!" + "A".repeat(43) }), v12).ok).toBe(true);
    expect(checkPduFormat(v4Event({ room_id: "!" + "A".repeat(43) }), v10).ok).toBe(false);
  });
});
