import type { JsonObject } from "../../core/index.js";
import { MatrixError } from "../../http/errors.js";
import type { RoomConfig } from "./request.js";

/** What a connection has been sent of one room. */
export interface SentRoom {
  /** Event position the room's timeline and state were sent up to. */
  s: number;
  /** The membership it was sent with. */
  m: string;
  /** Timeline limit and required_state configs (configKeys) it was sent with. */
  tl: number;
  rs: string[];
}

/**
 * Per-connection state, stored with each `pos` (MSC4186 "Connections"): what
 * was sent, the sticky room subscriptions and extension settings, and the
 * lists' last counts (a changed count is news for a long-poll).
 */
export interface ConnectionState {
  rooms: Record<string, SentRoom>;
  subs: Record<string, RoomConfig>;
  ext: Record<string, Record<string, unknown>>;
  counts: Record<string, number>;
}

export function emptyConnection(): ConnectionState {
  return { rooms: {}, subs: {}, ext: {}, counts: {} };
}

export function connectionFromJson(j: JsonObject): ConnectionState {
  const o = j as unknown as Partial<ConnectionState>;
  return { rooms: o.rooms ?? {}, subs: o.subs ?? {}, ext: o.ext ?? {}, counts: o.counts ?? {} };
}

// `pos` is this prefix and a position row id; the prefix versions the format.
const POS_PREFIX = "p1_";

export function formatPos(id: number): string {
  return `${POS_PREFIX}${id}`;
}

export function unknownPos(): MatrixError {
  return new MatrixError(400, "M_UNKNOWN_POS", "Unknown position; start a new connection without 'pos'");
}

/** The row id of a `pos`; anything else is M_UNKNOWN_POS (MSC4186: the client starts again). */
export function parsePos(pos: string): number {
  if (!pos.startsWith(POS_PREFIX)) throw unknownPos();
  const id = pos.slice(POS_PREFIX.length);
  if (!/^\d{1,15}$/.test(id)) throw unknownPos();
  return Number(id);
}
