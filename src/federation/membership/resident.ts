/**
 * This server as the resident of a room other servers' users join, leave or
 * knock on (server-server "Joining Rooms", "Restricted rooms", "Knocking
 * upon a room", "Leaving Rooms (Rejecting Invites)"): templates for
 * make_join / make_leave / make_knock, and the signed events of send_join /
 * send_leave / send_knock checked and persisted through the room input.
 */
import {
  getOwn,
  isJsonObject,
  isValidRoomId,
  isValidUserId,
  PowerLevels,
  redact,
  roomCreators,
  serverNameOf,
  stateMapKey,
  type JsonObject,
  type Pdu,
  type RoomVersion,
} from "../../core/index.js";
import { forbidden, MatrixError, notFound } from "../../http/errors.js";
import type { LoadedEvent, StateIds } from "../../rooms/event-store.js";
import { keyRequestsOf } from "../transactions.js";
import type { MembershipFlowDeps } from "./deps.js";
import { addServerSignature, eventIdOf, STRIPPED_TYPES } from "./handshake.js";

/** Whether a state key is an m.room.member one. */
const MEMBER_PREFIX = stateMapKey("m.room.member", "");
const isMemberKey = (k: string) => k.startsWith(MEMBER_PREFIX);

export type HandshakeMembership = "join" | "leave" | "knock";

const invalidParam = (why: string) => new MatrixError(400, "M_INVALID_PARAM", why);
const incompatible = (rv: RoomVersion) =>
  new MatrixError(400, "M_INCOMPATIBLE_ROOM_VERSION", `Your server does not support room version ${rv.id}`, { room_version: rv.id });

/** send_join's answer (v2). */
export interface SendJoinAnswer {
  state: JsonObject[];
  auth_chain: JsonObject[];
  event?: JsonObject;
  members_omitted?: boolean;
  servers_in_room?: string[];
}

/** How many members' events an omit_members answer keeps for an unnamed room (its heroes). */
const HEROES = 5;

export class ResidentMembership {
  constructor(private readonly d: MembershipFlowDeps) {}

  /** GET make_join / make_leave / make_knock: an unsigned template for the user's membership event. */
  async makeTemplate(origin: string, roomId: string, userId: string, membership: HandshakeMembership, ver?: readonly string[]): Promise<JsonObject> {
    this.checkIds(origin, roomId, userId);
    const rv = await this.d.store.roomVersion(roomId);
    if (!rv) throw notFound("Unknown room");
    await this.checkAcl(roomId, origin);
    // make_join: "ver ... Defaults to [1]"; make_knock requires it. make_leave has none.
    if (membership !== "leave" && !(ver ?? ["1"]).includes(rv.id)) throw incompatible(rv);
    if (membership === "knock" && !rv.knocking) throw incompatible(rv);
    if (await this.d.isRoomBlocked?.(roomId)) throw forbidden("This room is blocked on this server");
    const draft = { type: "m.room.member", stateKey: userId, sender: userId, content: { membership } as JsonObject };
    let t = await this.d.templates.build(roomId, draft);
    if (!t) throw notFound("This server is not in the room");
    if (membership === "join") {
      const via = await this.restrictedVia(t.rv, roomId, userId, t.state);
      if (via !== undefined) {
        t = await this.d.templates.build(roomId, { ...draft, content: { membership, join_authorised_via_users_server: via } });
        if (!t) throw notFound("This server is not in the room");
      }
    }
    if (!t.auth.allowed) throw forbidden(`You may not ${membership} this room: ${t.auth.reason}`);
    return { room_version: t.rv.id, event: t.pdu };
  }

