/**
 * Small in-memory room builder for auth and state-res tests: events get
 * readable fake ids ("$name") instead of hashes, since these tests exercise
 * rules, not hashing. v12 rooms still use a create-event-shaped room id.
 */
import { toRoomEvent, type RoomEvent } from "../../src/core/events/pdu.js";
import { EventStateMap } from "../../src/core/events/state-map.js";
import { requireRoomVersion, type RoomVersion } from "../../src/core/room-versions.js";
import type { JsonObject } from "../../src/core/json.js";

export interface EventSpec {
  readonly id: string;
  readonly type: string;
  readonly sender: string;
  readonly stateKey?: string;
  readonly content?: JsonObject;
  readonly auth?: readonly string[];
  readonly prev?: readonly string[];
  readonly ts?: number;
  readonly depth?: number;
  readonly extra?: JsonObject;
}

// 43 URL-safe characters so v12 ids pass the room id grammar.
const V12_CREATE_ID = "$CREATEaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

export class RoomFixture {
  readonly rv: RoomVersion;
  readonly roomId: string;
  readonly events = new Map<string, RoomEvent>();
  readonly createId: string;
  private tick = 0;

  constructor(versionId: string) {
    this.rv = requireRoomVersion(versionId);
    this.createId = this.rv.roomIdIsCreateEventHash ? V12_CREATE_ID : "$create:a";
    this.roomId = this.rv.roomIdIsCreateEventHash ? `!${V12_CREATE_ID.slice(1)}` : "!room:a";
  }

  /** Normalises short ids ("join") to the room's id style. */
  id(name: string): string {
    if (name === "create") return this.createId;
    return name.startsWith("$") ? name : `$${name}:a`;
  }

  make(spec: EventSpec): RoomEvent {
    const id = this.id(spec.id);
    const pdu: JsonObject = {
      type: spec.type,
      sender: spec.sender,
      content: spec.content ?? {},
      origin_server_ts: spec.ts ?? ++this.tick,
      depth: spec.depth ?? 1,
      auth_events: (spec.auth ?? []).map((a) => this.id(a)),
      prev_events: (spec.prev ?? []).map((a) => this.id(a)),
      hashes: { sha256: "x" },
      signatures: { [spec.sender.split(":")[1] ?? ""]: { "ed25519:1": "sig" } },
      ...(spec.extra ?? {}),
    };
    if (!(this.rv.roomIdIsCreateEventHash && spec.type === "m.room.create")) pdu.room_id = this.roomId;
    if (spec.stateKey !== undefined) pdu.state_key = spec.stateKey;
    if (this.rv.eventIdFormat === "v1") pdu.event_id = id;
    const ev = toRoomEvent(pdu, id, this.rv);
    this.events.set(id, ev);
    return ev;
  }

  create(creator = "@alice:a", content: JsonObject = {}): RoomEvent {
    const c: JsonObject = { room_version: this.rv.id, ...content };
    if (!this.rv.creatorIsSender) c.creator = creator;
    return this.make({ id: "create", type: "m.room.create", sender: creator, stateKey: "", content: c });
  }

  member(id: string, user: string, membership: string, opts: Partial<EventSpec> = {}): RoomEvent {
    return this.make({
      ...opts,
      id,
      type: "m.room.member",
      sender: opts.sender ?? user,
      stateKey: user,
      content: { membership, ...(opts.content ?? {}) },
    });
  }

  state(...events: RoomEvent[]): EventStateMap {
    return new EventStateMap(events);
  }
}
