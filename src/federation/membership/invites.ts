/**
 * Server-server "Inviting to a room", both ways: PUT /v2/invite from a
 * server inviting one of our users (checked, co-signed, stored so the user's
 * /sync shows it with the stripped state), and our users inviting users of
 * other servers (the invite signed by their server, then persisted).
 */
import { getOwn, getRoomVersion, isJsonObject, isValidUserId, serverNameOf, stateMapKey, hashAndSign, type JsonObject, type Pdu } from "../../core/index.js";
import { forbidden, MatrixError, notFound } from "../../http/errors.js";
import { keyRequestsOf } from "../transactions.js";
import type { MembershipFlowDeps } from "./deps.js";
import { addServerSignature, eventIdOf, toStrippedState } from "./handshake.js";
import { remoteFailure } from "./remote-errors.js";
import type { ResidentMembership } from "./resident.js";

const invalidParam = (why: string) => new MatrixError(400, "M_INVALID_PARAM", why);

export class FederatedInvites {
  constructor(
    private readonly d: MembershipFlowDeps,
    private readonly resident: ResidentMembership,
  ) {}

  /**
   * PUT /v2/invite/{roomId}/{eventId}: "Servers MUST apply certain
   * validation to ensure they don't accidentally sign non-invite events from
   * a malicious server" (type, membership, sender on the origin, state_key
   * on this server, signatures), and for room versions past 11 the
   * invite_room_state must hold the m.room.create event.
   */
  async receive(origin: string, roomId: string, eventId: string, body: unknown): Promise<{ event: JsonObject }> {
    if (!isJsonObject(body)) throw new MatrixError(400, "M_BAD_JSON", "The body must be an object");
    const version = getOwn(body, "room_version");
    if (typeof version !== "string") throw new MatrixError(400, "M_MISSING_PARAM", "room_version is required");
    const rv = getRoomVersion(version);
    if (!rv || !this.d.supportedVersions.includes(version)) {
      throw new MatrixError(400, "M_INCOMPATIBLE_ROOM_VERSION", `This server does not support room version ${version}`, { room_version: version });
    }
    const event = getOwn(body, "event");
    if (!isJsonObject(event)) throw new MatrixError(400, "M_BAD_JSON", "event is required");
    const pdu = event as Pdu;
    const content = getOwn(pdu, "content");
    const sender = getOwn(pdu, "sender");
    const target = getOwn(pdu, "state_key");
    if (getOwn(pdu, "type") !== "m.room.member") throw invalidParam("The event type is not m.room.member");
    if (!isJsonObject(content) || getOwn(content, "membership") !== "invite") throw invalidParam("The membership is not invite");
    if (typeof sender !== "string" || !isValidUserId(sender) || serverNameOf(sender) !== origin)
      throw invalidParam("The sender is not a user of the origin server");
    if (typeof target !== "string" || !isValidUserId(target) || serverNameOf(target) !== this.d.serverName)
      throw invalidParam("The state_key is not a user of this server");
    if (getOwn(pdu, "room_id") !== roomId) throw invalidParam("The event is for another room");
    if (eventIdOf(pdu, rv) !== eventId) throw invalidParam("The event id does not match the event");
    if (this.d.userExists && !(await this.d.userExists(target))) throw notFound("No such user");
    if (await this.d.store.roomVersion(roomId)) await this.resident.checkAcl(roomId, origin);
    if (await this.d.isRoomBlocked?.(roomId)) throw forbidden("This room is blocked on this server");
    const roomState = getOwn(body, "invite_room_state");
    const stripped = toStrippedState(roomState);
    if (rv.roomIdIsCreateEventHash && !stripped.some((e) => e.type === "m.room.create")) {
      throw new MatrixError(400, "M_MISSING_PARAM", "invite_room_state must hold the m.room.create event");
    }

    const signed = addServerSignature(pdu, this.d.serverName, this.d.signingKey, rv);
    if (!signed) throw invalidParam("The event is not valid canonical JSON");
    await this.d.keys.prefetch(keyRequestsOf(signed, rv));
    // A room this server is in gets the invite as a room event (it also arrives in a transaction).
    if ((await this.d.store.roomVersion(roomId)) && (await this.localJoined(roomId))) {
      const r = await this.d.writer.persist(roomId, signed, { kind: "new", keys: this.d.keys.lookup, origin });
      if (r.status === "accepted" || r.status === "duplicate") return { event: signed as JsonObject };
      this.d.log.info({ origin, room_id: roomId, event_id: eventId, status: r.status }, "invite not placed in the room graph; kept out of band");
    }
    await this.d.writer.persistOutOfBand(roomId, signed, { roomVersion: rv, keys: this.d.keys.lookup, strippedState: stripped });
    return { event: signed as JsonObject };
  }

