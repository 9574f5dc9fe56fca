/**
 * Auth rule "If type is m.room.member" (rule 5 in v12 numbering; rule 5 in
 * v1-v5 and 4 in v6-v11): joins under public/invite/knock/restricted/
 * knock_restricted rules, invites (incl. third-party), leaves/kicks, bans,
 * knocks.
 */
import { getOwn, isJsonObject } from "../json.js";
import { isValidUserId, serverNameOf } from "../ids.js";
import type { RoomVersion } from "../room-versions.js";
import type { RoomEvent } from "../events/pdu.js";
import type { AuthState } from "../events/state-map.js";
import type { PowerLevels } from "./power-levels.js";
import { allow, reject, type AuthResult } from "./result.js";
import { checkThirdPartyInvite } from "./third-party-invite.js";

export interface MembershipContext {
  readonly event: RoomEvent;
  readonly state: AuthState;
  readonly rv: RoomVersion;
  readonly create: RoomEvent;
  readonly levels: PowerLevels;
  /** Whether the event carries a valid signature from a server (see CheckAuthOptions). */
  readonly hasServerSignature: (event: RoomEvent, serverName: string) => boolean;
}

function membershipOf(state: AuthState, userId: string): string | undefined {
  const m = state.get("m.room.member", userId);
  if (m === undefined) return undefined;
  const v = getOwn(m.content, "membership");
  return typeof v === "string" ? v : undefined;
}

/**
 * The join rule in force. With no m.room.join_rules event we treat the room
 * as invite-only, as deployed servers do (the spec leaves it implicit).
 */
function joinRuleOf(state: AuthState): string {
  const jr = state.get("m.room.join_rules", "");
  const v = jr === undefined ? undefined : getOwn(jr.content, "join_rule");
  return typeof v === "string" ? v : "invite";
}

export function checkMembership(ctx: MembershipContext): AuthResult {
  const { event, state, rv, create, levels } = ctx;
  const target = event.stateKey;
  const membership = getOwn(event.content, "membership");
  // 5.1
  if (target === undefined || typeof membership !== "string") return reject("5.1", "no state_key or membership");

  // 5.2 (v8+): the authorising server must have signed the event.
  const via = getOwn(event.content, "join_authorised_via_users_server");
  if (rv.restrictedJoins && via !== undefined) {
    const server = typeof via === "string" && isValidUserId(via) ? serverNameOf(via) : undefined;
    if (server === undefined || !ctx.hasServerSignature(event, server)) {
      return reject("5.2.1", "not signed by the join_authorised_via_users_server's server");
    }
  }

  const senderMembership = membershipOf(state, event.sender);
  const targetMembership = membershipOf(state, target);
  const senderLevel = levels.userLevel(event.sender);
  const targetLevel = levels.userLevel(target);

  switch (membership) {
    case "join": {
      // 5.3.1: the creator's own first join right after the create event.
      const creator = rv.creatorIsSender ? create.sender : getOwn(create.content, "creator");
      if (event.prevEvents.length === 1 && event.prevEvents[0] === create.eventId && target === creator) {
        return allow("5.3.1");
      }
      if (event.sender !== target) return reject("5.3.2", "sender does not match state_key");
      if (senderMembership === "ban") return reject("5.3.3", "sender is banned");
      const rule = joinRuleOf(state);
      if (rule === "invite" || (rv.knocking && rule === "knock")) {
        return senderMembership === "invite" || senderMembership === "join"
          ? allow("5.3.4")
          : reject("5.3.4", `join rule is ${rule} and sender is not invited`);
      }
      if ((rv.restrictedJoins && rule === "restricted") || (rv.knockRestricted && rule === "knock_restricted")) {
        if (senderMembership === "join" || senderMembership === "invite") return allow("5.3.5.1");
        if (typeof via !== "string") return reject("5.3.5.2", "restricted join without join_authorised_via_users_server");
        if (membershipOf(state, via) !== "join") return reject("5.3.5.2", "authorising user is not joined");
        if (levels.userLevel(via) < levels.inviteLevel) return reject("5.3.5.2", "authorising user cannot invite");
        return allow("5.3.5.3");
      }
      if (rule === "public") return allow("5.3.6");
      return reject("5.3.7", `join rule ${rule} does not allow joining`);
    }
    case "invite": {
      const tpi = getOwn(event.content, "third_party_invite");
      if (tpi !== undefined) {
        // 5.4.1: a present but non-object value fails "does not have a signed property".
        return checkThirdPartyInvite(event, isJsonObject(tpi) ? tpi : {}, targetMembership, state);
      }
      if (senderMembership !== "join") return reject("5.4.2", "sender is not joined");
      if (targetMembership === "join" || targetMembership === "ban") {
        return reject("5.4.3", `target is already ${targetMembership}`);
      }
      if (senderLevel >= levels.inviteLevel) return allow("5.4.4");
      return reject("5.4.5", "sender's power level is below the invite level");
    }
    case "leave": {
      if (event.sender === target) {
        const ok = senderMembership === "invite" || senderMembership === "join" || (rv.knocking && senderMembership === "knock");
        return ok ? allow("5.5.1") : reject("5.5.1", `cannot leave from membership ${senderMembership ?? "none"}`);
      }
      if (senderMembership !== "join") return reject("5.5.2", "sender is not joined");
      if (targetMembership === "ban" && senderLevel < levels.banLevel) {
        return reject("5.5.3", "sender's power level is below the ban level needed to unban");
      }
      if (senderLevel >= levels.kickLevel && targetLevel < senderLevel) return allow("5.5.4");
      return reject("5.5.5", "sender cannot kick the target");
    }
    case "ban": {
      if (senderMembership !== "join") return reject("5.6.1", "sender is not joined");
      if (senderLevel >= levels.banLevel && targetLevel < senderLevel) return allow("5.6.2");
      return reject("5.6.3", "sender cannot ban the target");
    }
    case "knock": {
      if (!rv.knocking) break;
      const rule = joinRuleOf(state);
      if (rule !== "knock" && !(rv.knockRestricted && rule === "knock_restricted")) {
        return reject("5.7.1", `join rule ${rule} does not allow knocking`);
      }
      if (event.sender !== target) return reject("5.7.2", "sender does not match state_key");
      if (senderMembership !== "ban" && senderMembership !== "invite" && senderMembership !== "join") return allow("5.7.3");
      return reject("5.7.4", `cannot knock from membership ${senderMembership}`);
    }
  }
  return reject("5.8", `unknown membership ${membership}`);
}