  /**
   * PUT send_join / send_leave / send_knock: the event the origin signed,
   * checked as the endpoints ask ("The event type is not m.room.member. The
   * membership field ... The event sender is not a user ID on the origin
   * server. The state_key is not equal to the sender."), then persisted as a
   * live event; anything but acceptance is an error and nothing is served.
   */
  async sendMembership(
    origin: string,
    roomId: string,
    eventId: string,
    body: unknown,
    membership: HandshakeMembership,
  ): Promise<{ event: LoadedEvent; signedByUs: boolean }> {
    if (!isValidRoomId(roomId)) throw invalidParam("Invalid room id");
    const rv = await this.d.store.roomVersion(roomId);
    if (!rv) throw notFound("Unknown room");
    await this.checkAcl(roomId, origin);
    if (!isJsonObject(body)) throw new MatrixError(400, "M_BAD_JSON", "The body must be an event");
    let pdu = body as Pdu;
    const sender = getOwn(pdu, "sender");
    const content = getOwn(pdu, "content");
    if (getOwn(pdu, "type") !== "m.room.member") throw invalidParam("The event type is not m.room.member");
    if (!isJsonObject(content) || getOwn(content, "membership") !== membership) throw invalidParam(`The membership is not ${membership}`);
    if (typeof sender !== "string" || !isValidUserId(sender) || serverNameOf(sender) !== origin)
      throw invalidParam("The sender is not a user of the origin server");
    if (getOwn(pdu, "state_key") !== sender) throw invalidParam("The state_key is not the sender");
    if (getOwn(pdu, "room_id") !== roomId) throw invalidParam("The event is for another room");
    if (eventIdOf(pdu, rv) !== eventId) throw invalidParam("The event id does not match the event");

    // "Restricted rooms": a join authorised by one of our users carries our signature too.
    let signedByUs = false;
    const via = getOwn(content, "join_authorised_via_users_server");
    if (membership === "join" && rv.restrictedJoins && typeof via === "string" && serverNameOf(via) === this.d.serverName) {
      const cosigned = addServerSignature(pdu, this.d.serverName, this.d.signingKey, rv);
      if (!cosigned) throw invalidParam("The event is not valid canonical JSON");
      pdu = cosigned;
      signedByUs = true;
    }
    await this.d.keys.prefetch(keyRequestsOf(pdu, rv));
    const result = await this.d.writer.persist(roomId, pdu, { kind: "new", keys: this.d.keys.lookup, origin });
    this.d.log.info({ origin, room_id: roomId, event_id: eventId, status: result.status }, `received send_${membership}`);
    switch (result.status) {
      case "accepted":
      case "duplicate":
        break;
      case "rejected":
      case "soft_failed":
        throw forbidden(`The ${membership} is not allowed: ${result.reason}`);
      case "invalid":
        throw invalidParam(`Invalid event: ${result.reason}`);
      case "missing_auth_events":
        throw invalidParam("The event cites auth events this server does not have");
      default:
        throw invalidParam(`The event was not accepted (${result.status})`);
    }
    const stored = await this.d.store.getEvent(eventId);
    if (!stored || stored.row.outlier || stored.row.rejectedReason !== null || stored.row.softFailed) {
      throw forbidden(`The ${membership} is not part of the room`);
    }
    return { event: stored, signedByUs };
  }

  /** PUT /v2/send_join: the join, then the state before it and the auth chain ("omit_members": partial state). */
  async sendJoin(origin: string, roomId: string, eventId: string, body: unknown, omitMembers: boolean): Promise<SendJoinAnswer> {
    const { event, signedByUs } = await this.sendMembership(origin, roomId, eventId, body, "join");
    const state = await this.d.store.stateGroup(event.row.stateBefore);
    let stateIds = [...state.values()];
    let membersOmitted = false;
    if (omitMembers) {
      const named = state.has(stateMapKey("m.room.name", "")) || state.has(stateMapKey("m.room.canonical_alias", ""));
      const heroes = named
        ? new Set<string>()
        : new Set(
            [...state.keys()]
              .filter((k) => isMemberKey(k))
              .slice(0, HEROES)
              .map((k) => state.get(k)!),
          );
      stateIds = [...state.entries()].filter(([k, id]) => !isMemberKey(k) || heroes.has(id)).map(([, id]) => id);
      membersOmitted = true;
    }
    const chainIds = await this.authChainOf([...stateIds, eventId]);
    const inState = new Set(stateIds);
    const answer: SendJoinAnswer = {
      state: await this.pdus(stateIds),
      // "any events that are returned in state may be omitted from auth_chain" with omit_members.
      auth_chain: await this.pdus([...chainIds].filter((id) => !(omitMembers && inState.has(id)))),
    };
    if (signedByUs) answer.event = event.pdu as unknown as JsonObject;
    if (membersOmitted) {
      answer.members_omitted = true;
      // "A list of the servers active in the room (ie, those with joined members) before the join."
      const servers = new Set<string>([this.d.serverName]);
      const members = await this.d.store.stateEvents(
        state,
        [...state.keys()].filter((k) => isMemberKey(k)),
      );
      for (const m of members.values()) {
        if (getOwn(m.event.content, "membership") === "join" && m.row.stateKey) servers.add(serverNameOf(m.row.stateKey) ?? this.d.serverName);
      }
      answer.servers_in_room = [...servers].sort();
    }
    return answer;
  }

  /** PUT /v1/send_knock: the knock, then the stripped state for the knocking user. */
  async sendKnock(origin: string, roomId: string, eventId: string, body: unknown): Promise<{ knock_room_state: JsonObject[] }> {
    const rv = await this.d.store.roomVersion(roomId);
    if (rv && !rv.knocking) throw incompatible(rv);
    const { event } = await this.sendMembership(origin, roomId, eventId, body, "knock");
    return { knock_room_state: await this.strippedStatePdus(await this.d.store.stateGroup(event.row.stateBefore)) };
  }

