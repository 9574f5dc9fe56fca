import { z } from "zod";
import { MatrixError } from "../../http/errors.js";
import { PRESENCE_STATES, type PresenceState } from "../../ephemeral/presence.js";
import { parseRequiredState, type RequiredStateConfig } from "./required-state.js";

/**
 * The request body of simplified sliding sync (MSC4186 "Request Body"), in
 * both shapes clients send: the proposal's (`range`, `required_state` as
 * `{include, exclude, lazy_members}`, `is_invited`) and the earlier one that
 * matrix-js-sdk and Element X speak (`ranges`, `required_state` as
 * `[type, state_key]` pairs with `*`, `$ME`, `$LAZY`, `is_invite`).
 */

// MSC4186: at most 100 lists and 100 room subscriptions per request.
const MAX_LISTS = 100;
const MAX_SUBSCRIPTIONS = 100;
// The server "may cap" timeline_limit.
export const MAX_TIMELINE_LIMIT = 100;

const stateEntry = z.array(z.string().max(1000)).length(2);
const stateElement = z.looseObject({ type: z.string().max(1000).optional(), state_key: z.string().max(1000).optional() });
const requiredState = z.union([
  z.array(stateEntry).max(1000),
  z.looseObject({
    include: z.array(stateElement).max(1000).optional(),
    exclude: z.array(stateElement).max(1000).optional(),
    lazy_members: z.boolean().optional(),
  }),
]);
const range = z.tuple([z.number().int().min(0), z.number().int().min(0)]);
const roomConfig = {
  timeline_limit: z.number().int().min(0).optional(),
  required_state: requiredState.optional(),
};
const filters = z.looseObject({
  is_dm: z.boolean().optional(),
  is_encrypted: z.boolean().optional(),
  is_invite: z.boolean().optional(),
  is_invited: z.boolean().optional(),
  spaces: z.array(z.string()).max(1000).optional(),
  room_types: z.array(z.string().nullable()).max(100).optional(),
  not_room_types: z.array(z.string().nullable()).max(100).optional(),
  tags: z.array(z.string()).max(100).optional(),
  not_tags: z.array(z.string()).max(100).optional(),
});
const listSchema = z.looseObject({
  ...roomConfig,
  range: range.optional(),
  ranges: z.array(range).max(100).optional(),
  filters: filters.optional(),
});
const subscriptionSchema = z.looseObject(roomConfig);
const extensionSchema = z.looseObject({ enabled: z.boolean().optional() });

export const slidingRequestSchema = z.looseObject({
  conn_id: z.string().max(100).optional(),
  pos: z.string().max(200).optional(),
  timeout: z.number().int().min(0).optional(),
  set_presence: z.enum(PRESENCE_STATES).optional(),
  lists: z.record(z.string().max(100), listSchema).optional(),
  room_subscriptions: z.record(z.string().max(255), subscriptionSchema).optional(),
  unsubscribe_rooms: z.array(z.string().max(255)).max(1000).optional(),
  extensions: z.record(z.string().max(100), extensionSchema).optional(),
});
export type SlidingRequestBody = z.infer<typeof slidingRequestSchema>;

export interface RoomConfig {
  timelineLimit: number;
  requiredState: RequiredStateConfig;
}

export interface ListFilters {
  isDm?: boolean;
  isEncrypted?: boolean;
  isInvite?: boolean;
  spaces?: string[];
  roomTypes?: Array<string | null>;
  notRoomTypes?: Array<string | null>;
  tags?: string[];
  notTags?: string[];
}

export interface ListConfig extends RoomConfig {
  /** Inclusive [start, end] windows; undefined: the whole filtered list. */
  ranges: Array<[number, number]> | undefined;
  filters: ListFilters;
}

export interface SlidingRequest {
  connId: string;
  pos: string | undefined;
  timeoutMs: number;
  setPresence: PresenceState;
  lists: Map<string, ListConfig>;
  subscriptions: Map<string, RoomConfig>;
  unsubscribe: string[];
  /** Extension name to its request object, as sent. */
  extensions: Map<string, Record<string, unknown>>;
}

// Opaque identifiers (appendix "Opaque Identifiers"): list keys follow their grammar.
const OPAQUE_ID = /^[0-9A-Za-z._~-]{1,100}$/;

function roomConfigOf(c: { timeline_limit?: number | undefined; required_state?: z.infer<typeof requiredState> | undefined }, userId: string): RoomConfig {
  return {
    timelineLimit: Math.min(c.timeline_limit ?? 0, MAX_TIMELINE_LIMIT),
    requiredState: parseRequiredState(c.required_state, userId),
  };
}

/**
 * The request normalised. `pos` and `timeout` may also come in the query
 * string (as matrix-js-sdk sends them); the body wins when both are there.
 */
export function normaliseRequest(body: SlidingRequestBody, query: { pos?: string; timeout?: string }, userId: string): SlidingRequest {
  const lists = new Map<string, ListConfig>();
  const entries = Object.entries(body.lists ?? {});
  if (entries.length > MAX_LISTS) throw new MatrixError(400, "M_INVALID_PARAM", `At most ${MAX_LISTS} lists`);
  for (const [key, l] of entries) {
    if (!OPAQUE_ID.test(key)) throw new MatrixError(400, "M_INVALID_PARAM", "List keys must be opaque identifiers");
    const ranges = l.range ? [l.range] : l.ranges;
    for (const [a, b] of ranges ?? []) if (a > b) throw new MatrixError(400, "M_INVALID_PARAM", `List ${key}: a range must start before it ends`);
    const f = l.filters ?? {};
    lists.set(key, {
      ...roomConfigOf(l, userId),
      ranges: ranges as Array<[number, number]> | undefined,
      filters: {
        isDm: f.is_dm,
        isEncrypted: f.is_encrypted,
        isInvite: f.is_invited ?? f.is_invite,
        spaces: f.spaces,
        roomTypes: f.room_types,
        notRoomTypes: f.not_room_types,
        tags: f.tags,
        notTags: f.not_tags,
      },
    });
  }
  const subs = Object.entries(body.room_subscriptions ?? {});
  if (subs.length > MAX_SUBSCRIPTIONS) throw new MatrixError(400, "M_INVALID_PARAM", `At most ${MAX_SUBSCRIPTIONS} room subscriptions`);
  const subscriptions = new Map(subs.map(([roomId, s]) => [roomId, roomConfigOf(s, userId)]));
  let timeout = body.timeout;
  if (timeout === undefined && query.timeout !== undefined) {
    if (!/^\d{1,12}$/.test(query.timeout)) throw new MatrixError(400, "M_INVALID_PARAM", "timeout must be a non-negative integer");
    timeout = Number(query.timeout);
  }
  const pos = body.pos ?? (query.pos === "" ? undefined : query.pos);
  return {
    connId: body.conn_id ?? "",
    pos,
    timeoutMs: timeout ?? 0,
    setPresence: body.set_presence ?? "online",
    lists,
    subscriptions,
    unsubscribe: body.unsubscribe_rooms ?? [],
    extensions: new Map(Object.entries(body.extensions ?? {}).map(([k, v]) => [k, v as Record<string, unknown>])),
  };
}
