import { PowerLevels, parsePowerLevel, roomCreators } from "../core/auth/index.js";
import { toRoomEvent, type Pdu } from "../core/events/pdu.js";
import { getOwn, isJsonObject, type JsonObject } from "../core/json.js";
import { emptyChanges, mergePushRules, type PushEvent, type PushRuleChanges, type PushRuleset } from "../core/push-rules.js";
import { getRoomVersion } from "../core/room-versions.js";
import { relationOf, type EventIndexer, type IndexedEvent } from "../rooms/event-indexer.js";
import { Lru } from "../rooms/lru.js";
import { type MemberRules, memberVerdicts, splitVerdicts } from "./member-verdicts.js";
import { MAIN_THREAD, type PushActionsRepo, type RoomForPush } from "../storage/push-actions-repo.js";
import type { SqlQueryable } from "../storage/sql.js";

interface CachedRuleset {
  /** The stored changes (JSON text) the ruleset was merged from; null: none. */
  changes: string | null;
  ruleset: PushRuleset;
  usesDisplayName: boolean;
}

// "implementations are encouraged to do a maximum of 3 hops to find a thread".
const MAX_THREAD_HOPS = 3;

/**
 * Evaluates the push rules of every local user in the room on each live event,
 * inside the event's transaction (client-server "Server behaviour": "When
 * receiving a new event homeservers process push rules for each of the local
 * users in the room (excluding the sender)"), and stores the verdicts: once for
 * the class of joined members who share one, and per member for the others,
 * so /sync derives counts from positions and push gateways are fed from them.
 */
export class PushActionsIndexer implements EventIndexer {
  private readonly rulesets = new Lru<string, CachedRuleset>(10_000);
  private readonly pdus = new Lru<string, JsonObject>(2_000);
  /** Per transaction (a handle lives as long as its transaction), the rooms read for push rule evaluation. */
  private readonly roomsInTx = new WeakMap<SqlQueryable, Map<string, RoomForPush>>();

  constructor(
    private readonly repo: PushActionsRepo,
    private readonly serverName: string,
  ) {
    this.localSuffix = `:${serverName}`;
  }

  private readonly localSuffix: string;

  private isLocal(userId: string): boolean {
    return userId.endsWith(this.localSuffix);
  }

  async onPersist(tx: SqlQueryable, e: IndexedEvent): Promise<void> {
    // Only live events notify: backfilled history has negative positions.
    if (e.streamOrdering <= 0) return;
    const threadId = await this.threadOf(tx, e);
    const membership = e.type === "m.room.member" ? getOwn(e.content, "membership") : undefined;
    // A local member's join opens their place in the room's class of members; any other membership ends it.
    const span =
      e.stateKey !== undefined && typeof membership === "string" && this.isLocal(e.stateKey)
        ? { userId: e.stateKey, joined: membership === "join" }
        : undefined;
    // "When the user updates their read receipt (either by using the API or by sending an event)".
    const own = this.isLocal(e.sender) ? e.sender : undefined;
    const record = { eventId: e.eventId, roomId: e.roomId, threadId, streamOrdering: e.streamOrdering, ts: e.originServerTs, sender: e.sender };

    const room = await this.roomFor(tx, e);
    const joined = room.members;
    const changesOf = new Map<string, string | null>();
    for (const m of joined) if (this.isLocal(m.userId) && m.userId !== e.sender) changesOf.set(m.userId, m.changes);
    const inClass = changesOf.size;
    // An invitee is not joined yet but is who .m.rule.invite_for_me is for.
    let invitee: string | undefined;
    if (membership === "invite" && e.stateKey !== undefined && this.isLocal(e.stateKey) && e.stateKey !== e.sender && !changesOf.has(e.stateKey)) {
      invitee = e.stateKey;
      const c = (await this.repo.ruleChanges(tx, [invitee])).get(invitee);
      changesOf.set(invitee, c === undefined ? null : JSON.stringify(c));
    }
    if (changesOf.size === 0) return this.repo.recordEvent(tx, record, own, { exceptions: [] }, span);

    const users = [...changesOf.keys()].sort();
    // Whether a ruleset uses contains_display_name depends on its stored changes only.
    const usesDisplayName = new Map<string | null, boolean>();
    for (const u of users) {
      const c = changesOf.get(u) ?? null;
      if (!usesDisplayName.has(c)) usesDisplayName.set(c, this.rulesetOf(u, c).usesDisplayName);
    }
    const namesFor = users.filter((u) => usesDisplayName.get(changesOf.get(u) ?? null));
    const parsed = room.state.map((s) => ({ ...s, json: this.parsedPdu(s.eventId, s.pdu) }));
    if (namesFor.length > 0) {
      const members = await this.repo.currentState(
        e.roomId,
        namesFor.map((u) => ["m.room.member", u] as const),
        tx,
      );
      for (const m of members) parsed.push({ ...m, json: JSON.parse(m.pdu) as JsonObject });
    }
    const create = parsed.find((s) => s.type === "m.room.create");
    const createContent = create && isJsonObject(create.json.content) ? create.json.content : {};
    const rv = getRoomVersion(typeof createContent.room_version === "string" ? createContent.room_version : "1");
    const plEvent = parsed.find((s) => s.type === "m.room.power_levels");
    const pl = plEvent && isJsonObject(plEvent.json.content) ? plEvent.json.content : undefined;
    const levels = rv && create ? PowerLevels.fromContent(pl, roomCreators(toRoomEvent(create.json as Pdu, create.eventId, rv), rv), rv) : undefined;
    const notifications = pl && isJsonObject(pl.notifications) ? pl.notifications : {};
    const roomLevel = rv ? parsePowerLevel(notifications.room, rv) : undefined;
    const displayNames = new Map<string, string>();
    for (const s of parsed) {
      if (s.type !== "m.room.member" || !isJsonObject(s.json.content)) continue;
      const name = s.json.content.displayname;
      if (typeof name === "string") displayNames.set(s.stateKey, name);
    }

    const event: PushEvent = {
      type: e.type,
      sender: e.sender,
      room_id: e.roomId,
      event_id: e.eventId,
      origin_server_ts: e.originServerTs,
      content: e.content,
      ...(e.stateKey !== undefined ? { state_key: e.stateKey } : {}),
    };
    const members: MemberRules[] = users.map((userId) => {
      const changes = changesOf.get(userId) ?? null;
      return { userId, changes, displayName: usesDisplayName.get(changes) ? (displayNames.get(userId) ?? null) : null };
    });
    const shared = { roomMemberCount: joined.length, senderPowerLevel: levels?.userLevel(e.sender) ?? 0, notificationPowerLevels: { room: roomLevel ?? 50 } };
    const verdicts = memberVerdicts(event, members, shared, (m) => this.rulesetOf(m.userId, m.changes).ruleset);
    await this.repo.recordEvent(tx, record, own, splitVerdicts(users, verdicts, invitee, inClass), span);
  }

