/**
 * Our users joining, knocking on and leaving rooms this server is not in,
 * through a resident server (server-server "Joining Rooms", "Knocking upon a
 * room", "Leaving Rooms (Rejecting Invites)"): make_* for a template, our
 * event signed, send_* to the same server; the answer's state and auth chain
 * are checked (formats, signatures, hashes and auth rules, in the room
 * input) and stored before the join.
 */
import {
  buildPdu,
  computeReferenceHash,
  encodeBase64,
  getOwn,
  getRoomVersion,
  hashAndSign,
  isJsonObject,
  serverNameOf,
  type JsonObject,
  type Pdu,
  type RoomVersion,
} from "../../core/index.js";
import { MatrixError, notFound } from "../../http/errors.js";
import type { KeyRequest } from "../key-store.js";
import { keyRequestsOf } from "../transactions.js";
import type { MembershipFlowDeps } from "./deps.js";
import { checkTemplate, eventFromTemplate, eventIdOf, orderByAuth, pduList, toStrippedState } from "./handshake.js";
import { remoteFailure } from "./remote-errors.js";

/** The most events a send_join answer may carry in `state` and in `auth_chain` each. */
const MAX_JOIN_EVENTS = 200_000;
/** Candidate servers tried for one handshake. */
const MAX_CANDIDATES = 10;

const enc = encodeURIComponent;

export class RemoteMembership {
  constructor(private readonly d: MembershipFlowDeps) {}

  /**
   * Joins `userId` to `roomId` through the first candidate server that
   * helps; returns the room id. `content` is our part of the member event
   * (display name, avatar, reason).
   */
  async join(userId: string, roomId: string, servers: readonly string[], content: JsonObject): Promise<string> {
    await this.tryEach(await this.candidates(roomId, userId, servers), "joining the room", (server) => this.joinThrough(server, roomId, userId, content));
    return roomId;
  }

  /** Knocks through a resident server; the stripped state it answers with shows in the user's /sync. */
  async knock(userId: string, roomId: string, servers: readonly string[], content: JsonObject): Promise<string> {
    await this.tryEach(await this.candidates(roomId, userId, servers), "knocking on the room", async (server) => {
      const { rv, pdu, eventId } = await this.signedFromTemplate(
        server,
        `/_matrix/federation/v1/make_knock/${enc(roomId)}/${enc(userId)}`,
        roomId,
        userId,
        "knock",
        content,
      );
      const res = await this.d.client.put(server, `/_matrix/federation/v1/send_knock/${enc(roomId)}/${enc(eventId)}`, pdu as JsonObject, {
        maxBytes: 4 * 1024 * 1024,
      });
      await this.d.writer.persistOutOfBand(roomId, pdu, { roomVersion: rv, strippedState: toStrippedState(getOwn(res, "knock_room_state")) });
    });
    return roomId;
  }

  /**
   * Rejects an invite or retracts a knock in a room this server is not in:
   * make_leave / send_leave through the inviting server (or another
   * candidate). When none answers, the rejection still holds here: a leave
   * event citing the invite is stored out of band, so the invite is gone
   * for the user (the inviting server is not told).
   */
  async leave(userId: string, roomId: string, servers: readonly string[], content: JsonObject): Promise<void> {
    const own = await this.d.state.membership(roomId, userId);
    const membershipEvent = own ? await this.d.store.getEvent(own.eventId) : undefined;
    const candidates = await this.candidates(roomId, userId, servers);
    try {
      await this.tryEach(candidates, "leaving the room", async (server) => {
        const { rv, pdu, eventId } = await this.signedFromTemplate(
          server,
          `/_matrix/federation/v1/make_leave/${enc(roomId)}/${enc(userId)}`,
          roomId,
          userId,
          "leave",
          content,
        );
        await this.d.client.put(server, `/_matrix/federation/v2/send_leave/${enc(roomId)}/${enc(eventId)}`, pdu as JsonObject);
        await this.d.writer.persistOutOfBand(roomId, pdu, { roomVersion: rv });
      });
      return;
    } catch (err) {
      if (!membershipEvent) throw err;
      this.d.log.info({ room_id: roomId, err: (err as Error).message }, "no server took the leave; rejecting locally");
    }
    const rv = membershipEvent.rv;
    const prev = membershipEvent;
    const leave = hashAndSign(
      buildPdu(
        {
          roomId,
          sender: userId,
          type: "m.room.member",
          stateKey: userId,
          content: { ...content, membership: "leave" },
          prevEvents: [prev.row.eventId],
          authEvents: [prev.row.eventId],
          depth: prev.event.depth + 1,
          originServerTs: this.d.now(),
        },
        rv,
        {
          eventIdLocalpart: this.d.randomString(18),
          serverName: this.d.serverName,
          referenceHashOf: (id) => (id === prev.row.eventId ? encodeBase64(computeReferenceHash(prev.pdu, rv)) : undefined),
        },
      ),
      this.d.serverName,
      this.d.signingKey,
      rv,
    );
    await this.d.writer.persistOutOfBand(roomId, leave, { roomVersion: rv });
  }

