import { createHash } from "node:crypto";
import { getOwn, isJsonObject, serverNameOf, stateMapKey, thirdPartyInviteSigningKey, type JsonObject } from "../core/index.js";
import { forbidden, MatrixError } from "../http/errors.js";
import type { IdentityServers } from "../identity/identity-servers.js";
import type { RoomStateRepo } from "../storage/room-state-repo.js";
import type { RoomWriter } from "./event-writer.js";
import type { EventStore, LoadedEvent } from "./event-store.js";
import type { RoomMembership } from "./membership.js";
import type { Sender } from "./messaging.js";
import type { ProfileLookup } from "./profiles.js";

export interface ThirdPartyInviteRequest {
  id_server: string;
  id_access_token: string;
  medium: string;
  address: string;
}

export interface ThirdPartyInviteDeps {
  writer: Pick<RoomWriter, "send">;
  membership: RoomMembership;
  store: EventStore;
  state: RoomStateRepo;
  profiles: ProfileLookup;
  serverName: string;
  /** Requests to identity servers; undefined: third-party invites are refused. */
  identity: IdentityServerCalls | undefined;
  /**
   * A room this server is not in: asks the inviting server to issue the
   * invite (server-server PUT /exchange_third_party_invite); none when absent.
   */
  exchange?: (roomId: string, partialEvent: JsonObject) => Promise<void>;
}

/** What third-party invites need of the identity-server client. */
export type IdentityServerCalls = Pick<IdentityServers, "check" | "call" | "getUrl">;

const ROOM_TYPES = ["m.room.name", "m.room.avatar", "m.room.canonical_alias", "m.room.join_rules", "m.room.create"];

/**
 * Client-server "Third-party invites": inviting by email (or another 3PID).
 * The identity server is asked whether the address is bound to a Matrix ID
 * (v2 hashed lookup); if so, that user is invited as usual, otherwise the
 * identity server stores the invite and the room gets an
 * m.room.third_party_invite state event with its public keys.
 */
export class ThirdPartyInvites {
  constructor(private readonly d: ThirdPartyInviteDeps) {}

  /**
   * Refuses an id_server this server will not contact before anything else
   * happens (also for createRoom): the one the client names is used, as the
   * spec's flow has it, unless identity_server.trusted_servers says otherwise.
   */
  checkRequest(r: ThirdPartyInviteRequest): void {
    if (!this.d.identity) throw new MatrixError(400, "M_SERVER_NOT_TRUSTED", "This server does not contact identity servers");
    this.d.identity.check(r.id_server);
  }

  async invite(sender: Sender, roomId: string, r: ThirdPartyInviteRequest): Promise<void> {
    this.checkRequest(r);
    if ((await this.d.state.membership(roomId, sender.userId))?.membership !== "join") throw forbidden("You are not in this room");
    const address = r.medium === "email" ? r.address.toLowerCase() : r.address;
    const mxid = await this.lookup(r, address);
    if (mxid) {
      await this.d.membership.invite(sender, roomId, mxid);
      return;
    }
    const stored = await this.storeInvite(sender, roomId, r, address);
    await this.d.writer.send(roomId, {
      type: "m.room.third_party_invite",
      stateKey: stored.token,
      sender: sender.userId,
      content: {
        display_name: stored.displayName,
        key_validity_url: stored.publicKeys[0]!.key_validity_url,
        public_key: stored.publicKeys[0]!.public_key,
        public_keys: stored.publicKeys,
      },
    });
  }

