import { ClientEvent, RoomEvent, SyncState, type MatrixClient, type Room } from "matrix-js-sdk";

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
