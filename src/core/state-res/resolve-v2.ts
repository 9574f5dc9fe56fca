/**
 * State resolution v2 (rooms v2-v11, rooms/fragments/v2-state-res "Algorithm")
 * and v2.1 (room v12: empty starting state for step 2 and the conflicted
 * state subgraph in the full conflicted set).
 */
import { getOwn } from "../json.js";
import type { RoomEvent } from "../events/pdu.js";
import { stateMapKey, type StateMapKey } from "../events/state-map.js";
import { createEventIdFromRoomId } from "../events/event-id.js";
import type { RoomVersion } from "../room-versions.js";
import { authDifference } from "./auth-difference.js";
import { conflictedSubgraph } from "./conflicted-subgraph.js";
import { EventLoader } from "./event-loader.js";
import { iterativeAuthChecks } from "./iterative-auth.js";
import { mainlineSort } from "./mainline-sort.js";
import { reverseTopologicalPowerSort } from "./power-sort.js";
import { conflictedEventIds, splitConflicts } from "./split.js";
import type { StateMap, StateResDeps } from "./types.js";

/** "Power events": power levels, join rules, and kicks/bans of others. */
export function isPowerEvent(e: RoomEvent): boolean {
  if (e.stateKey === undefined) return false;
  if (e.type === "m.room.power_levels" || e.type === "m.room.join_rules") return e.stateKey === "";
  if (e.type === "m.room.member") {
    const m = getOwn(e.content, "membership");
    return (m === "leave" || m === "ban") && e.sender !== e.stateKey;
  }
  return false;
}

export async function resolveStateV2(
  rv: RoomVersion,
  stateSets: readonly StateMap[],
  deps: StateResDeps,
): Promise<Map<StateMapKey, string>> {
  const split = splitConflicts(stateSets);
  if (split.conflicted.size === 0) return split.unconflicted;
  const loader = new EventLoader(deps);
  const v21 = rv.stateRes === "v2.1";

  // Full conflicted set = conflicted state set ∪ auth difference (∪ v2.1 subgraph).
  const conflicted = conflictedEventIds(split);
  const full = new Set(conflicted);
  for (const id of await authDifference(stateSets, loader)) full.add(id);
  if (v21) for (const id of await conflictedSubgraph(conflicted, loader)) full.add(id);
  await loader.load(full);
  // Events we cannot load cannot take part (they can be neither sorted nor checked).
  for (const id of full) if (loader.get(id) === undefined) full.delete(id);

  let roomCreate: RoomEvent | undefined;
  if (rv.roomIdIsCreateEventHash) {
    const any = loader.get(full.values().next().value as string);
    if (any !== undefined) {
      const createId = any.type === "m.room.create" && any.stateKey === "" ? any.eventId : createEventIdFromRoomId(any.roomId);
      await loader.load([createId]);
      roomCreate = loader.get(createId);
    }
  }

  // Step 1: power events of the full conflicted set plus their auth ancestry
  // inside it (following auth_events through members of the set only, as
  // deployed implementations do).
  const power = new Set<string>();
  const stack: string[] = [];
  for (const id of full) {
    const e = loader.get(id);
    if (e !== undefined && isPowerEvent(e)) stack.push(id);
  }
  while (stack.length > 0) {
    const id = stack.pop() as string;
    if (power.has(id)) continue;
    power.add(id);
    for (const a of loader.get(id)?.authEvents ?? []) if (full.has(a) && !power.has(a)) stack.push(a);
    await loader.tick();
  }
  // Sender levels come from each event's auth events.
  const authIds = new Set<string>();
  for (const id of power) for (const a of loader.get(id)?.authEvents ?? []) authIds.add(a);
  await loader.load(authIds);
  const powerOrdered = await reverseTopologicalPowerSort(power, loader, rv, roomCreate);

  // Step 2
  const partial = await iterativeAuthChecks(powerOrdered, v21 ? new Map() : split.unconflicted, loader, rv, roomCreate);

  // Step 3: the remaining events by mainline order of the resolved power levels.
  const rest = [...full].filter((id) => !power.has(id));
  const plId = partial.get(stateMapKey("m.room.power_levels", ""));
  if (plId !== undefined) await loader.load([plId]);
  const restOrdered = await mainlineSort(rest, plId === undefined ? undefined : loader.get(plId), loader);

  // Step 4
  const resolved = await iterativeAuthChecks(restOrdered, partial, loader, rv, roomCreate);

  // Step 5
  for (const [k, v] of split.unconflicted) resolved.set(k, v);
  return resolved;
}
