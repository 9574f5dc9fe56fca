import {
  encodeCanonicalJson,
  isValidRoomAlias,
  PowerLevels,
  roomCreators,
  serverNameOf,
  type JsonObject,
  type RoomVersion,
} from "../core/index.js";
import { forbidden, MatrixError } from "../http/errors.js";
import type { RelationsRepo } from "../storage/relations-repo.js";
import type { RoomsRepo } from "../storage/rooms-repo.js";
import { relationOf } from "./event-indexer.js";
import type { EventStore } from "./event-store.js";
import type { PrecheckContext, RoomWriter } from "./event-writer.js";

export interface Sender {
  userId: string;
  deviceId: string | null;
  /** Guest accounts (client-server "Guest Access") may only join rooms whose guest_access is can_join. */
  isGuest?: boolean;
}

/** Reads the power levels of the state before an event (v12 creators included). */
export async function powerLevelsAt(ctx: PrecheckContext): Promise<PowerLevels> {
  const pl = await ctx.get("m.room.power_levels", "");
  const create = await ctx.get("m.room.create", "");
  return PowerLevels.fromContent(pl?.event.content, roomCreators(create?.event, ctx.rv), ctx.rv);
}

function sameContent(a: JsonObject, b: JsonObject, rv: RoomVersion): boolean {
  try {
    const opts = { strict: rv.strictCanonicalJson };
    return encodeCanonicalJson(a, opts) === encodeCanonicalJson(b, opts);
  } catch {
    return false;
  }
}

/**
 * Sending events from clients: messages (idempotent per transaction id),
 * state events, and redactions. Every event goes through the auth rules in
 * the writer; refusals are 403 M_FORBIDDEN with the rule's reason.
 */
export class RoomMessaging {
  constructor(
    private readonly writer: RoomWriter,
    private readonly rooms: RoomsRepo,
    private readonly store: EventStore,
    private readonly serverName: string,
    private readonly relations: RelationsRepo,
  ) {}

  /** Without a `txnId` (the r0 `POST .../send/{eventType}` form) the send is not idempotent. */
  async sendMessage(
    sender: Sender,
    roomId: string,
    type: string,
    content: JsonObject,
    txnId: string | undefined,
    originServerTs?: number,
  ): Promise<string> {
    const rel = relationOf(content);
    const r = await this.writer.send(
      roomId,
      { type, sender: sender.userId, content, originServerTs },
      {
        txn: txnId === undefined ? undefined : { userId: sender.userId, deviceId: sender.deviceId ?? "", kind: "send", txnId },
        precheck: rel ? (ctx) => this.checkRelation(ctx, sender.userId, type, rel) : undefined,
      },
    );
    return r.eventId;
  }

  /** Server-side checks of new relations (annotations, threads). */
  private async checkRelation(ctx: PrecheckContext, senderId: string, type: string, rel: { relType: string; eventId: string; key?: string }): Promise<void> {
    if (rel.relType === "m.annotation" && rel.key !== undefined) {
      // "Avoiding duplicate annotations": same sender, event type and key on one event.
      if (await this.relations.findAnnotation(ctx.tx, rel.eventId, senderId, type, rel.key)) {
        throw new MatrixError(400, "M_DUPLICATE_ANNOTATION", "You already sent this annotation");
      }
    }
    if (rel.relType === "m.thread") {
      // "Validation of m.thread relationships": no thread off an event that itself has a relation (400 M_UNKNOWN).
      const parentRel = await this.relations.get(rel.eventId, ctx.tx);
      if (parentRel) throw new MatrixError(400, "M_UNKNOWN", "Cannot start a thread from an event with a relation");
    }
  }

  /** Set at wiring time: runs after m.room.guest_access stops allowing guests. */
  onGuestAccessRevoked: ((roomId: string) => Promise<void>) | undefined;

