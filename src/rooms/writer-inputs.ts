import type { EventKeyLookup, JsonObject, RoomVersion } from "../core/index.js";
import type { SqlQueryable } from "../storage/sql.js";
import type { LoadedEvent, StateIds } from "./event-store.js";
import type { EventDraft } from "./local-builder.js";

// What callers of the room writer (RoomWriter in event-writer.ts) hand it and get back.

/** The state before the new event, for checks beyond the auth rules. */
export interface PrecheckContext {
  readonly roomId: string;
  readonly rv: RoomVersion;
  readonly state: StateIds;
  /** The writer's transaction: every read inside a precheck must use it (PGlite has one connection). */
  readonly tx: SqlQueryable;
  get(type: string, stateKey: string): Promise<LoadedEvent | undefined>;
}

/** An existing event id to answer with, or a replacement content (e.g. restricted joins). */
export type PrecheckResult = string | { content: JsonObject } | void;

export interface SendOptions {
  /** Client transaction id: a retry returns the first event's id. */
  txn?: { userId: string; deviceId: string; kind: string; txnId: string };
  /**
   * Runs inside the room's serial section against the state before the event.
   * Throw a MatrixError to refuse; return an event id to answer with that
   * existing event instead of writing a new one (e.g. unchanged state).
   */
  precheck?: (ctx: PrecheckContext) => Promise<PrecheckResult> | PrecheckResult;
}

export interface PersistedEvent {
  eventId: string;
  roomId: string;
  streamOrdering: number;
  /** True when no new event was written (transaction id retry or deduplicated state). */
  existing: boolean;
}

export interface CreateRoomPlan {
  rv: RoomVersion;
  creator: string;
  /** Content of m.room.create (room_version and, before v11, creator already set). */
  createContent: JsonObject;
  /** Room id for v1-v11; v12 derives it from the create event. */
  roomId?: string;
  visibility: "public" | "private";
  /** Runs in the creation transaction once the room id is known (e.g. alias creation). */
  beforeEvents?: (tx: SqlQueryable, roomId: string) => Promise<void>;
  /** The events after m.room.create, in order. */
  drafts: (roomId: string) => EventDraft[];
}

/** A membership event of a local user in a room this server is not in. */
export interface OutOfBandOptions {
  roomVersion: RoomVersion;
  /** Keys for receipt checks 1-3; without them the caller vouches for the signatures. */
  keys?: EventKeyLookup;
  /** Stripped state for the client's invite_state / knock_state. */
  strippedState?: readonly JsonObject[];
}
