import { z } from "zod";

// Client-server API "Filtering": the Filter, EventFilter, RoomFilter and
// RoomEventFilter shapes of POST /user/{userId}/filter. Unknown keys are kept
// (clients send MSC fields); known keys must have the spec's types.

const userIds = z.array(z.string().startsWith("@", "must be user ids"));
const roomIds = z.array(z.string().startsWith("!", "must be room ids"));
const strings = z.array(z.string());

const eventFilter = z.looseObject({
  limit: z.number().int().min(0).optional(),
  not_senders: userIds.optional(),
  not_types: strings.optional(),
  senders: userIds.optional(),
  types: strings.optional(),
});

const roomEventFilter = eventFilter.extend({
  not_rooms: roomIds.optional(),
  rooms: roomIds.optional(),
  contains_url: z.boolean().optional(),
  include_redundant_members: z.boolean().optional(),
  lazy_load_members: z.boolean().optional(),
  unread_thread_notifications: z.boolean().optional(),
});

const roomFilter = z.looseObject({
  account_data: roomEventFilter.optional(),
  ephemeral: roomEventFilter.optional(),
  include_leave: z.boolean().optional(),
  not_rooms: roomIds.optional(),
  rooms: roomIds.optional(),
  state: roomEventFilter.optional(),
  timeline: roomEventFilter.optional(),
});

export const filterSchema = z.looseObject({
  account_data: eventFilter.optional(),
  event_fields: strings.optional(),
  event_format: z.enum(["client", "federation"]).optional(),
  presence: eventFilter.optional(),
  room: roomFilter.optional(),
});

export type EventFilter = z.infer<typeof eventFilter>;
export type RoomEventFilter = z.infer<typeof roomEventFilter>;
export type RoomFilter = z.infer<typeof roomFilter>;
export type Filter = z.infer<typeof filterSchema>;

/**
 * Parses the `filter` query parameter of /sync and /messages: either a filter
 * id (looked up by the caller) or inline JSON. Returns undefined for a string
 * that is not JSON (the caller treats it as an id).
 */
export function parseInlineFilter(text: string): Filter | undefined {
  if (!text.trimStart().startsWith("{")) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return undefined;
  }
  const r = filterSchema.safeParse(json);
  return r.success ? r.data : undefined;
}
