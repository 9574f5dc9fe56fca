import { describe, expect, it } from "vitest";
import { RoomFixture } from "../../../test/core/room-fixture.js";
import type { JsonObject } from "../json.js";
import type { RoomEvent } from "../events/pdu.js";
import { KNOWN_ROOM_VERSIONS } from "../room-versions.js";
import { checkAuth, checkAuthAgainstAuthEvents, checkAuthEvents } from "./check-auth.js";
import { authEventsFor } from "./auth-events-selection.js";
import { PowerLevels, parsePowerLevel } from "./power-levels.js";
import type { AuthResult } from "./result.js";
import { signingKeyFromSeed, encodeBase64 } from "../crypto.js";
import { signJson } from "../signing.js";

const ALL = KNOWN_ROOM_VERSIONS;
const versions = (pred: (v: number) => boolean) => ALL.filter((v) => pred(Number(v)));

interface Room {
  f: RoomFixture;
  create: RoomEvent;
  aliceJoin: RoomEvent;
  pl: RoomEvent;
  jr: RoomEvent;
  base: RoomEvent[];
}

/** create by alice, alice joined, power levels (alice 100 or creator, mod 50), join rules. */
function room(v: string, joinRule = "public", plExtra: JsonObject = {}): Room {
  const f = new RoomFixture(v);
  const create = f.create();
  const aliceJoin = f.member("alice-join", "@alice:a", "join", { prev: ["create"], auth: ["create"] });
  const users: JsonObject = { "@mod:b": 50 };
  if (!f.rv.creatorsHaveInfinitePower) users["@alice:a"] = 100;
  const pl = f.make({
    id: "pl", type: "m.room.power_levels", sender: "@alice:a", stateKey: "",
    content: { users, users_default: 0, events_default: 0, state_default: 50, ban: 50, kick: 50, redact: 50, invite: 0, events: { "m.room.power_levels": 100 }, ...plExtra },
  });
  const jr = f.make({ id: "jr", type: "m.room.join_rules", sender: "@alice:a", stateKey: "", content: { join_rule: joinRule } });
  return { f, create, aliceJoin, pl, jr, base: [create, aliceJoin, pl, jr] };
}

function ok(r: AuthResult) {
  expect(r.allowed, r.allowed ? "" : r.reason).toBe(true);
}
function no(r: AuthResult, rule?: string) {
  expect(r.allowed).toBe(false);
  if (rule !== undefined) expect(r.rule).toBe(rule);
}

