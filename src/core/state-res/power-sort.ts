/**
 * "Reverse topological power ordering": Kahn's algorithm over the auth DAG,
 * always taking the smallest candidate by (sender power DESC,
 * origin_server_ts ASC, event_id ASC). Parents (auth events) come first.
 */
import type { RoomEvent } from "../events/pdu.js";
import type { RoomVersion } from "../room-versions.js";
import { PowerLevels, roomCreators } from "../auth/power-levels.js";
import type { EventLoader } from "./event-loader.js";
import { MinHeap } from "./heap.js";
import { compareCodePoints } from "../canonical-json.js";

/**
 * The sender's level "when looking at their respective auth_events": the
 * power levels event among them (or, with none, creator 100 / others 0;
 * in v12 creators are infinite either way).
 */
export function senderPowerLevel(event: RoomEvent, loader: EventLoader, rv: RoomVersion, roomCreate: RoomEvent | undefined): number {
  let pl: RoomEvent | undefined;
  let create: RoomEvent | undefined = rv.roomIdIsCreateEventHash ? roomCreate : undefined;
  for (const id of event.authEvents) {
    const a = loader.get(id);
    if (a === undefined || a.stateKey !== "") continue;
    if (a.type === "m.room.power_levels") pl = a;
    else if (a.type === "m.room.create") create = a;
  }
  return PowerLevels.fromContent(pl?.content, roomCreators(create, rv), rv).userLevel(event.sender);
}

/** Ties: origin_server_ts, then event_id by code point (v1-v2 style ids may be non-ASCII). */
export function compareByTsThenId(a: RoomEvent, b: RoomEvent): number {
  if (a.originServerTs !== b.originServerTs) return a.originServerTs < b.originServerTs ? -1 : 1;
  return compareCodePoints(a.eventId, b.eventId);
}

/**
 * Sorts `ids` (all loaded, auth events loaded too). Edges are the direct
 * auth_events links between members of the set.
 */
export async function reverseTopologicalPowerSort(
  ids: ReadonlySet<string>,
  loader: EventLoader,
  rv: RoomVersion,
  roomCreate: RoomEvent | undefined,
): Promise<string[]> {
  interface Node {
    readonly event: RoomEvent;
    readonly power: number;
    pending: number;
    readonly children: Node[];
  }
  const nodes = new Map<string, Node>();
  for (const id of ids) {
    const event = loader.get(id);
    if (event === undefined) continue;
    nodes.set(id, { event, power: senderPowerLevel(event, loader, rv, roomCreate), pending: 0, children: [] });
    await loader.tick();
  }
  for (const node of nodes.values()) {
    for (const a of new Set(node.event.authEvents)) {
      const parent = nodes.get(a);
      if (parent === undefined) continue;
      node.pending++;
      parent.children.push(node);
    }
  }
  const heap = new MinHeap<Node>((x, y) => {
    if (x.power !== y.power) return x.power > y.power;
    return compareByTsThenId(x.event, y.event) < 0;
  });
  for (const node of nodes.values()) if (node.pending === 0) heap.push(node);
  const out: string[] = [];
  for (let n = heap.pop(); n !== undefined; n = heap.pop()) {
    out.push(n.event.eventId);
    for (const child of n.children) if (--child.pending === 0) heap.push(child);
    await loader.tick();
  }
  return out;
}