  /**
   * The room's stripped-state events as PDUs (invite_room_state,
   * knock_room_state: "MUST contain the m.room.create event ... formatted
   * according to the room version").
   */
  async strippedStatePdus(state: StateIds): Promise<JsonObject[]> {
    const ids = STRIPPED_TYPES.map((t) => state.get(stateMapKey(t, ""))).filter((id): id is string => id !== undefined);
    return this.pdus(ids);
  }

  /** The auth chain of the given state events (all events reachable through auth_events), from the index. */
  private authChainOf(ids: readonly string[]): Promise<Set<string>> {
    return this.d.events.authChain(ids);
  }

  /** Stored events as PDUs in the room version's format (redacted where a redaction was applied). */
  async pdus(ids: readonly string[]): Promise<JsonObject[]> {
    const loaded = await this.d.store.getEvents(ids);
    const out: JsonObject[] = [];
    for (const id of ids) {
      const e = loaded.get(id);
      if (!e) continue;
      const pdu = (e.row.redactedBy ? redact(e.pdu, e.rv) : e.pdu) as JsonObject;
      const { unsigned: _u, ...rest } = pdu;
      out.push(rest);
    }
    return out;
  }

  /**
   * "Restricted rooms": when the room's join rule is restricted (or
   * knock_restricted) and the user is neither joined nor invited, the user
   * must be joined to one of the allowed rooms as this server sees it; a
   * local user who can invite then vouches for the join. Undefined when no
   * authorisation is needed.
   */
  private async restrictedVia(rv: RoomVersion, roomId: string, userId: string, state: StateIds): Promise<string | undefined> {
    const events = await this.d.store.stateEvents(state, [
      stateMapKey("m.room.join_rules", ""),
      stateMapKey("m.room.power_levels", ""),
      stateMapKey("m.room.create", ""),
      stateMapKey("m.room.member", userId),
    ]);
    const jr = events.get(stateMapKey("m.room.join_rules", ""))?.event.content;
    const rule = jr ? getOwn(jr, "join_rule") : undefined;
    const restricted = (rv.restrictedJoins && rule === "restricted") || (rv.knockRestricted && rule === "knock_restricted");
    if (!restricted) return undefined;
    const own = events.get(stateMapKey("m.room.member", userId))?.event.content;
    const m = own ? getOwn(own, "membership") : undefined;
    if (m === "join" || m === "invite") return undefined;
    const allow = jr ? getOwn(jr, "allow") : undefined;
    let known = false;
    let allowed = false;
    for (const entry of Array.isArray(allow) ? allow : []) {
      if (!isJsonObject(entry) || entry.type !== "m.room_membership" || typeof entry.room_id !== "string") continue;
      if (await this.d.store.roomVersion(entry.room_id)) known = true;
      if ((await this.d.state.membership(entry.room_id, userId))?.membership === "join") {
        allowed = true;
        break;
      }
    }
    if (!allowed) {
      if (!known) throw new MatrixError(400, "M_UNABLE_TO_AUTHORISE_JOIN", "This server cannot check any of the room's allow conditions");
      throw forbidden("You are not a member of any room this room's join rules allow");
    }
    const create = events.get(stateMapKey("m.room.create", ""))?.event;
    const levels = PowerLevels.fromContent(events.get(stateMapKey("m.room.power_levels", ""))?.event.content, roomCreators(create, rv), rv);
    const joined = await this.d.state.membersOfRoom(roomId, ["join"]);
    const via = joined
      .map((j) => j.userId)
      .filter((u) => serverNameOf(u) === this.d.serverName && levels.userLevel(u) >= levels.inviteLevel)
      .sort((a, b) => levels.userLevel(b) - levels.userLevel(a) || (a < b ? -1 : 1))[0];
    if (!via) throw new MatrixError(400, "M_UNABLE_TO_GRANT_JOIN", "No user on this server can authorise the join; try another server");
    return via;
  }

  /** Server ACLs apply to the membership endpoints ("Server Access Control Lists (ACLs)"). */
  async checkAcl(roomId: string, origin: string): Promise<void> {
    if (this.d.serverAllowedInRoom && !(await this.d.serverAllowedInRoom(roomId, origin))) throw forbidden("Server is banned from this room by its ACL");
  }

  private checkIds(origin: string, roomId: string, userId: string): void {
    if (!isValidRoomId(roomId)) throw invalidParam("Invalid room id");
    if (!isValidUserId(userId)) throw invalidParam("Invalid user id");
    // "The user ID the join event will be for. This MUST be a user ID on the origin server."
    if (serverNameOf(userId) !== origin) throw forbidden("The user is not on the requesting server");
  }
}