describe.each(ALL)("room version %s", (v) => {
  it("1: m.room.create", () => {
    const f = new RoomFixture(v);
    const rv = f.rv;
    ok(checkAuth(f.create(), f.state(), rv));
    no(checkAuth(f.make({ id: "c2", type: "m.room.create", sender: "@alice:a", stateKey: "", prev: ["x"], content: { creator: "@alice:a" } }), f.state(), rv), "1.1");
    no(checkAuth(f.create("@alice:a", { room_version: "999" }), f.state(), rv), "1.3");
    if (rv.roomIdIsCreateEventHash) {
      const withRoom = f.make({ id: "c3", type: "m.room.create", sender: "@alice:a", stateKey: "", extra: { room_id: f.roomId } });
      no(checkAuth(withRoom, f.state(), rv), "1.2");
      no(checkAuth(f.create("@alice:a", { additional_creators: ["not a user"] }), f.state(), rv), "1.4");
      ok(checkAuth(f.create("@alice:a", { additional_creators: ["@bob:b"] }), f.state(), rv));
    } else {
      no(checkAuth(f.create("@alice:other"), f.state(), rv), "1.2");
    }
    const noCreator = f.make({ id: "c4", type: "m.room.create", sender: "@alice:a", stateKey: "", content: {} });
    if (rv.creatorIsSender) ok(checkAuth(noCreator, f.state(), rv));
    else no(checkAuth(noCreator, f.state(), rv), "1.4");
  });

  it("2/3: auth events list", () => {
    const { f, base, create, aliceJoin, pl, jr } = room(v);
    const rv = f.rv;
    const msg = f.make({ id: "m", type: "m.room.message", sender: "@alice:a", auth: rv.createEventInAuthEvents ? ["create", "pl", "alice-join"] : ["pl", "alice-join"] });
    const auth = rv.createEventInAuthEvents ? [create, pl, aliceJoin] : [pl, aliceJoin];
    ok(checkAuthAgainstAuthEvents(msg, auth, rv, { createEvent: create }));
    // wrong type: join rules are not selected for messages
    const withJr = f.make({ id: "m2", type: "m.room.message", sender: "@alice:a", auth: [...auth.map((e) => e.eventId), jr.eventId] });
    no(checkAuthEvents(withJr, [...auth, jr], rv), "3.2");
    // duplicate
    const pl2 = f.make({ id: "pl2", type: "m.room.power_levels", sender: "@alice:a", stateKey: "", content: {} });
    const dup = f.make({ id: "m3", type: "m.room.message", sender: "@alice:a", auth: [...auth.map((e) => e.eventId), pl2.eventId] });
    no(checkAuthEvents(dup, [...auth, pl2], rv), "3.1");
    // rejected auth event
    no(checkAuthEvents(msg, auth, rv, (id) => id === pl.eventId), "3.3");
    // other room
    const foreign = { ...pl, roomId: "!other:a" };
    no(checkAuthEvents(msg, rv.createEventInAuthEvents ? [create, foreign, aliceJoin] : [foreign, aliceJoin], rv), "3.5");
    if (rv.createEventInAuthEvents) {
      const noCreate = f.make({ id: "m4", type: "m.room.message", sender: "@alice:a", auth: ["pl", "alice-join"] });
      no(checkAuthEvents(noCreate, [pl, aliceJoin], rv), "3.4");
    } else {
      // v12: the create event MUST NOT be selected
      const withCreate = f.make({ id: "m5", type: "m.room.message", sender: "@alice:a", auth: ["create", "pl", "alice-join"] });
      no(checkAuthEvents(withCreate, [create, pl, aliceJoin], rv), "3.2");
      // 2: room_id must be the create event's id
      const elsewhere = { ...msg, roomId: "!" + "B".repeat(43) };
      no(checkAuth(elsewhere, f.state(...base), rv), "2");
    }
    // selection picks the expected events
    const skeleton = { type: "m.room.member", sender: "@bob:b", stateKey: "@bob:b", content: { membership: "join" } };
    const expected = rv.createEventInAuthEvents ? [create.eventId, pl.eventId, jr.eventId] : [pl.eventId, jr.eventId];
    expect(authEventsFor(skeleton, f.state(...base), rv)).toEqual(expected);
  });

  it("4: m.federate false", () => {
    const f = new RoomFixture(v);
    const create = f.create("@alice:a", { "m.federate": false });
    const jr = f.make({ id: "jr", type: "m.room.join_rules", sender: "@alice:a", stateKey: "", content: { join_rule: "public" } });
    const join = f.member("alice-join", "@alice:a", "join");
    const s = f.state(create, jr, join);
    no(checkAuth(f.member("bob", "@bob:b", "join"), s, f.rv), "4");
    ok(checkAuth(f.member("carol", "@carol:a", "join"), s, f.rv));
  });

  it("5.1, 5.8: membership key and unknown membership", () => {
    const { f, base } = room(v);
    const s = f.state(...base);
    no(checkAuth(f.make({ id: "x", type: "m.room.member", sender: "@bob:b", stateKey: "@bob:b", content: {} }), s, f.rv), "5.1");
    no(checkAuth(f.member("x2", "@bob:b", "dance"), s, f.rv), "5.8");
  });

  it("5.3: joins", () => {
    const { f, base, create } = room(v);
    const rv = f.rv;
    // 5.3.1 creator's first join right after create
    const first = f.member("j1", "@alice:a", "join", { prev: ["create"] });
    ok(checkAuth(first, f.state(create), rv));
    no(checkAuth(f.member("j1b", "@bob:b", "join", { prev: ["create"] }), f.state(create), rv));
    const s = f.state(...base);
    // 5.3.2
    no(checkAuth(f.member("j2", "@bob:b", "join", { sender: "@alice:a" }), s, rv), "5.3.2");
    // 5.3.6 public
    ok(checkAuth(f.member("j3", "@bob:b", "join"), s, rv));
    // 5.3.3 banned
    const ban = f.member("ban", "@bob:b", "ban", { sender: "@alice:a" });
    no(checkAuth(f.member("j4", "@bob:b", "join"), f.state(...base, ban), rv), "5.3.3");
  });

  it("5.3.4: invite (and knock) join rules", () => {
    const { f, base } = room(v, "invite");
    const rv = f.rv;
    no(checkAuth(f.member("j", "@bob:b", "join"), f.state(...base), rv), "5.3.4");
    const inv = f.member("inv", "@bob:b", "invite", { sender: "@alice:a" });
    ok(checkAuth(f.member("j2", "@bob:b", "join"), f.state(...base, inv), rv));
    const k = room(v, "knock");
    const r = checkAuth(k.f.member("j3", "@bob:b", "join"), k.f.state(...k.base, k.f.member("inv", "@bob:b", "invite", { sender: "@alice:a" })), rv);
    // knock join rule only exists from v7; before that the join rule is unknown and joins fail
    if (rv.knocking) ok(r);
    else no(r, "5.3.7");
  });

  it("5.3.5: restricted and knock_restricted", () => {
    for (const rule of ["restricted", "knock_restricted"]) {
      const { f, base } = room(v, rule);
      const rv = f.rv;
      const supported = rule === "restricted" ? rv.restrictedJoins : rv.knockRestricted;
      const viaJoin = f.make({
        id: "via", type: "m.room.member", sender: "@bob:b", stateKey: "@bob:b",
        content: { membership: "join", join_authorised_via_users_server: "@alice:a" },
        extra: { signatures: { b: { "ed25519:1": "s" }, a: { "ed25519:1": "s" } } },
      });
      const s = f.state(...base);
      if (!supported) {
        no(checkAuth(viaJoin, s, rv));
        continue;
      }
      ok(checkAuth(viaJoin, s, rv));
      // 5.2: the authorising server must have signed
      const unsigned = f.make({
        id: "via2", type: "m.room.member", sender: "@bob:b", stateKey: "@bob:b",
        content: { membership: "join", join_authorised_via_users_server: "@alice:a" },
      });
      no(checkAuth(unsigned, s, rv), "5.2.1");
      // 5.3.5.2: no authoriser / authoriser not joined / authoriser cannot invite
      no(checkAuth(f.member("j", "@bob:b", "join"), s, rv), "5.3.5.2");
      const viaCarol = f.make({
        id: "via3", type: "m.room.member", sender: "@bob:b", stateKey: "@bob:b",
        content: { membership: "join", join_authorised_via_users_server: "@carol:c" },
        extra: { signatures: { b: { "ed25519:1": "s" }, c: { "ed25519:1": "s" } } },
      });
      no(checkAuth(viaCarol, s, rv), "5.3.5.2");
      const carolJoin = f.member("cj", "@carol:c", "join");
      ok(checkAuth(viaCarol, f.state(...base, carolJoin), rv));
      const strictInvite = room(v, rule, { invite: 10 });
      no(checkAuth(viaCarol, strictInvite.f.state(...strictInvite.base, carolJoin), rv), "5.3.5.2");
      // 5.3.5.1: already invited
      const inv = f.member("inv", "@bob:b", "invite", { sender: "@alice:a" });
      ok(checkAuth(f.member("j2", "@bob:b", "join"), f.state(...base, inv), rv));
    }
  });

  it("5.4: invites", () => {
    const { f, base } = room(v, "invite");
    const rv = f.rv;
    const s = f.state(...base);
    ok(checkAuth(f.member("i", "@bob:b", "invite", { sender: "@alice:a" }), s, rv));
    no(checkAuth(f.member("i2", "@bob:b", "invite", { sender: "@carol:c" }), s, rv), "5.4.2");
    const bobJoin = f.member("bj", "@bob:b", "join");
    no(checkAuth(f.member("i3", "@bob:b", "invite", { sender: "@alice:a" }), f.state(...base, bobJoin), rv), "5.4.3");
    const ban = f.member("ban", "@bob:b", "ban", { sender: "@alice:a" });
    no(checkAuth(f.member("i4", "@bob:b", "invite", { sender: "@alice:a" }), f.state(...base, ban), rv), "5.4.3");
    const high = room(v, "invite", { invite: 60 });
    const modJoin = high.f.member("mj", "@mod:b", "join");
    no(checkAuth(high.f.member("i5", "@bob:b", "invite", { sender: "@mod:b" }), high.f.state(...high.base, modJoin), rv), "5.4.5");
  });

  it("5.4.1: third-party invites", () => {
    const { f, base } = room(v, "invite");
    const rv = f.rv;
    const idKey = signingKeyFromSeed(new Uint8Array(32).fill(7), "0");
    const tpiEvent = f.make({
      id: "tpi", type: "m.room.third_party_invite", sender: "@alice:a", stateKey: "tok",
      content: { display_name: "b...", key_validity_url: "https://x", public_key: encodeBase64(idKey.publicKey) },
    });
    const signed = signJson({ mxid: "@bob:b", token: "tok" }, "id.example", idKey);
    const s = f.state(...base, tpiEvent);
    const invite = (id: string, tpi: JsonObject, sender = "@alice:a") =>
      f.make({ id, type: "m.room.member", sender, stateKey: "@bob:b", content: { membership: "invite", third_party_invite: tpi } });
    ok(checkAuth(invite("t1", { display_name: "b", signed }), s, rv));
    no(checkAuth(invite("t2", { display_name: "b" }), s, rv), "5.4.1.2");
    no(checkAuth(invite("t3", { signed: { mxid: "@bob:b" } }), s, rv), "5.4.1.3");
    no(checkAuth(invite("t4", { signed: { ...signed, mxid: "@eve:e" } }), s, rv), "5.4.1.4");
    no(checkAuth(invite("t5", { signed: { ...signed, token: "other" } }), s, rv), "5.4.1.5");
    no(checkAuth(invite("t6", { signed }, "@mod:b"), s, rv), "5.4.1.6");
    const forged = signJson({ mxid: "@bob:b", token: "tok" }, "id.example", signingKeyFromSeed(new Uint8Array(32).fill(8), "0"));
    no(checkAuth(invite("t7", { signed: forged }), s, rv), "5.4.1.8");
    const ban = f.member("ban", "@bob:b", "ban", { sender: "@alice:a" });
    no(checkAuth(invite("t8", { signed }), f.state(...base, tpiEvent, ban), rv), "5.4.1.1");
    // keys may also come from public_keys
    const tpi2 = f.make({ id: "tpi", type: "m.room.third_party_invite", sender: "@alice:a", stateKey: "tok", content: { public_keys: [{ public_key: encodeBase64(idKey.publicKey) }] } });
    ok(checkAuth(invite("t9", { signed }), f.state(...base, tpi2), rv));
  });

  it("5.5: leave and kick", () => {
    const { f, base } = room(v);
    const rv = f.rv;
    const bobJoin = f.member("bj", "@bob:b", "join");
    const modJoin = f.member("mj", "@mod:b", "join");
    const s = f.state(...base, bobJoin, modJoin);
    ok(checkAuth(f.member("l1", "@bob:b", "leave"), s, rv));
    no(checkAuth(f.member("l2", "@carol:c", "leave"), s, rv), "5.5.1");
    if (rv.knocking) {
      const knock = f.member("k", "@carol:c", "knock");
      ok(checkAuth(f.member("l3", "@carol:c", "leave"), f.state(...base, knock), rv));
    }
    no(checkAuth(f.member("l4", "@bob:b", "leave", { sender: "@carol:c" }), s, rv), "5.5.2");
    ok(checkAuth(f.member("l5", "@bob:b", "leave", { sender: "@mod:b" }), s, rv));
    no(checkAuth(f.member("l6", "@mod:b", "leave", { sender: "@bob:b" }), s, rv), "5.5.5");
    // unbanning needs the ban level
    const ban = f.member("ban", "@carol:c", "ban", { sender: "@alice:a" });
    const hb = room(v, "public", { ban: 60 });
    no(checkAuth(f.member("l7", "@carol:c", "leave", { sender: "@mod:b" }), hb.f.state(...hb.base, modJoin, ban), rv), "5.5.3");
    ok(checkAuth(f.member("l8", "@carol:c", "leave", { sender: "@alice:a" }), f.state(...base, ban), rv));
  });

  it("5.6: bans", () => {
    const { f, base } = room(v);
    const rv = f.rv;
    const modJoin = f.member("mj", "@mod:b", "join");
    const s = f.state(...base, modJoin);
    ok(checkAuth(f.member("b1", "@bob:b", "ban", { sender: "@mod:b" }), s, rv));
    no(checkAuth(f.member("b2", "@bob:b", "ban", { sender: "@carol:c" }), s, rv), "5.6.1");
    no(checkAuth(f.member("b3", "@alice:a", "ban", { sender: "@mod:b" }), s, rv), "5.6.3");
  });

  it("5.7: knocks", () => {
    const k = room(v, "knock");
    const rv = k.f.rv;
    const r = checkAuth(k.f.member("k1", "@bob:b", "knock"), k.f.state(...k.base), rv);
    if (!rv.knocking) {
      no(r, "5.8");
      return;
    }
    ok(r);
    no(checkAuth(k.f.member("k2", "@bob:b", "knock", { sender: "@alice:a" }), k.f.state(...k.base), rv), "5.7.2");
    const inv = k.f.member("inv", "@bob:b", "invite", { sender: "@alice:a" });
    no(checkAuth(k.f.member("k3", "@bob:b", "knock"), k.f.state(...k.base, inv), rv), "5.7.4");
    const p = room(v, "public");
    no(checkAuth(p.f.member("k4", "@bob:b", "knock"), p.f.state(...p.base), rv), "5.7.1");
    const kr = room(v, "knock_restricted");
    const r2 = checkAuth(kr.f.member("k5", "@bob:b", "knock"), kr.f.state(...kr.base), rv);
    if (rv.knockRestricted) ok(r2);
    else no(r2, "5.7.1");
  });

  it("6-9: membership, third_party_invite, required level, @ state keys", () => {
    const { f, base } = room(v);
    const rv = f.rv;
    const bobJoin = f.member("bj", "@bob:b", "join");
    const s = f.state(...base, bobJoin);
    ok(checkAuth(f.make({ id: "m1", type: "m.room.message", sender: "@bob:b" }), s, rv));
    no(checkAuth(f.make({ id: "m2", type: "m.room.message", sender: "@carol:c" }), s, rv), "6");
    ok(checkAuth(f.make({ id: "t1", type: "m.room.third_party_invite", sender: "@bob:b", stateKey: "x" }), s, rv));
    const hi = room(v, "public", { invite: 10 });
    no(checkAuth(f.make({ id: "t2", type: "m.room.third_party_invite", sender: "@bob:b", stateKey: "x" }), hi.f.state(...hi.base, bobJoin), rv), "7.1");
    no(checkAuth(f.make({ id: "s1", type: "m.room.topic", sender: "@bob:b", stateKey: "" }), s, rv), "8");
    ok(checkAuth(f.make({ id: "s2", type: "m.room.topic", sender: "@alice:a", stateKey: "" }), s, rv));
    ok(checkAuth(f.make({ id: "s3", type: "com.x", sender: "@alice:a", stateKey: "@alice:a" }), s, rv));
    no(checkAuth(f.make({ id: "s4", type: "com.x", sender: "@alice:a", stateKey: "@bob:b" }), s, rv), "9");
  });

  it("10: power levels", () => {
    const { f, base, pl } = room(v);
    const rv = f.rv;
    const modJoin = f.member("mj", "@mod:b", "join");
    const s = f.state(...base, modJoin);
    const plEv = (id: string, content: JsonObject, sender = "@alice:a") =>
      f.make({ id, type: "m.room.power_levels", sender, stateKey: "", content: { ...pl.content, ...content } });
    ok(checkAuth(plEv("p1", { ban: 60 }), s, rv));
    // 10.1/10.2 string values: allowed before v10
    const stringy = checkAuth(plEv("p2", { kick: "40" }), s, rv);
    const stringyEvents = checkAuth(plEv("p2b", { events: { "m.room.name": "40" } }), s, rv);
    if (rv.integerPowerLevels) {
      no(stringy, "10.1");
      no(stringyEvents, "10.2");
    } else {
      ok(stringy);
      ok(stringyEvents);
    }
    // 10.3
    no(checkAuth(plEv("p3", { users: { "not-a-user": 10 } }), s, rv), "10.3");
    no(checkAuth(plEv("p3b", { users: { "@x:y": "ten" } }), s, rv), "10.3");
    // 10.4 (v12)
    const withCreator = checkAuth(plEv("p4", { users: { "@alice:a": 100 } }), s, rv);
    if (rv.creatorsHaveInfinitePower) no(withCreator, "10.4");
    else ok(withCreator);
    // 10.5 first power levels event
    const f2 = new RoomFixture(v);
    const c2 = f2.create();
    const j2 = f2.member("aj", "@alice:a", "join");
    ok(checkAuth(f2.make({ id: "p", type: "m.room.power_levels", sender: "@alice:a", stateKey: "", content: { users_default: 1000 } }), f2.state(c2, j2), rv));
    // 10.6: the mod (50) may not touch levels above 50
    const modPl = room(v, "public", { events: { "m.room.power_levels": 50 } });
    const ms = modPl.f.state(...modPl.base, modJoin);
    const mk = (id: string, content: JsonObject) =>
      modPl.f.make({ id, type: "m.room.power_levels", sender: "@mod:b", stateKey: "", content: { ...modPl.pl.content, ...content } });
    ok(checkAuth(mk("q1", { kick: 40 }), ms, rv));
    no(checkAuth(mk("q2", { kick: 60 }), ms, rv), "10.6.2");
    const hiKick = room(v, "public", { events: { "m.room.power_levels": 50 }, kick: 70 });
    no(checkAuth(hiKick.f.make({ id: "q3", type: "m.room.power_levels", sender: "@mod:b", stateKey: "", content: { ...hiKick.pl.content, kick: 40 } }), hiKick.f.state(...hiKick.base, modJoin), rv), "10.6.1");
    // 10.7/10.8 events map
    no(checkAuth(mk("q4", { events: { "m.room.power_levels": 50, "m.room.name": 60 } }), ms, rv), "10.8.1");
    no(checkAuth(mk("q5", { events: {} }), f.state(...modPl.base, modJoin, modPl.f.make({ id: "plx", type: "m.room.power_levels", sender: "@alice:a", stateKey: "", content: { ...modPl.pl.content, events: { "m.room.power_levels": 50, "m.room.name": 60 } } })), rv), "10.7.1");
    // notifications are covered from v6
    const notif = checkAuth(mk("q6", { notifications: { room: 60 } }), ms, rv);
    if (rv.notificationsInPowerLevelChecks) no(notif, "10.8.1");
    else ok(notif);
    // 10.9: cannot change a user at or above own level (other than self)
    const peer = room(v, "public", { events: { "m.room.power_levels": 50 }, users: { ...modPl.pl.content.users as JsonObject, "@peer:p": 50 } });
    const ps = peer.f.state(...peer.base, modJoin);
    no(checkAuth(peer.f.make({ id: "q7", type: "m.room.power_levels", sender: "@mod:b", stateKey: "", content: { ...peer.pl.content, users: { ...(peer.pl.content.users as JsonObject), "@peer:p": 10 } } }), ps, rv), "10.9.1");
    // own entry can be lowered
    ok(checkAuth(peer.f.make({ id: "q8", type: "m.room.power_levels", sender: "@mod:b", stateKey: "", content: { ...peer.pl.content, users: { ...(peer.pl.content.users as JsonObject), "@mod:b": 10 } } }), ps, rv));
    // 10.10: cannot raise someone above own level
    no(checkAuth(mk("q9", { users: { ...(modPl.pl.content.users as JsonObject), "@bob:b": 51 } }), ms, rv), "10.10.1");
    ok(checkAuth(mk("q10", { users: { ...(modPl.pl.content.users as JsonObject), "@bob:b": 50 } }), ms, rv));
  });

  it("11: redactions (v1-v2 rule 11) and otherwise allow", () => {
    const { f, base } = room(v);
    const rv = f.rv;
    const bobJoin = f.member("bj", "@bob:b", "join");
    const s = f.state(...base, bobJoin);
    const red = (id: string, sender: string, redacts: string) =>
      f.make({ id, type: "m.room.redaction", sender, extra: rv.redactsInContent ? {} : { redacts }, content: rv.redactsInContent ? { redacts } : {} });
    ok(checkAuth(red("r1", "@alice:a", "$x:zzz"), s, rv));
    const bobOther = checkAuth(red("$r2:b", "@bob:b", "$x:zzz"), s, rv);
    if (rv.redactionAuthRule) {
      no(bobOther, "redaction.3");
      ok(checkAuth(red("$r3:b", "@bob:b", "$x:b"), s, rv));
    } else {
      ok(bobOther);
    }
  });
});

