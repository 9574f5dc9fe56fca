import { isJsonObject, type JsonObject } from "../../core/index.js";
import type { Edu } from "../outbound.js";

export interface EphemeralEduOptions {
  /** An EDU not sent within this long is dropped (the destination stays down; it is stale by then). */
  ttlMs: number;
  /** At most this many queued per destination; the oldest go first. */
  maxPerDestination: number;
  now(): number;
}

interface Entry {
  edu: Edu;
  ts: number;
}

/**
 * EDUs that may be lost (typing, receipts, presence): kept in memory per
 * destination until a transaction takes them. Updates that replace an
 * earlier one coalesce: typing per room and user, presence per user, receipts
 * per room, receipt type and user (server-server "Typing Notifications",
 * "Presence", "Receipts"); presence and receipts leave as one EDU each per
 * transaction.
 */
export class EphemeralEduQueue {
  private readonly queues = new Map<string, Map<string, Entry>>();
  private seq = 0;

  constructor(private readonly o: EphemeralEduOptions) {}

  push(destination: string, edu: Edu): void {
    let q = this.queues.get(destination);
    if (!q) this.queues.set(destination, (q = new Map()));
    const ts = this.o.now();
    for (const [key, part] of split(edu)) {
      const k = key ?? `#${++this.seq}`;
      // Deleting first moves a replaced update to the end: order follows the latest change.
      q.delete(k);
      q.set(k, { edu: part, ts });
    }
    while (q.size > this.o.maxPerDestination) q.delete(q.keys().next().value as string);
  }

  has(destination: string): boolean {
    this.expire(destination);
    return (this.queues.get(destination)?.size ?? 0) > 0;
  }

  /** Takes up to `limit` EDUs (presence and receipt updates merged), oldest first. */
  take(destination: string, limit: number): { edus: Edu[]; more: boolean } {
    this.expire(destination);
    const q = this.queues.get(destination);
    if (!q || limit <= 0) return { edus: [], more: (q?.size ?? 0) > 0 };
    const out: Edu[] = [];
    let presence: JsonObject[] | undefined;
    let receipts: JsonObject | undefined;
    for (const [k, e] of q) {
      const t = e.edu.edu_type;
      if (t === "m.presence") {
        if (!presence) {
          if (out.length >= limit) break;
          presence = [];
          out.push({ edu_type: t, content: { push: presence } });
        }
        presence.push(...((e.edu.content.push as JsonObject[] | undefined) ?? []));
      } else if (t === "m.receipt") {
        if (!receipts) {
          if (out.length >= limit) break;
          receipts = {};
          out.push({ edu_type: t, content: receipts });
        }
        mergeReceipt(receipts, e.edu.content);
      } else {
        if (out.length >= limit) break;
        out.push(e.edu);
      }
      q.delete(k);
    }
    if (q.size === 0) this.queues.delete(destination);
    return { edus: out, more: q.size > 0 };
  }

  private expire(destination: string): void {
    const q = this.queues.get(destination);
    if (!q) return;
    const oldest = this.o.now() - this.o.ttlMs;
    for (const [k, e] of q) {
      if (e.ts >= oldest) break;
      q.delete(k);
    }
    if (q.size === 0) this.queues.delete(destination);
  }
}

/** The coalescing key of each part of an EDU (undefined: kept as it is). */
function split(edu: Edu): Array<[string | undefined, Edu]> {
  const c = edu.content;
  if (edu.edu_type === "m.typing" && typeof c.room_id === "string" && typeof c.user_id === "string") {
    return [[`typing\u0000${c.room_id}\u0000${c.user_id}`, edu]];
  }
  if (edu.edu_type === "m.presence" && Array.isArray(c.push)) {
    const out: Array<[string | undefined, Edu]> = [];
    for (const p of c.push) {
      if (isJsonObject(p) && typeof p.user_id === "string") out.push([`presence\u0000${p.user_id}`, { edu_type: "m.presence", content: { push: [p] } }]);
    }
    return out;
  }
  if (edu.edu_type === "m.receipt") {
    const out: Array<[string | undefined, Edu]> = [];
    for (const [roomId, byType] of Object.entries(c)) {
      if (!isJsonObject(byType)) continue;
      for (const [type, byUser] of Object.entries(byType)) {
        if (!isJsonObject(byUser)) continue;
        for (const [userId, receipt] of Object.entries(byUser)) {
          out.push([`receipt\u0000${roomId}\u0000${type}\u0000${userId}`, { edu_type: "m.receipt", content: { [roomId]: { [type]: { [userId]: receipt } } } }]);
        }
      }
    }
    return out;
  }
  return [[undefined, edu]];
}

function mergeReceipt(into: JsonObject, part: JsonObject): void {
  for (const [roomId, byType] of Object.entries(part)) {
    const room = (into[roomId] ??= {}) as JsonObject;
    for (const [type, byUser] of Object.entries(byType as JsonObject)) {
      const users = (room[type] ??= {}) as JsonObject;
      Object.assign(users, byUser as JsonObject);
    }
  }
}
