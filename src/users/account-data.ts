import { isValidRoomId } from "../core/ids.js";
import { forbidden, MatrixError, notFound } from "../http/errors.js";
import type { AccountDataRepo } from "../storage/account-data-repo.js";
import type { AccountEvents } from "./events.js";

/** Event types the server manages itself: clients may not set them (spec "Client Config"). */
const SERVER_MANAGED = new Set(["m.fully_read", "m.push_rules"]);

export const MAX_TAG_BYTES = 255;
export const MAX_TYPE_BYTES = 255;

/** Global and per-room account data, and room tags (kept as the room's `m.tag`). */
export class AccountDataService {
  constructor(
    private readonly repo: AccountDataRepo,
    private readonly events: AccountEvents,
  ) {}

  private check(requesterId: string, userId: string, roomId: string | null, type?: string): void {
    if (requesterId !== userId) throw forbidden("You may only access your own account data");
    if (roomId !== null && !isValidRoomId(roomId)) throw new MatrixError(400, "M_INVALID_PARAM", "Invalid room id");
    if (type !== undefined && (type === "" || Buffer.byteLength(type, "utf8") > MAX_TYPE_BYTES)) {
      throw new MatrixError(400, "M_INVALID_PARAM", "Account data type must be 1 to 255 bytes");
    }
  }

  async put(requesterId: string, userId: string, roomId: string | null, type: string, content: Record<string, unknown>): Promise<void> {
    this.check(requesterId, userId, roomId, type);
    if (SERVER_MANAGED.has(type)) {
      throw new MatrixError(405, "M_BAD_JSON", `'${type}' is managed by the server and cannot be set here`);
    }
    const streamPos = await this.repo.put(userId, roomId, type, content);
    await this.events.emit("accountDataChanged", { userId, roomId, type, streamPos });
  }

  /** For other areas (read markers, push rules) that write server-managed types. */
  async putInternal(userId: string, roomId: string | null, type: string, content: Record<string, unknown>): Promise<number> {
    const streamPos = await this.repo.put(userId, roomId, type, content);
    await this.events.emit("accountDataChanged", { userId, roomId, type, streamPos });
    return streamPos;
  }

  async get(requesterId: string, userId: string, roomId: string | null, type: string): Promise<Record<string, unknown>> {
    this.check(requesterId, userId, roomId, type);
    const content = await this.repo.get(userId, roomId, type);
    if (content === undefined) throw notFound("Account data not found");
    return content;
  }

  // --- tags (spec "Room Tagging") ---

  async getTags(requesterId: string, userId: string, roomId: string): Promise<Record<string, Record<string, unknown>>> {
    this.check(requesterId, userId, roomId);
    const content = await this.repo.get(userId, roomId, "m.tag");
    return (content?.tags as Record<string, Record<string, unknown>> | undefined) ?? {};
  }

  async setTag(requesterId: string, userId: string, roomId: string, tag: string, info: Record<string, unknown>): Promise<void> {
    this.check(requesterId, userId, roomId);
    if (tag === "" || Buffer.byteLength(tag, "utf8") > MAX_TAG_BYTES) throw new MatrixError(400, "M_INVALID_PARAM", "Tag must be 1 to 255 bytes");
    const { position } = await this.repo.update(userId, roomId, "m.tag", (cur) => {
      const tags = { ...((cur?.tags as Record<string, unknown> | undefined) ?? {}) };
      tags[tag] = info;
      return { tags };
    });
    await this.events.emit("accountDataChanged", { userId, roomId, type: "m.tag", streamPos: position });
  }

  async deleteTag(requesterId: string, userId: string, roomId: string, tag: string): Promise<void> {
    this.check(requesterId, userId, roomId);
    const { position } = await this.repo.update(userId, roomId, "m.tag", (cur) => {
      const tags = { ...((cur?.tags as Record<string, unknown> | undefined) ?? {}) };
      delete tags[tag];
      return { tags };
    });
    await this.events.emit("accountDataChanged", { userId, roomId, type: "m.tag", streamPos: position });
  }
}
