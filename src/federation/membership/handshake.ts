/**
 * The pure parts of the membership handshakes (server-server "Joining
 * Rooms", "Knocking upon a room", "Leaving Rooms (Rejecting Invites)",
 * "Inviting to a room"): checking a template from another server, turning it
 * into our event, co-signing another server's event, ordering received
 * events so each one's auth events come first, and stripped state.
 */
import {
  computeEventId,
  getOwn,
  getRoomVersion,
  isJsonObject,
  redact,
  signJson,
  type JsonObject,
  type Pdu,
  type RoomVersion,
  type SigningKey,
} from "../../core/index.js";

export type Checked<T> = { ok: true; value: T } | { ok: false; reason: string };

/** State types a client is given for a room it is invited to or knocked on (client-server "Stripped state"). */
export const STRIPPED_TYPES: readonly string[] = [
  "m.room.create",
  "m.room.name",
  "m.room.avatar",
  "m.room.topic",
  "m.room.join_rules",
  "m.room.canonical_alias",
  "m.room.encryption",
];

/**
 * A make_join / make_leave / make_knock answer: "the sending server MUST
 * verify that the room_id is equal to the roomId path parameter, both the
 * sender and state_key are equal to the userId path parameter, the type is
 * m.room.member, the membership is" the one asked for. A missing
 * room_version means version 1 (or 2, which builds events the same way).
 */
export function checkTemplate(
  res: JsonObject,
  want: { roomId: string; userId: string; membership: string; supported?: readonly string[] },
): Checked<{ rv: RoomVersion; event: JsonObject }> {
  const version = getOwn(res, "room_version") ?? "1";
  if (typeof version !== "string") return { ok: false, reason: "room_version is not a string" };
  const rv = getRoomVersion(version);
  if (!rv || (want.supported && !want.supported.includes(version))) return { ok: false, reason: `unsupported room version ${version}` };
  const event = getOwn(res, "event");
  if (!isJsonObject(event)) return { ok: false, reason: "no event template" };
  if (getOwn(event, "type") !== "m.room.member") return { ok: false, reason: "template is not m.room.member" };
  if (getOwn(event, "room_id") !== want.roomId) return { ok: false, reason: "template is for another room" };
  if (getOwn(event, "sender") !== want.userId || getOwn(event, "state_key") !== want.userId) return { ok: false, reason: "template is for another user" };
  const content = getOwn(event, "content");
  if (!isJsonObject(content) || getOwn(content, "membership") !== want.membership)
    return { ok: false, reason: `template membership is not ${want.membership}` };
  return { ok: true, value: { rv, event } };
}

/**
 * Our event from a checked template: "add or replace the origin,
 * origin_server_ts, and event_id", drop any hashes and signatures, and merge
 * our content (display name, reason) under the template's membership and
 * join_authorised_via_users_server. Hash and sign the result.
 */
export function eventFromTemplate(
  template: JsonObject,
  rv: RoomVersion,
  f: { serverName: string; now: number; eventIdLocalpart: string; content?: JsonObject },
): Pdu {
  const { hashes: _h, signatures: _s, unsigned: _u, event_id: _e, ...rest } = template;
  const tc = getOwn(template, "content") as JsonObject;
  const content: JsonObject = { ...(f.content ?? {}), membership: tc.membership! };
  const via = getOwn(tc, "join_authorised_via_users_server");
  if (via !== undefined) content.join_authorised_via_users_server = via;
  const pdu: Pdu = { ...(rest as Pdu), content, origin: f.serverName, origin_server_ts: f.now };
  if (rv.eventIdFormat === "v1") pdu.event_id = `$${f.eventIdLocalpart}:${f.serverName}`;
  return pdu;
}

/**
 * Adds our signature to an event built and signed elsewhere (an invite to
 * one of our users, a restricted join we authorise); the hashes and the
 * other signatures stay. Undefined when the event cannot be encoded as the
 * room version's canonical JSON (e.g. floats), so it cannot be valid.
 */
export function addServerSignature(pdu: Pdu, serverName: string, key: SigningKey, rv: RoomVersion): Pdu | undefined {
  try {
    const signed = signJson(redact(pdu, rv), serverName, key, { strict: rv.strictCanonicalJson });
    return { ...pdu, signatures: signed.signatures as JsonObject };
  } catch {
    return undefined;
  }
}

/** The event id of a PDU in the room version's format, or undefined when it has none. */
export function eventIdOf(pdu: JsonObject, rv: RoomVersion): string | undefined {
  try {
    return computeEventId(pdu as Pdu, rv);
  } catch {
    return undefined;
  }
}

function authIds(pdu: JsonObject): string[] {
  const list = getOwn(pdu, "auth_events");
  if (!Array.isArray(list)) return [];
  const out: string[] = [];
  for (const a of list) {
    if (typeof a === "string") out.push(a);
    else if (Array.isArray(a) && typeof a[0] === "string") out.push(a[0]);
  }
  return out;
}

/**
 * Events (by id) ordered so that each comes after the auth events it cites
 * among them: the order in which a room input that checks every event
 * against its auth events can store them. The m.room.create event comes
 * first: from room version 12 no event cites it, yet every event needs it.
 * Cycles (malformed input) are cut where found; every event appears once.
 */
export function orderByAuth(events: ReadonlyMap<string, JsonObject>): string[] {
  const out: string[] = [];
  const done = new Set<string>();
  const visiting = new Set<string>();
  const isCreate = (id: string) => getOwn(events.get(id)!, "type") === "m.room.create";
  const roots = [...events.keys()].sort((x, y) => Number(isCreate(y)) - Number(isCreate(x)) || (x < y ? -1 : x > y ? 1 : 0));
  for (const root of roots) {
    if (done.has(root)) continue;
    // Iterative depth-first walk: auth chains of big rooms are deep.
    const stack: Array<{ id: string; deps: string[]; i: number }> = [{ id: root, deps: authIds(events.get(root)!), i: 0 }];
    visiting.add(root);
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      if (top.i < top.deps.length) {
        const dep = top.deps[top.i++]!;
        if (done.has(dep) || visiting.has(dep) || !events.has(dep)) continue;
        visiting.add(dep);
        stack.push({ id: dep, deps: authIds(events.get(dep)!), i: 0 });
      } else {
        stack.pop();
        visiting.delete(top.id);
        done.add(top.id);
        out.push(top.id);
      }
    }
  }
  return out;
}

/**
 * Client-server "Stripped state" from PDUs (invite_room_state,
 * knock_room_state): type, state_key, sender and content of each well-formed
 * state event; others are dropped. At most `limit` entries.
 */
export function toStrippedState(list: unknown, limit = 50): JsonObject[] {
  if (!Array.isArray(list)) return [];
  const out: JsonObject[] = [];
  for (const e of list) {
    if (out.length >= limit) break;
    if (!isJsonObject(e)) continue;
    const { type, state_key, sender, content } = e;
    if (typeof type !== "string" || typeof state_key !== "string" || typeof sender !== "string" || !isJsonObject(content)) continue;
    out.push({ type, state_key, sender, content });
  }
  return out;
}

/** The PDUs of a send_join answer's `state` or `auth_chain`, objects only, at most `limit`. */
export function pduList(value: unknown, limit: number): Checked<JsonObject[]> {
  if (!Array.isArray(value)) return { ok: false, reason: "not an array" };
  if (value.length > limit) return { ok: false, reason: `more than ${limit} events` };
  return { ok: true, value: value.filter(isJsonObject) };
}
