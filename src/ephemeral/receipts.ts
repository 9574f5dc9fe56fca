import { MatrixError } from "../http/errors.js";
import type { ReceiptsRepo, ReceiptRow } from "../storage/receipts-repo.js";
import type { Notifier } from "../sync/notifier.js";
import type { Clock } from "./typing.js";

/** What the receipts service needs from rooms (narrow on purpose). */
export interface RoomAccess {
  isJoined(userId: string, roomId: string): Promise<boolean>;
  /** True when the event exists in this room. */
  hasEvent(roomId: string, eventId: string): Promise<boolean>;
}

export const PUBLIC_READ = "m.read";
export const PRIVATE_READ = "m.read.private";
export const RECEIPT_TYPES = new Set([PUBLIC_READ, PRIVATE_READ]);

/** The m.receipt EDU content: event id -> receipt type -> user id -> { ts, thread_id? }. */
export type ReceiptContent = Record<string, Record<string, Record<string, { ts: number; thread_id?: string }>>>;

/** A public read receipt as it was stored (what federation sends on as m.receipt). */
export interface StoredReceipt {
  roomId: string;
  userId: string;
  eventId: string;
  threadId: string | undefined;
  ts: number;
}

export class ReceiptsService {
  private readonly listeners: Array<(r: StoredReceipt) => void> = [];

  constructor(
    private readonly repo: ReceiptsRepo,
    private readonly rooms: RoomAccess,
    private readonly notifier: Notifier,
    private readonly clock: Clock = { now: () => Date.now() },
    /** A receipt moved (thread '' when unthreaded): unread counts follow it before anyone is woken. */
    private readonly onMoved?: (userId: string, roomId: string, threadId: string, eventId: string) => Promise<void>,
  ) {}

  /** POST /rooms/{roomId}/receipt/{receiptType}/{eventId} for m.read and m.read.private. */
  async setReceipt(userId: string, roomId: string, receiptType: string, eventId: string, threadId: string | undefined): Promise<void> {
    if (!RECEIPT_TYPES.has(receiptType)) throw new MatrixError(400, "M_INVALID_PARAM", `Unknown receipt type ${receiptType}`);
    if (threadId !== undefined && (threadId === "" || (threadId !== "main" && !threadId.startsWith("$")))) {
      throw new MatrixError(400, "M_INVALID_PARAM", "thread_id must be 'main' or the event id of a thread root");
    }
    if (!(await this.rooms.isJoined(userId, roomId))) throw new MatrixError(403, "M_FORBIDDEN", "You are not joined to this room");
    if (!(await this.rooms.hasEvent(roomId, eventId))) throw new MatrixError(404, "M_NOT_FOUND", "No such event in this room");
    const ts = this.clock.now();
    const position = await this.repo.upsert({
      room_id: roomId,
      receipt_type: receiptType,
      user_id: userId,
      thread_id: threadId ?? "",
      event_id: eventId,
      ts,
    });
    await this.onMoved?.(userId, roomId, threadId ?? "", eventId);
    // A private receipt concerns its owner only; a public one the whole room.
    this.notifier.notify("receipts", position, receiptType === PRIVATE_READ ? { userIds: [userId] } : { roomIds: [roomId] });
    if (receiptType === PUBLIC_READ) for (const fn of this.listeners) fn({ roomId, userId, eventId, threadId, ts });
  }

  /** Called after each public read receipt of a local user is stored. */
  onPublicReceipt(fn: (r: StoredReceipt) => void): void {
    this.listeners.push(fn);
  }

  /**
   * A public read receipt received over federation (m.receipt), already
   * checked against the room's membership. The event need not be known here
   * yet: receipts may arrive before the event they point to.
   */
  async receiveRemote(r: StoredReceipt): Promise<void> {
    const position = await this.repo.upsert({
      room_id: r.roomId,
      receipt_type: PUBLIC_READ,
      user_id: r.userId,
      thread_id: r.threadId ?? "",
      event_id: r.eventId,
      ts: r.ts,
    });
    this.notifier.notify("receipts", position, { roomIds: [r.roomId] });
  }

  currentPosition(): Promise<number> {
    return this.repo.currentPosition();
  }

  /**
   * m.receipt contents per room for a /sync response: receipts in (since, upto]
   * (all current ones when since is 0), private receipts only for their owner.
   */
  async forSync(viewerId: string, roomIds: readonly string[], since: number, upto: number): Promise<Map<string, ReceiptContent>> {
    const rows = await this.repo.changedIn(roomIds, since, upto);
    const out = new Map<string, ReceiptContent>();
    for (const row of rows) {
      if (row.receipt_type === PRIVATE_READ && row.user_id !== viewerId) continue;
      addReceipt(out, row);
    }
    return out;
  }
}

function addReceipt(out: Map<string, ReceiptContent>, row: ReceiptRow): void {
  let content = out.get(row.room_id);
  if (!content) out.set(row.room_id, (content = {}));
  const byType = (content[row.event_id] ??= {});
  const byUser = (byType[row.receipt_type] ??= {});
  byUser[row.user_id] = row.thread_id ? { ts: row.ts, thread_id: row.thread_id } : { ts: row.ts };
}