  /**
   * The servers to ask, in order: those the client named (`via`,
   * `server_name`, the alias's servers), the server of whoever invited the
   * user, then the room id's server (rooms before version 12 name it).
   */
  private async candidates(roomId: string, userId: string, servers: readonly string[]): Promise<string[]> {
    const out: string[] = [...servers];
    const own = await this.d.state.membership(roomId, userId);
    if (own && (own.membership === "invite" || own.membership === "knock")) {
      const e = await this.d.store.getEvent(own.eventId);
      const s = e ? serverNameOf(e.row.sender) : undefined;
      if (s) out.push(s);
      // A knock (or an invite whose sender left): the servers of those who set the room's state.
      for (const x of (await this.d.strippedStateOf?.(own.eventId)) ?? []) {
        const server = typeof x.sender === "string" ? serverNameOf(x.sender) : undefined;
        if (server) out.push(server);
      }
    }
    const domain = serverNameOf(roomId);
    if (domain) out.push(domain);
    return [...new Set(out)].filter((s) => s !== this.d.serverName).slice(0, MAX_CANDIDATES);
  }

  private async tryEach(servers: readonly string[], what: string, fn: (server: string) => Promise<void>): Promise<void> {
    if (servers.length === 0) throw notFound(`No server to ask for ${what}: give one with via or server_name`);
    let last: MatrixError | undefined;
    for (const server of servers) {
      try {
        await fn(server);
        return;
      } catch (err) {
        last = remoteFailure(err, what);
        this.d.log.info({ server, err: last.message }, `${what} through a server failed`);
        // A refusal from a resident is the room's answer, unless it asks to try another server.
        if (last.status === 403 || last.errcode === "M_INCOMPATIBLE_ROOM_VERSION") throw last;
      }
    }
    throw last!;
  }

  /** make_join / make_leave / make_knock, checked ("MUST verify"), then our signed event. */
  private async signedFromTemplate(
    server: string,
    path: string,
    roomId: string,
    userId: string,
    membership: string,
    content: JsonObject,
  ): Promise<{ rv: RoomVersion; pdu: Pdu; eventId: string }> {
    const query = membership === "leave" ? undefined : { ver: this.d.supportedVersions };
    const res = await this.d.client.get(server, path, { query, maxBytes: 256 * 1024 });
    const checked = checkTemplate(res, { roomId, userId, membership, supported: this.d.supportedVersions });
    if (!checked.ok) throw new MatrixError(502, "M_UNKNOWN", `${server} sent an unusable template: ${checked.reason}`);
    const { rv, event } = checked.value;
    const draft = eventFromTemplate(event, rv, { serverName: this.d.serverName, now: this.d.now(), eventIdLocalpart: this.d.randomString(18), content });
    const pdu = hashAndSign(draft, this.d.serverName, this.d.signingKey, rv);
    const eventId = eventIdOf(pdu, rv);
    if (!eventId) throw new MatrixError(502, "M_UNKNOWN", `${server} sent a template that is not a valid event`);
    return { rv, pdu, eventId };
  }

