/**
 * "Auth difference": with C_i the full auth chain of state set S_i (the union
 * of the auth chains of its events), the events in some but not all C_i.
 */
import type { EventLoader } from "./event-loader.js";
import type { StateMap } from "./types.js";

export async function authDifference(stateSets: readonly StateMap[], loader: EventLoader): Promise<Set<string>> {
  const chains: Set<string>[] = [];
  for (const s of stateSets) chains.push(await loader.authChain([...s.values()]));
  const union = new Set<string>();
  for (const c of chains) for (const id of c) union.add(id);
  const diff = new Set<string>();
  for (const id of union) {
    if (!chains.every((c) => c.has(id))) diff.add(id);
  }
  return diff;
}