  /**
   * Server-server "PUT /3pid/onbind" (the identity server tells us an address
   * got bound): each pending third-party invite to a local room becomes an
   * m.room.member invite carrying the identity server's `signed` block, sent
   * as the original inviter; the auth rules check the signature against the
   * m.room.third_party_invite event's keys. Invites that fail are skipped.
   */
  async onBind(invites: readonly unknown[]): Promise<number> {
    let done = 0;
    for (const inv of invites) {
      if (!isJsonObject(inv)) continue;
      const { room_id: roomId, mxid, signed } = inv;
      if (typeof roomId !== "string" || typeof mxid !== "string" || !isJsonObject(signed)) continue;
      if (serverNameOf(mxid) !== this.d.serverName || typeof signed.token !== "string") continue;
      const tpi = await this.pendingInvite(roomId, signed.token);
      const remoteInviter = typeof inv.sender === "string" && serverNameOf(inv.sender) !== this.d.serverName;
      if (this.d.exchange && remoteInviter && (!tpi || serverNameOf(tpi.row.sender) !== this.d.serverName)) {
        // "If the invited homeserver isn't in the room the invite came from, it will need to request the inviting homeserver to auth the event."
        const event: JsonObject = {
          type: "m.room.member",
          room_id: roomId,
          sender: inv.sender,
          state_key: mxid,
          content: { membership: "invite", third_party_invite: { display_name: typeof inv.display_name === "string" ? inv.display_name : "", signed } },
        };
        try {
          await this.d.exchange(roomId, event);
          done++;
        } catch {
          // The inviting server refused or is unreachable: the invite is not exchanged.
        }
        continue;
      }
      if (!tpi || serverNameOf(tpi.row.sender) !== this.d.serverName) continue;
      if (!(await this.keyStillValid(tpi.event.content, signed))) continue;
      try {
        await this.sendInvite(roomId, mxid, tpi, signed);
        done++;
      } catch {
        // Refused by the auth rules (bad signature, banned target...): the invite is not exchanged.
      }
    }
    return done;
  }

  /**
   * POST /join with `third_party_signed` ("If supplied, the homeserver must
   * verify that it matches a pending m.room.third_party_invite event in the
   * room, and perform key validity checking if required by the event"): the
   * signed block becomes the joiner's invite, sent as the original inviter
   * (the authorization rules need no membership of the inviter for it, so
   * this works after they left), and the join follows as usual. A joiner
   * already invited or joined needs no exchange.
   */
  async exchangeForJoin(roomId: string, joiner: string, signed: unknown): Promise<void> {
    if (
      !isJsonObject(signed) ||
      typeof signed.mxid !== "string" ||
      typeof signed.sender !== "string" ||
      typeof signed.token !== "string" ||
      !isJsonObject(signed.signatures)
    ) {
      throw new MatrixError(400, "M_BAD_JSON", "third_party_signed needs sender, mxid, token and signatures");
    }
    if (signed.mxid !== joiner) throw forbidden("third_party_signed is for another user");
    const current = (await this.d.state.membership(roomId, joiner))?.membership;
    if (current === "join" || current === "invite") return;
    const tpi = await this.pendingInvite(roomId, signed.token);
    if (!tpi) throw forbidden("No pending third-party invite matches third_party_signed");
    if (tpi.row.sender !== signed.sender) throw forbidden("third_party_signed names another inviter");
    // An inviter of another server would have to sign the invite (server-server exchange_third_party_invite).
    if (serverNameOf(tpi.row.sender) !== this.d.serverName) throw forbidden("The third-party invite was made on another server");
    if (!(await this.keyStillValid(tpi.event.content, signed))) throw forbidden("The identity server's signature on this invite is not valid");
    try {
      await this.sendInvite(roomId, joiner, tpi, signed);
    } catch (err) {
      if (err instanceof MatrixError) throw forbidden(`The third-party invite was refused: ${err.message}`);
      throw err;
    }
  }

  /** The room's current m.room.third_party_invite with that token, if any. */
  private async pendingInvite(roomId: string, token: string): Promise<LoadedEvent | undefined> {
    const rows = await this.d.state.currentStateEventIds([roomId], ["m.room.third_party_invite"]);
    const row = rows.find((r) => r.stateKey === token);
    const tpi = row ? await this.d.store.getEvent(row.eventId) : undefined;
    // A revoked invite is an m.room.third_party_invite with empty content.
    return tpi && Object.keys(tpi.event.content).length > 0 ? tpi : undefined;
  }

  /**
   * The key that signed `signed` must be one of the invite's, and where the
   * invite names a `key_validity_url` the identity server must still call it
   * valid (identity service "GET /pubkey/isvalid"); unreachable counts as not.
   */
  private async keyStillValid(inviteContent: JsonObject, signed: JsonObject): Promise<boolean> {
    const key = thirdPartyInviteSigningKey(signed, inviteContent);
    if (!key) return false;
    if (key.keyValidityUrl === undefined) return true;
    if (!this.d.identity) return false;
    try {
      const url = new URL(key.keyValidityUrl);
      url.searchParams.set("public_key", key.publicKey);
      const res = await this.d.identity.getUrl(url.href);
      return res.status === 200 && res.json?.valid === true;
    } catch {
      return false;
    }
  }

