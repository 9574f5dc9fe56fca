import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { checkReceivedPdu, getRoomVersion, hashAndSign, signingKeyFromSeed, verifyKeyOf, type JsonObject, type Pdu } from "../../core/index.js";
import { addServerSignature, checkTemplate, eventFromTemplate, eventIdOf, orderByAuth, pduList, toStrippedState } from "./handshake.js";

const roomId = "!room:resident.test";
const userId = "@joiner:joining.test";
const template = (over: JsonObject = {}, content: JsonObject = { membership: "join" }): JsonObject => ({
  room_version: "11",
  event: {
    type: "m.room.member",
    room_id: roomId,
    sender: userId,
    state_key: userId,
    origin: "resident.test",
    origin_server_ts: 1,
    depth: 5,
    prev_events: [`$${"p".repeat(43)}`],
    auth_events: [`$${"a".repeat(43)}`, `$${"b".repeat(43)}`],
    content,
    ...over,
  },
});

describe('make_join templates ("the sending server MUST verify")', () => {
  const want = { roomId, userId, membership: "join", supported: ["10", "11"] };

  it("accepts a template for the room, user and membership asked for", () => {
    const r = checkTemplate(template(), want);
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.value.rv.id).toBe("11");
  });

  it("refuses another room, user, type, membership or an unsupported version", () => {
    expect(checkTemplate(template({ room_id: "!other:x" }), want).ok).toBe(false);
    expect(checkTemplate(template({ sender: "@else:joining.test" }), want).ok).toBe(false);
    expect(checkTemplate(template({ state_key: "@else:joining.test" }), want).ok).toBe(false);
    expect(checkTemplate(template({ type: "m.room.message" }), want).ok).toBe(false);
    expect(checkTemplate(template({}, { membership: "leave" }), want).ok).toBe(false);
    expect(checkTemplate({ ...template(), room_version: "9" }, want).ok).toBe(false);
    expect(checkTemplate({ ...template(), room_version: 11 } as JsonObject, want).ok).toBe(false);
    expect(checkTemplate({ room_version: "11" }, want).ok).toBe(false);
  });

  it("a template without room_version is version 1", () => {
    const { room_version: _v, ...rest } = template();
    const r = checkTemplate(rest, { roomId, userId, membership: "join" });
    expect(r.ok && r.value.rv.id).toBe("1");
  });
});

describe("our event from a template", () => {
  const rv11 = getRoomVersion("11")!;
  const rv1 = getRoomVersion("1")!;

  it("replaces origin and origin_server_ts, keeps the template's membership and authorising user, adds our content", () => {
    const t = template({ signatures: { x: {} }, hashes: { sha256: "x" } }, { membership: "join", join_authorised_via_users_server: "@a:resident.test" })
      .event as JsonObject;
    const pdu = eventFromTemplate(t, rv11, {
      serverName: "joining.test",
      now: 99,
      eventIdLocalpart: "abc",
      content: { displayname: "J", membership: "leave" },
    });
    expect(pdu.origin).toBe("joining.test");
    expect(pdu.origin_server_ts).toBe(99);
    expect(pdu.content).toEqual({ displayname: "J", membership: "join", join_authorised_via_users_server: "@a:resident.test" });
    expect(pdu.signatures).toBeUndefined();
    expect(pdu.hashes).toBeUndefined();
    expect(pdu.event_id).toBeUndefined();
    expect(pdu.prev_events).toEqual([`$${"p".repeat(43)}`]);
  });

  it("room versions 1 and 2 get an event id on our server", () => {
    const t = template({ event_id: "$theirs:resident.test" }).event as JsonObject;
    const pdu = eventFromTemplate(t, rv1, { serverName: "joining.test", now: 1, eventIdLocalpart: "xyz" });
    expect(pdu.event_id).toBe("$xyz:joining.test");
  });
});

