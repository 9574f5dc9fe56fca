/**
 * State resolution v1 (rooms/v1.md "State resolution"), kept for room
 * version 1. Known to reset state; later versions fixed that.
 */
import { createHash } from "node:crypto";
import type { RoomEvent } from "../events/pdu.js";
import { splitStateMapKey, stateMapKey, type AuthState, type StateMapKey } from "../events/state-map.js";
import type { RoomVersion } from "../room-versions.js";
import { checkAuth } from "../auth/check-auth.js";
import { EventLoader } from "./event-loader.js";
import { splitConflicts } from "./split.js";
import type { StateMap, StateResDeps } from "./types.js";

function sha1Hex(id: string): string {
  return createHash("sha1").update(id, "utf8").digest("hex");
}

/** Ascending depth, then descending sha1(event_id). */
function authOrder(a: RoomEvent, b: RoomEvent): number {
  if (a.depth !== b.depth) return a.depth - b.depth;
  const ha = sha1Hex(a.eventId);
  const hb = sha1Hex(b.eventId);
  return ha < hb ? 1 : ha > hb ? -1 : 0;
}

class LoaderState implements AuthState {
  constructor(private readonly state: Map<StateMapKey, string>, private readonly loader: EventLoader) {}
  get(type: string, stateKey: string): RoomEvent | undefined {
    const id = this.state.get(stateMapKey(type, stateKey));
    return id === undefined ? undefined : this.loader.get(id);
  }
}

export async function resolveStateV1(rv: RoomVersion, stateSets: readonly StateMap[], deps: StateResDeps): Promise<Map<StateMapKey, string>> {
  const split = splitConflicts(stateSets);
  const resolved = new Map(split.unconflicted);
  if (split.conflicted.size === 0) return resolved;
  const loader = new EventLoader(deps);
  const all = new Set<string>();
  for (const ids of split.conflicted.values()) for (const id of ids) all.add(id);
  for (const id of resolved.values()) all.add(id);
  await loader.load(all);
  const authState = new LoaderState(resolved, loader);
  const eventsOf = (ids: Set<string>) => [...ids].map((id) => loader.get(id)).filter((e): e is RoomEvent => e !== undefined);

  // Power levels, then join rules, then memberships: take the first by
  // (depth ASC, sha1 DESC), then keep applying while each next one passes auth.
  const authPass = (pred: (type: string) => boolean) => {
    for (const [key, ids] of split.conflicted) {
      if (!pred(splitStateMapKey(key).type)) continue;
      const list = eventsOf(ids).sort(authOrder);
      if (list.length === 0) continue;
      resolved.set(key, list[0].eventId);
      for (const e of list.slice(1)) {
        if (!checkAuth(e, authState, rv).allowed) break;
        resolved.set(key, e.eventId);
      }
    }
  };
  authPass((t) => t === "m.room.power_levels");
  authPass((t) => t === "m.room.join_rules");
  authPass((t) => t === "m.room.member");

  // Everything else: highest depth, lowest sha1, that passes auth in R (or,
  // if none does, the last candidate, as deployed servers do).
  for (const [key, ids] of split.conflicted) {
    const { type } = splitStateMapKey(key);
    if (type === "m.room.power_levels" || type === "m.room.join_rules" || type === "m.room.member") continue;
    const list = eventsOf(ids).sort((a, b) => -authOrder(a, b));
    const pick = list.find((e) => checkAuth(e, authState, rv).allowed) ?? list[list.length - 1];
    if (pick !== undefined) resolved.set(key, pick.eventId);
    await loader.tick();
  }
  return resolved;
}