  async sendState(sender: Sender, roomId: string, type: string, stateKey: string, content: JsonObject, originServerTs?: number): Promise<string> {
    const id = await this.sendStateEvent(sender, roomId, type, stateKey, content, originServerTs);
    // "Guest Access", server behaviour: once guests may no longer join, joined guests leave.
    if (type === "m.room.guest_access" && stateKey === "" && content.guest_access !== "can_join") await this.onGuestAccessRevoked?.(roomId);
    return id;
  }

  private async sendStateEvent(sender: Sender, roomId: string, type: string, stateKey: string, content: JsonObject, originServerTs?: number): Promise<string> {
    if (type === "m.room.canonical_alias") await this.checkCanonicalAlias(roomId, content);
    if (type === "m.room.tombstone") {
      // A tombstone must name the replacement, and not the room it ends.
      if (typeof content.replacement_room !== "string") throw new MatrixError(400, "M_BAD_JSON", "m.room.tombstone needs a replacement_room");
      if (content.replacement_room === roomId) throw new MatrixError(400, "M_BAD_JSON", "A tombstone cannot point to the room it is sent in");
    }
    const r = await this.writer.send(
      roomId,
      { type, stateKey, sender: sender.userId, content, originServerTs },
      {
        // Setting state to what it already is (same sender, same content) returns the existing event.
        precheck: async (ctx) => {
          const current = await ctx.get(type, stateKey);
          if (current && current.row.sender === sender.userId && !current.row.redactedBy && sameContent(current.event.content, content, ctx.rv)) {
            return current.row.eventId;
          }
        },
      },
    );
    return r.eventId;
  }

  async redact(sender: Sender, roomId: string, targetId: string, txnId: string | undefined, reason: string | undefined): Promise<string> {
    const content: JsonObject = reason !== undefined ? { reason } : {};
    const r = await this.writer.send(
      roomId,
      { type: "m.room.redaction", sender: sender.userId, content, redacts: targetId },
      {
        txn: txnId === undefined ? undefined : { userId: sender.userId, deviceId: sender.deviceId ?? "", kind: "redact", txnId },
        // Client-server "Redactions": the sender must be allowed to redact the event (own
        // event or the room's redact level); the auth rules only check the event type's level.
        precheck: async (ctx) => {
          const levels = await powerLevelsAt(ctx);
          const stored = await this.store.getEvent(targetId, ctx.tx);
          // A redaction only applies within its own room ("Redactions": the event being redacted is in the room).
          if (stored && stored.row.roomId !== ctx.roomId) throw new MatrixError(400, "M_INVALID_PARAM", "The event to redact is in another room");
          const target = stored ? { sender: stored.row.sender, type: stored.row.type } : undefined;
          const own = target !== undefined && target.sender === sender.userId;
          if (!own && levels.userLevel(sender.userId) < levels.redactLevel) {
            throw forbidden("You don't have permission to redact this event");
          }
          if (target?.type === "m.room.create") throw forbidden("The room's create event cannot be redacted");
        },
      },
    );
    return r.eventId;
  }

  /** m.room.canonical_alias: local aliases must exist and point to this room (M_BAD_ALIAS). */
  private async checkCanonicalAlias(roomId: string, content: JsonObject): Promise<void> {
    const aliases: unknown[] = [];
    if (content.alias !== undefined && content.alias !== null) aliases.push(content.alias);
    if (content.alt_aliases !== undefined) {
      if (!Array.isArray(content.alt_aliases)) throw new MatrixError(400, "M_INVALID_PARAM", "alt_aliases must be an array");
      aliases.push(...content.alt_aliases);
    }
    for (const a of aliases) {
      if (typeof a !== "string" || !isValidRoomAlias(a)) throw new MatrixError(400, "M_INVALID_PARAM", "Aliases must be valid room aliases");
      if (serverNameOf(a) !== this.serverName) continue;
      const row = await this.rooms.getAlias(a);
      if (!row || row.roomId !== roomId) throw new MatrixError(400, "M_BAD_ALIAS", `Alias ${a} does not point to this room`);
    }
  }
}