describe("co-signing an event of another server", () => {
  it("adds our signature and keeps the sender's; both verify", () => {
    const rv = getRoomVersion("11")!;
    const theirs = signingKeyFromSeed(randomBytes(32), "t");
    const ours = signingKeyFromSeed(randomBytes(32), "o");
    const t = template().event as JsonObject;
    const pdu = hashAndSign(eventFromTemplate(t, rv, { serverName: "joining.test", now: 5, eventIdLocalpart: "e" }), "joining.test", theirs, rv);
    const both = addServerSignature(pdu, "resident.test", ours, rv)!;
    expect(addServerSignature({ ...pdu, depth: 1.5 }, "resident.test", ours, rv)).toBeUndefined();
    expect(Object.keys(both.signatures as JsonObject).sort()).toEqual(["joining.test", "resident.test"]);
    expect(eventIdOf(both, rv)).toBe(eventIdOf(pdu, rv));
    const keys = (server: string) => (server === "joining.test" ? verifyKeyOf(theirs) : server === "resident.test" ? verifyKeyOf(ours) : undefined);
    expect(checkReceivedPdu(both, rv, (s) => keys(s)).ok).toBe(true);
    // Our signature alone is not the sender's.
    const onlyOurs = { ...both, signatures: { "resident.test": (both.signatures as JsonObject)["resident.test"]! } } as Pdu;
    expect(checkReceivedPdu(onlyOurs, rv, (s) => keys(s)).ok).toBe(false);
  });
});

describe("ordering received events by their auth events", () => {
  const ev = (type: string, auth: string[]): JsonObject => ({ type, auth_events: auth });

  it("puts every event after the auth events it cites, the create event first", () => {
    const events = new Map<string, JsonObject>([
      ["$z-join", ev("m.room.member", ["$pl", "$m-alice"])],
      ["$pl", ev("m.room.power_levels", ["$m-alice"])],
      ["$m-alice", ev("m.room.member", [])],
      ["$y-create", ev("m.room.create", [])],
      ["$a-other", ev("m.room.topic", ["$unknown", "$pl"])],
    ]);
    const order = orderByAuth(events);
    expect(order).toHaveLength(5);
    expect(order[0]).toBe("$y-create");
    const at = (id: string) => order.indexOf(id);
    expect(at("$m-alice")).toBeLessThan(at("$pl"));
    expect(at("$pl")).toBeLessThan(at("$z-join"));
    expect(at("$pl")).toBeLessThan(at("$a-other"));
  });

  it("v1 [id, hashes] pairs are followed, and a cycle ends the walk instead of looping", () => {
    const events = new Map<string, JsonObject>([
      ["$a", { type: "x", auth_events: [["$b", { sha256: "h" }]] }],
      ["$b", { type: "x", auth_events: [["$a", { sha256: "h" }]] }],
      ["$c", { type: "x", auth_events: [["$b", { sha256: "h" }]] }],
    ]);
    const order = orderByAuth(events);
    expect(new Set(order)).toEqual(new Set(["$a", "$b", "$c"]));
    expect(order.indexOf("$b")).toBeLessThan(order.indexOf("$c"));
  });

  it("a deep chain does not overflow the stack", () => {
    const events = new Map<string, JsonObject>();
    for (let i = 0; i < 50_000; i++) events.set(`$e${i}`, ev("m.room.member", i === 0 ? [] : [`$e${i - 1}`]));
    const order = orderByAuth(events);
    expect(order[0]).toBe("$e0");
    expect(order[49_999]).toBe("$e49999");
  });
});

describe("stripped state and event lists", () => {
  it("keeps type, state_key, sender and content of well-formed state events", () => {
    const out = toStrippedState([
      { type: "m.room.name", state_key: "", sender: "@a:x", content: { name: "N" }, signatures: {}, depth: 3 },
      { type: "m.room.message", sender: "@a:x", content: {} },
      "junk",
      { type: "m.room.topic", state_key: "", sender: "@a:x", content: "not an object" },
    ]);
    expect(out).toEqual([{ type: "m.room.name", state_key: "", sender: "@a:x", content: { name: "N" } }]);
    expect(toStrippedState({ not: "a list" })).toEqual([]);
    expect(toStrippedState(Array.from({ length: 80 }, () => ({ type: "t", state_key: "", sender: "@a:x", content: {} })))).toHaveLength(50);
  });

  it("a send_join list must be an array within the limit; non-objects are dropped", () => {
    expect(pduList("x", 10).ok).toBe(false);
    expect(pduList([{}, {}, {}], 2).ok).toBe(false);
    const r = pduList([{ a: 1 }, 3, null, [1]], 10);
    expect(r.ok && r.value).toEqual([{ a: 1 }]);
  });
});
