import type { SharedTypingChange, TypingService } from "../ephemeral/typing.js";
import { lastTypingPosition, notifyTyping } from "../storage/cluster-repo.js";
import type { Sql } from "../storage/sql.js";
import { CLUSTER_CHANNEL, type ClusterBus } from "./bus.js";

/**
 * Typing across the processes of a cluster. Typing stays in memory, but every
 * change goes through PostgreSQL: one statement takes the next cluster-wide
 * typing position and sends the change, and every process (the sender too)
 * applies the changes in that order, so all hold the same lists at the same
 * positions and a /sync token from one process means the same on another.
 */
export async function shareTyping(sql: Sql, bus: ClusterBus, typing: TypingService, onError: (err: unknown) => void): Promise<void> {
  bus.on("ty", (m) => {
    const c = m.c as SharedTypingChange;
    typing.applyShared(c, m.pos as number);
  });
  let tail: Promise<void> = Promise.resolve();
  const send = (c: SharedTypingChange) => {
    const payload = JSON.stringify({ k: "ty", i: bus.instance, c, pos: 0 });
    tail = tail.then(() => notifyTyping(sql, CLUSTER_CHANNEL, payload)).catch(onError);
  };
  typing.setShared(send, await lastTypingPosition(sql));
}
