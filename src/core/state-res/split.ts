/**
 * "Unconflicted state map and conflicted state set": a key whose value is the
 * same in every state set is unconflicted; every other value is conflicted.
 */
import type { StateMapKey } from "../events/state-map.js";
import type { StateMap } from "./types.js";

export interface SplitState {
  readonly unconflicted: Map<StateMapKey, string>;
  /** key -> the distinct event ids the sets disagree on. */
  readonly conflicted: Map<StateMapKey, Set<string>>;
}

export function splitConflicts(stateSets: readonly StateMap[]): SplitState {
  const unconflicted = new Map<StateMapKey, string>();
  const conflicted = new Map<StateMapKey, Set<string>>();
  const keys = new Set<StateMapKey>();
  for (const s of stateSets) for (const k of s.keys()) keys.add(k);
  for (const key of keys) {
    const first = stateSets[0]?.get(key);
    let same = first !== undefined;
    for (let i = 1; same && i < stateSets.length; i++) same = stateSets[i].get(key) === first;
    if (same && first !== undefined) {
      unconflicted.set(key, first);
      continue;
    }
    const values = new Set<string>();
    for (const s of stateSets) {
      const v = s.get(key);
      if (v !== undefined) values.add(v);
    }
    conflicted.set(key, values);
  }
  return { unconflicted, conflicted };
}

export function conflictedEventIds(split: SplitState): Set<string> {
  const out = new Set<string>();
  for (const ids of split.conflicted.values()) for (const id of ids) out.add(id);
  return out;
}
