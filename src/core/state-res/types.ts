/**
 * Inputs of state resolution. All I/O is injected: the rooms layer supplies
 * events and (ideally indexed) auth chains; core only computes.
 */
import type { RoomEvent } from "../events/pdu.js";
import type { StateMapKey } from "../events/state-map.js";

/** A room state: (type, state_key) key (see `stateMapKey`) -> event id. */
export type StateMap = ReadonlyMap<StateMapKey, string>;

export interface StateResDeps {
  /** Loads events by id in one batch; unknown ids are left out of the result. Preferred. */
  fetchEvents?(ids: readonly string[]): Promise<ReadonlyMap<string, RoomEvent>>;
  /** Single-event alternative to `fetchEvents` (called concurrently per batch). */
  fetchEvent?(id: string): Promise<RoomEvent | undefined>;
  /**
   * The union of the auth chains of the given events (every event reachable
   * through auth_events, excluding the given events unless reachable). When
   * absent, core walks auth_events through `fetchEvents`.
   */
  authChain?(eventIds: readonly string[]): Promise<ReadonlySet<string>>;
  /** Events rejected at receipt; such auth events are not used by the iterative auth checks. */
  isRejected?(eventId: string): boolean;
  /** Gives the event loop a turn during long runs; default `setImmediate`. */
  yieldToEventLoop?(): Promise<void>;
}

export const defaultYield = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Yield every this many units of work (events sorted, checked, walked). */
export const YIELD_EVERY = 200;