  private async sendInvite(roomId: string, mxid: string, tpi: LoadedEvent, signed: JsonObject): Promise<void> {
    const displayName = getOwn(tpi.event.content, "display_name");
    const content: JsonObject = {
      ...memberProfile(await this.d.profiles.getProfile(mxid)),
      membership: "invite",
      third_party_invite: { display_name: typeof displayName === "string" ? displayName : "", signed },
    };
    await this.d.writer.send(roomId, { type: "m.room.member", stateKey: mxid, sender: tpi.row.sender, content });
  }

  private async call(r: ThirdPartyInviteRequest, method: "GET" | "POST", path: string, body?: JsonObject): Promise<JsonObject> {
    if (!this.d.identity) throw new MatrixError(400, "M_SERVER_NOT_TRUSTED", "This server does not contact identity servers");
    return this.d.identity.call(r.id_server, method, path, { accessToken: r.id_access_token, body });
  }

  /** Identity service "Lookup" (v2): sha256 of "address medium pepper", or plain when only "none" is offered. */
  private async lookup(r: ThirdPartyInviteRequest, address: string): Promise<string | undefined> {
    const details = await this.call(r, "GET", "/hash_details");
    const algorithms = Array.isArray(details.algorithms) ? details.algorithms : [];
    const pepper = typeof details.lookup_pepper === "string" ? details.lookup_pepper : "";
    let key: string;
    let algorithm: string;
    if (algorithms.includes("sha256")) {
      algorithm = "sha256";
      key = createHash("sha256").update(`${address} ${r.medium} ${pepper}`).digest("base64url");
    } else if (algorithms.includes("none")) {
      algorithm = "none";
      key = `${address} ${r.medium}`;
    } else {
      throw new MatrixError(502, "M_UNKNOWN", "The identity server offers no lookup algorithm this server knows");
    }
    const res = await this.call(r, "POST", "/lookup", { addresses: [key], algorithm, pepper });
    const mxid = isJsonObject(res.mappings) ? res.mappings[key] : undefined;
    return typeof mxid === "string" ? mxid : undefined;
  }

  private async storeInvite(sender: Sender, roomId: string, r: ThirdPartyInviteRequest, address: string) {
    const rows = await this.d.state.currentStateEventIds([roomId], ROOM_TYPES);
    const events = await this.d.store.getEvents(rows.map((x) => x.eventId));
    const byType = new Map<string, JsonObject>();
    for (const x of rows) {
      const e = events.get(x.eventId);
      if (e && x.stateKey === "") byType.set(stateMapKey(x.type, ""), e.event.content);
    }
    const str = (type: string, k: string) => {
      const v = byType.get(stateMapKey(type, "")) ? getOwn(byType.get(stateMapKey(type, ""))!, k) : undefined;
      return typeof v === "string" ? v : undefined;
    };
    const profile = await this.d.profiles.getProfile(sender.userId);
    const body: JsonObject = { medium: r.medium, address, room_id: roomId, sender: sender.userId };
    const extras: Array<[string, string | undefined]> = [
      ["room_name", str("m.room.name", "name")],
      ["room_avatar_url", str("m.room.avatar", "url")],
      ["room_alias", str("m.room.canonical_alias", "alias")],
      ["room_join_rules", str("m.room.join_rules", "join_rule")],
      ["room_type", str("m.room.create", "type")],
      ["sender_display_name", typeof profile.displayname === "string" ? profile.displayname : undefined],
      ["sender_avatar_url", typeof profile.avatar_url === "string" ? profile.avatar_url : undefined],
    ];
    for (const [k, v] of extras) if (v !== undefined) body[k] = v;
    const res = await this.call(r, "POST", "/store-invite", body);
    const keys = Array.isArray(res.public_keys)
      ? res.public_keys.filter((k): k is JsonObject => isJsonObject(k) && typeof k.public_key === "string" && typeof k.key_validity_url === "string")
      : [];
    if (typeof res.token !== "string" || res.token === "" || keys.length === 0) {
      throw new MatrixError(502, "M_UNKNOWN", "The identity server's store-invite answer is incomplete");
    }
    return {
      token: res.token,
      publicKeys: keys.map((k) => ({ public_key: k.public_key as string, key_validity_url: k.key_validity_url as string })),
      displayName: typeof res.display_name === "string" ? res.display_name : address.replace(/@.*$/, "@…"),
    };
  }
}

function memberProfile(p: { displayname?: string | null; avatar_url?: string | null }): JsonObject {
  const out: JsonObject = {};
  if (typeof p.displayname === "string") out.displayname = p.displayname;
  if (typeof p.avatar_url === "string") out.avatar_url = p.avatar_url;
  return out;
}
