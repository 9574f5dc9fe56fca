/**
 * Typed "event persisted" notifications from the room writer (docs/ARCHITECTURE.md:
 * only rooms/ appends to the DAG and publishes; sync, the federation sender, push
 * and appservices subscribe). Notifications carry positions and keys, not
 * event data: a subscriber re-reads what it needs from storage.
 */
export interface EventPersisted {
  readonly roomId: string;
  readonly eventId: string;
  /** Position on the global room-event stream. Every position <= this one is committed. */
  readonly streamOrdering: number;
  readonly type: string;
  readonly stateKey: string | undefined;
  readonly sender: string;
  /** For m.room.member events: the new membership of `stateKey`. */
  readonly membership: string | undefined;
  /** Written by another process on the same database (scale-out): its side effects ran there. */
  readonly remote?: boolean;
}

export type EventPersistedListener = (n: EventPersisted) => void;

export class RoomEventBus {
  private readonly listeners = new Set<EventPersistedListener>();

  /** Subscribes; returns the unsubscribe function. */
  onPersisted(listener: EventPersistedListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Called by the writer, in stream order, once positions are contiguous. */
  publish(n: EventPersisted): void {
    for (const l of this.listeners) {
      try {
        l(n);
      } catch {
        // A faulty subscriber must not break the writer or other subscribers.
      }
    }
  }
}