  /**
   * The room as `roomForPush` reads it, once per transaction while the
   * current state stays: the sends a transaction writes together share one
   * read. A redaction may change what a state event says, so it reads again.
   */
  private async roomFor(tx: SqlQueryable, e: IndexedEvent): Promise<RoomForPush> {
    let rooms = this.roomsInTx.get(tx);
    if (rooms === undefined) {
      rooms = new Map();
      this.roomsInTx.set(tx, rooms);
    }
    const hit = e.currentStateChanged === false && e.type !== "m.room.redaction" ? rooms.get(e.roomId) : undefined;
    if (hit) return hit;
    const room = await this.repo.roomForPush(tx, e.roomId);
    rooms.set(e.roomId, room);
    return room;
  }

  /**
   * A user's merged ruleset, rebuilt only when the stored changes differ from
   * the ones it was built from (every event of a room evaluates every member).
   */
  private rulesetOf(userId: string, changes: string | null): CachedRuleset {
    const hit = this.rulesets.get(userId);
    if (hit && hit.changes === changes) return hit;
    const ruleset = mergePushRules(userId, changes === null ? emptyChanges() : (JSON.parse(changes) as PushRuleChanges));
    const built = { changes, ruleset, usesDisplayName: JSON.stringify(ruleset).includes('"contains_display_name"') };
    this.rulesets.set(userId, built);
    return built;
  }

  /** Create and power levels events are read for every event of their room: parsed once. */
  private parsedPdu(eventId: string, pdu: string): JsonObject {
    const hit = this.pdus.get(eventId);
    if (hit) return hit;
    const json = JSON.parse(pdu) as JsonObject;
    this.pdus.set(eventId, json);
    return json;
  }

  async onRedacted(tx: SqlQueryable, eventId: string): Promise<void> {
    await this.repo.removeEvent(tx, eventId);
  }

  /**
   * "Threaded read receipts": the thread an event belongs to, following its
   * relations up to a thread root via m.thread; the main timeline otherwise.
   */
  private async threadOf(tx: SqlQueryable, e: IndexedEvent): Promise<string> {
    const rel = relationOf(e.content);
    if (!rel) return MAIN_THREAD;
    if (rel.relType === "m.thread") return rel.eventId;
    let current = rel.eventId;
    for (let hop = 1; hop < MAX_THREAD_HOPS; hop++) {
      const up = await this.repo.relationParent(tx, current);
      if (!up) return MAIN_THREAD;
      if (up.relType === "m.thread") return up.parent;
      current = up.parent;
    }
    return MAIN_THREAD;
  }
}
