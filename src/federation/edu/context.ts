/**
 * What the handlers of received EDUs need ("EDUs", server-server API): the
 * services that hold typing, receipts, presence, to-device messages and
 * remote device lists, and the membership checks that decide whether the
 * sending server may speak for a user in a room.
 */
import type { RemoteDeviceLists } from "../../e2ee/remote-device-lists.js";
import type { ToDeviceService } from "../../e2ee/to-device.js";
import type { PresenceService } from "../../ephemeral/presence.js";
import type { ReceiptsService } from "../../ephemeral/receipts.js";
import type { TypingService } from "../../ephemeral/typing.js";
import type { Logger } from "../../logging.js";

export interface InboundEduDeps {
  serverName: string;
  /** The user's membership in the room's current state is `join`. */
  isJoined(userId: string, roomId: string): Promise<boolean>;
  /**
   * Server ACLs ("Server Access Control Lists (ACLs)": they apply to EDUs
   * that concern a room too): whether `server` may take part in the room.
   * Everything is allowed when absent.
   */
  serverAllowedInRoom?(server: string, roomId: string): Promise<boolean>;
  /** A local user shares a room with `userId` (presence and device lists of others are not kept). */
  isTracked(userId: string): Promise<boolean>;
  typing: Pick<TypingService, "setTyping">;
  receipts: Pick<ReceiptsService, "receiveRemote">;
  presence: Pick<PresenceService, "receiveRemote">;
  toDevice: Pick<ToDeviceService, "receiveRemote">;
  deviceLists: Pick<RemoteDeviceLists, "onUpdate" | "onSigningKeyUpdate">;
  log: Logger;
}

/** One EDU type's handler: `content` from `origin`, never trusted. */
export type EduHandler = (deps: InboundEduDeps, origin: string, content: Record<string, unknown>) => Promise<void>;
