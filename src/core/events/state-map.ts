/**
 * State maps: `(event_type, state_key)` -> value. Keys are encoded into one
 * string with a length prefix so no choice of type or state key can collide.
 */
import type { RoomEvent } from "./pdu.js";

export type StateMapKey = string;

export function stateMapKey(type: string, stateKey: string): StateMapKey {
  return `${type.length}:${type}${stateKey}`;
}

export function splitStateMapKey(key: StateMapKey): { type: string; stateKey: string } {
  const colon = key.indexOf(":");
  const len = Number(key.slice(0, colon));
  return { type: key.slice(colon + 1, colon + 1 + len), stateKey: key.slice(colon + 1 + len) };
}

/** Room state as the auth rules read it. */
export interface AuthState {
  get(type: string, stateKey: string): RoomEvent | undefined;
}

/** A mutable state of events keyed by (type, state_key). */
export class EventStateMap implements AuthState {
  private readonly map = new Map<StateMapKey, RoomEvent>();

  constructor(events: Iterable<RoomEvent> = []) {
    for (const e of events) this.add(e);
  }

  get(type: string, stateKey: string): RoomEvent | undefined {
    return this.map.get(stateMapKey(type, stateKey));
  }

  /** Adds a state event (message events are ignored). */
  add(event: RoomEvent): void {
    if (event.stateKey !== undefined) this.map.set(stateMapKey(event.type, event.stateKey), event);
  }

  values(): IterableIterator<RoomEvent> {
    return this.map.values();
  }

  get size(): number {
    return this.map.size;
  }
}