  /**
   * Our user invites a user of another server to a room this server is in:
   * the invite is built and signed here, signed by the invitee's server
   * (PUT /v2/invite with the room's stripped state), and the event it
   * returns, with both signatures, enters the room.
   */
  async invite(sender: string, roomId: string, target: string, content: JsonObject): Promise<string> {
    const server = serverNameOf(target);
    if (!server) throw invalidParam("Invalid user id");
    const t = await this.d.templates.build(roomId, { type: "m.room.member", stateKey: target, sender, content: { ...content, membership: "invite" } });
    if (!t) throw notFound("Unknown room");
    const current = await this.d.store.stateEvents(t.state, [stateMapKey("m.room.member", target)]);
    const m = current.get(stateMapKey("m.room.member", target))?.event.content.membership;
    if (m === "ban") throw forbidden(`${target} is banned from the room`);
    if (m === "join") throw forbidden(`${target} is already in the room`);
    if (!t.auth.allowed) throw forbidden(t.auth.reason);
    const pdu = hashAndSign(t.pdu, this.d.serverName, this.d.signingKey, t.rv);
    const eventId = eventIdOf(pdu, t.rv)!;
    const inviteState = await this.resident.strippedStatePdus(t.state);
    const own = t.state.get(stateMapKey("m.room.member", sender));
    if (own) inviteState.push(...(await this.resident.pdus([own])));
    let res: JsonObject;
    try {
      res = await this.d.client.put(server, `/_matrix/federation/v2/invite/${encodeURIComponent(roomId)}/${encodeURIComponent(eventId)}`, {
        room_version: t.rv.id,
        event: pdu as JsonObject,
        invite_room_state: inviteState,
      });
    } catch (err) {
      throw remoteFailure(err, `inviting ${target}`);
    }
    const returned = getOwn(res, "event");
    if (!isJsonObject(returned) || eventIdOf(returned, t.rv) !== eventId) {
      throw new MatrixError(502, "M_UNKNOWN", `${server} answered the invite with another event`);
    }
    await this.d.keys.prefetch(keyRequestsOf(returned as Pdu, t.rv));
    const r = await this.d.writer.persist(roomId, returned as Pdu, { kind: "new", keys: this.d.keys.lookup });
    if (r.status !== "accepted" && r.status !== "duplicate") {
      throw forbidden(`The invite was not accepted into the room: ${"reason" in r ? r.reason : r.status}`);
    }
    return eventId;
  }

  /**
   * PUT /exchange_third_party_invite/{roomId} (server-server "Third-party
   * invites"): the invitee's server, not in the room, asks us to turn a
   * bound third-party invite into an invite. The partial event names the
   * user who made the m.room.third_party_invite (one of ours) and the signed
   * block from the identity server; the invite is then issued "as per
   * Inviting to a room", and the auth rules check the signature against the
   * keys of the m.room.third_party_invite event.
   */
  async exchangeThirdParty(origin: string, roomId: string, body: unknown): Promise<void> {
    if (!isJsonObject(body)) throw new MatrixError(400, "M_BAD_JSON", "The body must be an event");
    const content = getOwn(body, "content");
    const sender = getOwn(body, "sender");
    const target = getOwn(body, "state_key");
    if (getOwn(body, "type") !== "m.room.member") throw invalidParam("The event type must be m.room.member");
    if (getOwn(body, "room_id") !== roomId) throw invalidParam("room_id does not match the path");
    if (!isJsonObject(content) || getOwn(content, "membership") !== "invite") throw invalidParam("The membership must be invite");
    if (typeof target !== "string" || !isValidUserId(target) || serverNameOf(target) !== origin)
      throw invalidParam("state_key must be a user of the requesting server");
    if (typeof sender !== "string" || serverNameOf(sender) !== this.d.serverName) throw invalidParam("sender must be a user of this server");
    const tpi = getOwn(content, "third_party_invite");
    const signed = isJsonObject(tpi) ? getOwn(tpi, "signed") : undefined;
    const token = isJsonObject(signed) ? getOwn(signed, "token") : undefined;
    if (!isJsonObject(tpi) || !isJsonObject(signed) || typeof token !== "string") throw invalidParam("third_party_invite.signed.token is required");
    if (getOwn(signed, "mxid") !== target) throw invalidParam("The signed mxid is not the invited user");
    if (!(await this.d.store.roomVersion(roomId))) throw notFound("Unknown room");
    await this.resident.checkAcl(roomId, origin);
    const rows = await this.d.state.currentStateEventIds([roomId], ["m.room.third_party_invite"]);
    const row = rows.find((r) => r.stateKey === token);
    const original = row ? await this.d.store.getEvent(row.eventId) : undefined;
    if (!original) throw forbidden("No third-party invite with this token in the room");
    if (original.row.sender !== sender) throw forbidden("The third-party invite was made by another user");
    const displayName = getOwn(original.event.content, "display_name");
    await this.invite(sender, roomId, target, {
      membership: "invite",
      third_party_invite: { display_name: typeof displayName === "string" ? displayName : "", signed },
    });
  }

  private async localJoined(roomId: string): Promise<boolean> {
    const joined = await this.d.state.membersOfRoom(roomId, ["join"]);
    return joined.some((m) => serverNameOf(m.userId) === this.d.serverName);
  }
}
