/**
 * `resolveState(roomVersion, stateSets, deps)`: the resolved state of several
 * state sets, using the room version's algorithm.
 */
import type { StateMapKey } from "../events/state-map.js";
import type { RoomVersion } from "../room-versions.js";
import { resolveStateV1 } from "./resolve-v1.js";
import { resolveStateV2 } from "./resolve-v2.js";
import type { StateMap, StateResDeps } from "./types.js";

export type { StateMap, StateResDeps } from "./types.js";
export { isPowerEvent } from "./resolve-v2.js";
export { splitConflicts } from "./split.js";

export async function resolveState(rv: RoomVersion, stateSets: readonly StateMap[], deps: StateResDeps): Promise<Map<StateMapKey, string>> {
  if (stateSets.length === 0) return new Map();
  if (stateSets.length === 1) return new Map(stateSets[0]);
  return rv.stateRes === "v1" ? resolveStateV1(rv, stateSets, deps) : resolveStateV2(rv, stateSets, deps);
}