describe("m.room.aliases (v1-v5 rule 4)", () => {
  it.each(versions((n) => n <= 6))("version %s", (v) => {
    const { f, base } = room(v);
    const s = f.state(...base);
    const ev = (id: string, sender: string, stateKey: string) => f.make({ id, type: "m.room.aliases", sender, stateKey, content: { aliases: [] } });
    // outsider from another server, state key = own domain
    const r = checkAuth(ev("a1", "@zed:z", "z"), s, f.rv);
    if (f.rv.aliasesAuthRule) {
      ok(r);
      no(checkAuth(ev("a2", "@zed:z", "a"), s, f.rv), "aliases.2");
    } else {
      no(r, "6");
    }
  });
});

describe("power level values", () => {
  it("parses strings before v10 and floats before v6", () => {
    const f5 = new RoomFixture("5");
    const f9 = new RoomFixture("9");
    const f10 = new RoomFixture("10");
    expect(parsePowerLevel(" +0100 ", f9.rv)).toBe(100);
    expect(parsePowerLevel("-5", f9.rv)).toBe(-5);
    expect(parsePowerLevel("5.5", f9.rv)).toBeUndefined();
    expect(parsePowerLevel("100", f10.rv)).toBeUndefined();
    expect(parsePowerLevel(50.57, f5.rv)).toBe(50);
    expect(parsePowerLevel(5.114698e4, f5.rv)).toBe(51146);
    expect(parsePowerLevel(50.57, f9.rv)).toBeUndefined();
    expect(parsePowerLevel(Infinity, f5.rv)).toBeUndefined();
  });
  it("defaults without a power levels event", () => {
    for (const v of ALL) {
      const f = new RoomFixture(v);
      const levels = PowerLevels.fromState(f.state(f.create()), f.rv);
      expect(levels.userLevel("@alice:a")).toBe(f.rv.creatorsHaveInfinitePower ? Infinity : 100);
      expect(levels.userLevel("@bob:b")).toBe(0);
      expect(levels.eventLevel("m.room.topic", true)).toBe(50);
      expect(levels.eventLevel("m.room.message", false)).toBe(0);
      expect([levels.inviteLevel, levels.kickLevel, levels.banLevel, levels.redactLevel]).toEqual([0, 50, 50, 50]);
    }
  });
});

describe("v12 creators", () => {
  it("additional creators have infinite power and cannot be kicked", () => {
    const f = new RoomFixture("12");
    const create = f.create("@alice:a", { additional_creators: ["@bob:b"] });
    const aj = f.member("aj", "@alice:a", "join");
    const bj = f.member("bj", "@bob:b", "join");
    const pl = f.make({ id: "pl", type: "m.room.power_levels", sender: "@alice:a", stateKey: "", content: { users: { "@mod:b": 100 } } });
    const mj = f.member("mj", "@mod:b", "join");
    const s = f.state(create, aj, bj, pl, mj);
    no(checkAuth(f.member("k", "@bob:b", "leave", { sender: "@mod:b" }), s, f.rv), "5.5.5");
    ok(checkAuth(f.member("k2", "@mod:b", "ban", { sender: "@bob:b" }), s, f.rv));
    no(checkAuth(f.member("k3", "@alice:a", "ban", { sender: "@bob:b" }), s, f.rv), "5.6.3");
    no(checkAuth(f.make({ id: "p2", type: "m.room.power_levels", sender: "@alice:a", stateKey: "", content: { users: { "@bob:b": 1 } } }), s, f.rv), "10.4");
  });
});
