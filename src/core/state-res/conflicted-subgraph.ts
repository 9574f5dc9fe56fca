/**
 * v2.1 (room version 12) "Conflicted state subgraph": every event on an
 * auth_events path between two events of the conflicted state set,
 * endpoints included. An event is on such a path iff it is reachable from a
 * conflicted event and itself reaches a conflicted event (or is one).
 */
import type { EventLoader } from "./event-loader.js";

export async function conflictedSubgraph(conflicted: ReadonlySet<string>, loader: EventLoader): Promise<Set<string>> {
  // Everything reachable from the conflicted events through auth_events.
  const reachable = new Set<string>(conflicted);
  let frontier = [...conflicted];
  while (frontier.length > 0) {
    await loader.load(frontier);
    const next: string[] = [];
    for (const id of frontier) {
      for (const a of loader.get(id)?.authEvents ?? []) {
        if (!reachable.has(a)) {
          reachable.add(a);
          next.push(a);
        }
      }
    }
    await loader.tick(frontier.length);
    frontier = next;
  }

  // reaches(x): x is conflicted or an auth event of x reaches a conflicted
  // event. Iterative post-order DFS: auth chains can be thousands deep.
  const reaches = new Map<string, boolean>();
  for (const start of reachable) {
    if (reaches.has(start)) continue;
    const stack: Array<{ id: string; i: number; hit: boolean }> = [{ id: start, i: 0, hit: conflicted.has(start) }];
    const onStack = new Set<string>([start]);
    while (stack.length > 0) {
      const top = stack[stack.length - 1];
      const auth = loader.get(top.id)?.authEvents ?? [];
      if (top.i < auth.length) {
        const child = auth[top.i++];
        const known = reaches.get(child);
        if (known !== undefined) {
          if (known) top.hit = true;
        } else if (reachable.has(child) && !onStack.has(child)) {
          stack.push({ id: child, i: 0, hit: conflicted.has(child) });
          onStack.add(child);
        }
        continue;
      }
      stack.pop();
      onStack.delete(top.id);
      reaches.set(top.id, top.hit);
      if (top.hit && stack.length > 0) stack[stack.length - 1].hit = true;
    }
    await loader.tick();
  }
  const out = new Set<string>();
  for (const id of reachable) if (reaches.get(id) === true) out.add(id);
  return out;
}
