/**
 * "Mainline ordering": position of each event relative to the chain of
 * power levels events behind the resolved power levels event P. Events whose
 * power-levels ancestry meets the mainline earlier (older P_i) sort first;
 * ties by origin_server_ts then event_id.
 */
import type { RoomEvent } from "../events/pdu.js";
import type { EventLoader } from "./event-loader.js";
import { compareByTsThenId } from "./power-sort.js";

async function powerLevelsAuthEvent(event: RoomEvent, loader: EventLoader): Promise<RoomEvent | undefined> {
  await loader.load(event.authEvents);
  for (const id of event.authEvents) {
    const a = loader.get(id);
    if (a !== undefined && a.type === "m.room.power_levels" && a.stateKey === "") return a;
  }
  return undefined;
}

/** [P0, P1, ..., Pn] with P_{i+1} the power levels event in P_i's auth_events. */
export async function mainlineOf(p: RoomEvent | undefined, loader: EventLoader): Promise<string[]> {
  const out: string[] = [];
  const seen = new Set<string>();
  for (let cur = p; cur !== undefined && !seen.has(cur.eventId); cur = await powerLevelsAuthEvent(cur, loader)) {
    seen.add(cur.eventId);
    out.push(cur.eventId);
    await loader.tick();
  }
  return out;
}

export async function mainlineSort(ids: readonly string[], resolvedPowerLevels: RoomEvent | undefined, loader: EventLoader): Promise<string[]> {
  const mainline = await mainlineOf(resolvedPowerLevels, loader);
  const index = new Map<string, number>();
  mainline.forEach((id, i) => index.set(id, i));
  // Memoised per power levels event: many events cite the same one.
  const positionOfPl = new Map<string, number>();

  async function position(event: RoomEvent): Promise<number> {
    const walked: string[] = [];
    let result = Infinity;
    for (let cur = await powerLevelsAuthEvent(event, loader); cur !== undefined; cur = await powerLevelsAuthEvent(cur, loader)) {
      const known = index.get(cur.eventId) ?? positionOfPl.get(cur.eventId);
      if (known !== undefined) {
        result = known;
        break;
      }
      if (walked.includes(cur.eventId)) break; // malformed cycle: not on the mainline
      walked.push(cur.eventId);
    }
    for (const id of walked) positionOfPl.set(id, result);
    return result;
  }

  const keyed: Array<{ event: RoomEvent; pos: number }> = [];
  for (const id of ids) {
    const event = loader.get(id);
    if (event === undefined) continue;
    keyed.push({ event, pos: await position(event) });
    await loader.tick();
  }
  keyed.sort((x, y) => (x.pos !== y.pos ? (x.pos > y.pos ? -1 : 1) : compareByTsThenId(x.event, y.event)));
  return keyed.map((k) => k.event.eventId);
}