  /** One join handshake through `server`; the room's state and the join are stored when it returns. */
  private async joinThrough(server: string, roomId: string, userId: string, content: JsonObject): Promise<void> {
    const made = await this.signedFromTemplate(server, `/_matrix/federation/v1/make_join/${enc(roomId)}/${enc(userId)}`, roomId, userId, "join", content);
    const { rv, eventId } = made;
    let join = made.pdu;
    const res = await this.d.client.put(server, `/_matrix/federation/v2/send_join/${enc(roomId)}/${enc(eventId)}`, join as JsonObject, {
      maxBytes: 512 * 1024 * 1024,
    });
    // Restricted rooms: the resident's signature is on the event it returns, which must be ours.
    const signed = getOwn(res, "event");
    if (isJsonObject(signed)) {
      if (eventIdOf(signed, rv) !== eventId) throw new MatrixError(502, "M_UNKNOWN", `${server} returned another join event`);
      join = signed as Pdu;
    }
    const state = pduList(getOwn(res, "state"), MAX_JOIN_EVENTS);
    const chain = pduList(getOwn(res, "auth_chain"), MAX_JOIN_EVENTS);
    if (!state.ok || !chain.ok) throw new MatrixError(502, "M_UNKNOWN", `${server} sent a malformed send_join answer`);
    const byId = new Map<string, JsonObject>();
    const stateIds = new Set<string>();
    for (const list of [chain.value, state.value]) {
      for (const pdu of list) {
        const id = eventIdOf(pdu, rv);
        if (id === undefined || (getOwn(pdu, "room_id") !== roomId && !(rv.roomIdIsCreateEventHash && getOwn(pdu, "type") === "m.room.create"))) continue;
        byId.set(id, pdu);
        if (list === state.value && typeof getOwn(pdu, "state_key") === "string") stateIds.add(id);
      }
    }
    await this.persistState(server, roomId, rv, byId, stateIds, join);
  }

  /**
   * Auth chain and state as outliers, each after the auth events it cites
   * (receipt checks 1-4 in the room input), then the join with the state
   * before it. Events that fail their checks are left out of that state.
   */
  private async persistState(server: string, roomId: string, rv: RoomVersion, byId: Map<string, JsonObject>, stateIds: Set<string>, join: Pdu): Promise<void> {
    const requests: KeyRequest[] = [];
    const seen = new Set<string>();
    for (const pdu of [...byId.values(), join as JsonObject]) {
      for (const r of keyRequestsOf(pdu as Pdu, rv)) {
        const k = `${r.serverName}\u0000${r.keyId}`;
        if (seen.has(k)) continue;
        seen.add(k);
        requests.push(r);
      }
    }
    await this.d.keys.prefetch(requests);
    const opts = { keys: this.d.keys.lookup, roomVersion: rv.id, origin: server };
    const usable = new Set<string>();
    const order = orderByAuth(byId);
    const results = await this.d.writer.persistOutliers(
      roomId,
      order.map((id) => byId.get(id) as Pdu),
      opts,
    );
    results.forEach((r, i) => {
      const id = order[i]!;
      if (r.status === "outlier" || r.status === "duplicate") usable.add(id);
      else this.d.log.info({ server, room_id: roomId, event_id: id, status: r.status, reason: "reason" in r ? r.reason : undefined }, "send_join event not stored");
    });
    // Events stored before (an invite, an earlier attempt) count unless they were rejected.
    const earlier = results.flatMap((r, i) => (r.status === "duplicate" ? [order[i]!] : []));
    for (const e of (await this.d.store.getEvents(earlier)).values()) if (e.row.rejectedReason !== null) usable.delete(e.row.eventId);
    const stateBefore = [...stateIds].filter((id) => usable.has(id));
    const r = await this.d.writer.persist(roomId, join, { kind: "new", keys: this.d.keys.lookup, stateBefore, roomVersion: rv.id, origin: server });
    if (r.status !== "accepted" && r.status !== "duplicate") {
      throw new MatrixError(502, "M_UNKNOWN", `The join could not be placed on the room's state from ${server}: ${"reason" in r ? r.reason : r.status}`);
    }
  }
}

/** The room versions this server can join, for make_join's `ver`. */
export function supportedRoomVersions(known: readonly string[]): string[] {
  return known.filter((v) => getRoomVersion(v) !== undefined);
}
