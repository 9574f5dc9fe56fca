/**
 * Orders a batch of fetched events so that an event comes after the events
 * of the batch it points to (prev_events for history, auth_events for
 * outliers): the room input can then place each one on what came before.
 * Ties go by depth, then id, so the order does not depend on the answer's.
 * Cycles (only a lying remote makes them) are broken by that same order.
 */
import { getOwn, type Pdu } from "../../core/index.js";
import type { FetchedPdu } from "./remote-events.js";

export function idList(pdu: Pdu, key: "prev_events" | "auth_events"): string[] {
  const v = getOwn(pdu, key);
  if (!Array.isArray(v)) return [];
  // Room versions 1 and 2 list [id, hashes] pairs.
  return v.map((x) => (Array.isArray(x) ? x[0] : x)).filter((x): x is string => typeof x === "string");
}

export function depthOf(pdu: Pdu): number {
  const d = getOwn(pdu, "depth");
  return typeof d === "number" && Number.isSafeInteger(d) ? d : 0;
}

export function orderBatch(batch: readonly FetchedPdu[], by: "prev_events" | "auth_events"): FetchedPdu[] {
  const byId = new Map(batch.map((b) => [b.id, b]));
  const sorted = [...byId.values()].sort((a, b) => depthOf(a.pdu) - depthOf(b.pdu) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const out: FetchedPdu[] = [];
  const state = new Map<string, "visiting" | "done">();
  // Iterative depth-first walk (a deep chain must not exhaust the stack).
  for (const root of sorted) {
    if (state.has(root.id)) continue;
    const stack: Array<{ item: FetchedPdu; parents: string[]; i: number }> = [{ item: root, parents: idList(root.pdu, by), i: 0 }];
    state.set(root.id, "visiting");
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      if (top.i < top.parents.length) {
        const p = byId.get(top.parents[top.i++]!);
        if (p && !state.has(p.id)) {
          state.set(p.id, "visiting");
          stack.push({ item: p, parents: idList(p.pdu, by), i: 0 });
        }
        continue;
      }
      stack.pop();
      state.set(top.item.id, "done");
      out.push(top.item);
    }
  }
  return out;
}

/**
 * The events of `batch` from which `start` (ids) reach back, through
 * prev_events within the batch: what a get_missing_events answer may hold.
 * Anything else in the answer was not asked for.
 */
export function reachableFrom(start: readonly string[], batch: readonly FetchedPdu[]): FetchedPdu[] {
  const byId = new Map(batch.map((b) => [b.id, b]));
  const seen = new Set<string>();
  const todo = [...start];
  while (todo.length > 0) {
    const id = todo.pop()!;
    const b = byId.get(id);
    if (!b || seen.has(id)) continue;
    seen.add(id);
    todo.push(...idList(b.pdu, "prev_events"));
  }
  return batch.filter((b) => seen.has(b.id));
}
