import type { JsonObject } from "../../core/index.js";
import type { ReceiptsService } from "../../ephemeral/receipts.js";
import type { TypingService } from "../../ephemeral/typing.js";
import type { AccountDataRow } from "../../storage/account-data-repo.js";
import type { E2eeSyncReaders } from "../sync-service.js";
import type { StreamToken } from "../tokens.js";

/**
 * Sliding sync extensions (MSC3884 e2ee, MSC3885 to-device, MSC3959 account
 * data, MSC3960 receipts, MSC3961 typing): the same streams as /sync's
 * top-level sections and ephemeral events, from the connection's previous
 * position (`since`, undefined on a new connection) up to `upto`.
 */
export interface ExtensionDeps {
  e2ee: E2eeSyncReaders;
  typing: TypingService;
  receipts: ReceiptsService;
  accountData: { changedSince(userId: string, since: number, upTo?: number): Promise<AccountDataRow[]> };
  pushRules?: { accountDataContent(userId: string): Promise<Record<string, unknown>> };
  /** Device list changes between two positions (as GET /keys/changes). */
  keyChanges(userId: string, from: StreamToken, to: StreamToken): Promise<{ changed: string[]; left: string[] }>;
}

export interface ExtensionInput {
  userId: string;
  deviceId: string | null;
  since: StreamToken | undefined;
  upto: StreamToken;
  /** Enabled extensions and their (sticky) settings. */
  enabled: ReadonlyMap<string, Record<string, unknown>>;
  /** Joined rooms the lists and subscriptions cover (ephemeral extensions). */
  roomIds: readonly string[];
  /** Rooms sent with `initial` in this response: their receipts and typing are sent in full. */
  initialRooms: ReadonlySet<string>;
  /** Rooms the connection knows (account data per room). */
  knownRooms: ReadonlySet<string>;
}

const TO_DEVICE_LIMIT = 100;

export interface ExtensionOutput {
  body: JsonObject;
  /** Whether anything here is worth returning early from a long-poll. */
  hasData: boolean;
  /** The to_device position the next response continues from. */
  toDevicePos: number | undefined;
}

export async function buildExtensions(d: ExtensionDeps, x: ExtensionInput): Promise<ExtensionOutput> {
  const body: JsonObject = {};
  let hasData = false;
  let toDevicePos: number | undefined;

  const td = x.enabled.get("to_device");
  if (td && d.e2ee.toDevice && x.deviceId !== null) {
    const since = parsePos(td.since);
    const limit = typeof td.limit === "number" && td.limit > 0 ? Math.min(td.limit, TO_DEVICE_LIMIT) : TO_DEVICE_LIMIT;
    // A `since` acknowledges what came before it ("Send-to-Device messaging").
    if (since > 0) await d.e2ee.toDevice.deleteToDeviceUpTo(x.userId, x.deviceId, since);
    const batch =
      x.upto.to_device > since
        ? await d.e2ee.toDevice.getToDeviceMessages(x.userId, x.deviceId, since, x.upto.to_device, limit)
        : { events: [], position: since };
    const next = Math.max(batch.position, since);
    body.to_device = { next_batch: String(next), events: batch.events as unknown as JsonObject[] };
    if (batch.events.length > 0) hasData = true;
    toDevicePos = next;
  }

  if (x.enabled.has("e2ee")) {
    const e2ee: JsonObject = {};
    if (x.since) {
      const changes = await d.keyChanges(x.userId, x.since, x.upto);
      e2ee.device_lists = changes as unknown as JsonObject;
      if (changes.changed.length || changes.left.length) hasData = true;
    } else e2ee.device_lists = { changed: [], left: [] };
    const keys = d.e2ee.deviceKeys;
    e2ee.device_one_time_keys_count = keys && x.deviceId !== null ? await keys.getOneTimeKeyCounts(x.userId, x.deviceId) : {};
    e2ee.device_unused_fallback_key_types = keys && x.deviceId !== null ? await keys.getUnusedFallbackKeyTypes(x.userId, x.deviceId) : [];
    body.e2ee = e2ee;
  }

  if (x.enabled.has("account_data")) {
    const from = x.since?.account_data ?? 0;
    const global: JsonObject[] = [];
    const rooms: Record<string, JsonObject[]> = {};
    if (!x.since && d.pushRules) global.push({ type: "m.push_rules", content: (await d.pushRules.accountDataContent(x.userId)) as JsonObject });
    if (x.upto.account_data > from) {
      for (const row of await d.accountData.changedSince(x.userId, from, x.upto.account_data)) {
        const event = { type: row.type, content: row.content as JsonObject };
        if (row.room_id === "") {
          if (!x.since && row.type === "m.push_rules" && d.pushRules) continue;
          global.push(event);
        } else if (x.knownRooms.has(row.room_id)) (rooms[row.room_id] ??= []).push(event);
      }
    }
    if (global.length || Object.keys(rooms).length) hasData = true;
    body.account_data = { global, rooms: rooms as unknown as JsonObject };
  }

  if (x.enabled.has("typing")) {
    const rooms: Record<string, JsonObject> = {};
    const from = x.since?.typing ?? 0;
    const continuing = x.roomIds.filter((r) => !x.initialRooms.has(r));
    if (x.since)
      for (const [roomId, content] of d.typing.changesSince(continuing, from)) rooms[roomId] = { type: "m.typing", content: content as unknown as JsonObject };
    for (const roomId of x.since ? x.roomIds.filter((r) => x.initialRooms.has(r)) : x.roomIds) {
      const users = d.typing.typingIn(roomId);
      if (users.length) rooms[roomId] = { type: "m.typing", content: { user_ids: users } };
    }
    if (Object.keys(rooms).length) hasData = true;
    body.typing = { rooms: rooms as unknown as JsonObject };
  }

  if (x.enabled.has("receipts")) {
    const rooms: Record<string, JsonObject> = {};
    const from = x.since?.receipts ?? 0;
    const continuing = x.since ? x.roomIds.filter((r) => !x.initialRooms.has(r)) : [];
    const fresh = x.since ? x.roomIds.filter((r) => x.initialRooms.has(r)) : [...x.roomIds];
    if (continuing.length && x.upto.receipts > from) {
      for (const [roomId, content] of await d.receipts.forSync(x.userId, continuing, from, x.upto.receipts))
        rooms[roomId] = { type: "m.receipt", content: content as unknown as JsonObject };
    }
    if (fresh.length) {
      for (const [roomId, content] of await d.receipts.forSync(x.userId, fresh, 0, x.upto.receipts))
        rooms[roomId] = { type: "m.receipt", content: content as unknown as JsonObject };
    }
    if (Object.keys(rooms).length) hasData = true;
    body.receipts = { rooms: rooms as unknown as JsonObject };
  }

  return { body, hasData, toDevicePos };
}

function parsePos(v: unknown): number {
  if (typeof v === "string" && /^\d{1,15}$/.test(v)) return Number(v);
  if (typeof v === "number" && Number.isSafeInteger(v) && v >= 0) return v;
  return 0;
}
