import { randomBytes } from "node:crypto";
import {
  computeEventId,
  computeReferenceHash,
  createSignedPdu,
  encodeBase64,
  getRoomVersion,
  roomIdFromCreateEvent,
  signingKeyFromSeed,
  verifyKeyOf,
  type EventKeyLookup,
  type JsonObject,
  type Pdu,
  type RoomVersion,
  type SigningKey,
} from "../../src/core/index.js";

/** A PDU with its id, as another server would send it. */
export interface Built {
  pdu: Pdu;
  id: string;
  depth: number;
}

/**
 * Another homeserver, for tests that inject PDUs straight into the room
 * input: it signs events with its own key and builds them on the prev and
 * auth events the test names.
 */
export class TestServer {
  readonly key: SigningKey;
  private clock = 1_700_000_000_000;

  /** `key`: sign as a real instance (its signing key), else a fresh key. */
  constructor(
    readonly name: string,
    key?: SigningKey,
  ) {
    this.key = key ?? signingKeyFromSeed(randomBytes(32), "t1");
  }

  user(local: string): string {
    return `@${local}:${this.name}`;
  }

  event(
    rv: RoomVersion,
    roomId: string | undefined,
    f: { type: string; sender: string; stateKey?: string; content: JsonObject; prev: Built[]; auth: Built[]; redacts?: string; ts?: number },
  ): Built {
    const all = new Map<string, Built>([...f.prev, ...f.auth].map((b) => [b.id, b]));
    const depth = Math.max(0, ...f.prev.map((p) => p.depth)) + 1;
    const { pdu, eventId } = createSignedPdu(
      {
        roomId,
        sender: f.sender,
        type: f.type,
        stateKey: f.stateKey,
        content: f.content,
        prevEvents: f.prev.map((p) => p.id),
        authEvents: f.auth.map((a) => a.id),
        depth,
        originServerTs: f.ts ?? this.clock++,
        redacts: f.redacts,
      },
      rv,
      this.name,
      this.key,
      {
        eventIdLocalpart: randomBytes(9).toString("hex"),
        referenceHashOf: (id) => {
          const b = all.get(id);
          return b ? encodeBase64(computeReferenceHash(b.pdu, rv)) : undefined;
        },
      },
    );
    return { pdu, id: eventId, depth };
  }
}

/** Key lookup for receipt check 2 over several test servers. */
export function keysOf(...servers: TestServer[]): EventKeyLookup {
  return (serverName, keyId) => {
    const s = servers.find((x) => x.name === serverName);
    return s && keyId === s.key.keyId ? verifyKeyOf(s.key) : undefined;
  };
}

/**
 * The start of a public room created by `a` on its server, joined by `b`:
 * create, creator's join, power levels (a: 100, b: 50), join rules, b's join.
 */
export function publicRoom(version: string, a: TestServer, b: TestServer, extraLevels: JsonObject = {}) {
  const rv = getRoomVersion(version)!;
  const ua = a.user("alice");
  const ub = b.user("bob");
  const createContent: JsonObject = { room_version: version };
  if (!rv.creatorIsSender) createContent.creator = ua;
  const v12 = rv.roomIdIsCreateEventHash;
  const provisionalRoomId = v12 ? undefined : `!${randomBytes(6).toString("hex")}:${a.name}`;
  const create = a.event(rv, provisionalRoomId, { type: "m.room.create", sender: ua, stateKey: "", content: createContent, prev: [], auth: [] });
  const roomId = v12 ? roomIdFromCreateEvent(create.pdu, rv) : provisionalRoomId!;
  const c = v12 ? [] : [create];
  const joinA = a.event(rv, roomId, { type: "m.room.member", sender: ua, stateKey: ua, content: { membership: "join" }, prev: [create], auth: c });
  const pl = a.event(rv, roomId, {
    type: "m.room.power_levels",
    sender: ua,
    stateKey: "",
    // v12: creators have infinite power and must not be listed.
    content: { users: rv.creatorsHaveInfinitePower ? { [ub]: 50 } : { [ua]: 100, [ub]: 50 }, state_default: 50, events_default: 0, ban: 50, kick: 50, redact: 50, invite: 0, ...extraLevels },
    prev: [joinA],
    auth: [...c, joinA],
  });
  const jr = a.event(rv, roomId, { type: "m.room.join_rules", sender: ua, stateKey: "", content: { join_rule: "public" }, prev: [pl], auth: [...c, pl, joinA] });
  const joinB = b.event(rv, roomId, { type: "m.room.member", sender: ub, stateKey: ub, content: { membership: "join" }, prev: [jr], auth: [...c, pl, jr] });
  return { rv, roomId, ua, ub, create, joinA, pl, jr, joinB, c, events: [create, joinA, pl, jr, joinB] };
}

export function idOf(b: Built, rv: RoomVersion): string {
  return computeEventId(b.pdu, rv);
}
