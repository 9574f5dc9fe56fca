import { expect } from "vitest";
import { ClientEvent, MatrixEventEvent, RoomEvent, SyncState, type MatrixClient, type MatrixEvent, type Room } from "matrix-js-sdk";

// Shared ways to drive matrix-js-sdk clients through their real sync loop.

/** Starts the client's sync loop and resolves once it reports PREPARED. */
export async function startAndWait(c: MatrixClient): Promise<void> {
  const prepared = new Promise<void>((resolve, reject) => {
    const onSync = (state: SyncState) => {
      if (state === SyncState.Prepared) {
        c.off(ClientEvent.Sync, onSync);
        resolve();
      } else if (state === SyncState.Error) reject(new Error("sync error"));
    };
    c.on(ClientEvent.Sync, onSync);
  });
  await c.startClient({ initialSyncLimit: 10 });
  await prepared;
}

/** Resolves with the first emission of `event` that `match` accepts (or rejects after `ms`). */
export function waitFor<A extends unknown[]>(c: MatrixClient, event: string, match: (...args: A) => boolean, ms = 20_000): Promise<A> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      c.off(event as never, handler as never);
      reject(new Error(`timed out waiting for ${event}`));
    }, ms);
    const handler = (...args: A) => {
      if (!match(...args)) return;
      clearTimeout(timer);
      c.off(event as never, handler as never);
      resolve(args);
    };
    c.on(event as never, handler as never);
  });
}

/** The client's Room once its own membership there is `membership`. */
export async function roomOf(c: MatrixClient, roomId: string, membership: string): Promise<Room> {
  const now = c.getRoom(roomId);
  if (now?.getMyMembership() === membership) return now;
  await waitFor(c, RoomEvent.MyMembership, (room: Room, m: string) => room.roomId === roomId && m === membership);
  return c.getRoom(roomId)!;
}

/** The clear text of the next event with this encrypted body that `c` sees in `roomId`. */
export async function decrypted(c: MatrixClient, roomId: string, send: () => Promise<{ event_id: string }>): Promise<string> {
  const seen = new Promise<MatrixEvent>((resolve) => {
    let eventId: string | undefined;
    const pending: MatrixEvent[] = [];
    const onTimeline = (e: MatrixEvent) => {
      if (e.getRoomId() !== roomId) return;
      if (eventId === undefined) pending.push(e);
      else if (e.getId() === eventId) resolve(e);
    };
    c.on(RoomEvent.Timeline, onTimeline);
    void send().then((r) => {
      eventId = r.event_id;
      const hit = pending.find((e) => e.getId() === eventId);
      if (hit) resolve(hit);
    });
  });
  const event = await seen;
  expect(event.getWireType()).toBe("m.room.encrypted");
  return clearText(event);
}

/** The clear text body of an encrypted event, once the client has decrypted it. */
export async function clearText(e: MatrixEvent): Promise<string> {
  if (e.isBeingDecrypted() || e.getType() === "m.room.encrypted") {
    await new Promise<void>((resolve) => {
      if (!e.isBeingDecrypted() && e.getType() !== "m.room.encrypted") return resolve();
      e.once(MatrixEventEvent.Decrypted, () => resolve());
    });
  }
  expect(e.isDecryptionFailure(), `decryption failed: ${e.decryptionFailureReason}`).toBe(false);
  return e.getContent().body as string;
}
