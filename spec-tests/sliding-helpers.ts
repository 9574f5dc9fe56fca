import { expect } from "vitest";
import type { MatrixClient } from "matrix-js-sdk";
import { SlidingSync, SlidingSyncEvent, SlidingSyncState, type MSC3575List, type MSC3575RoomData } from "matrix-js-sdk/lib/sliding-sync.js";
import type { ConfigInput } from "../src/config/schema.js";
import { startTestServer, type TestServer } from "./harness.js";
import { api, enc, type J, type TestUser } from "./sync-helpers.js";

export const SLIDING = "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync";

/** A test server (see harness.ts) with a restart: stop, then start again on the same data. */
export interface RestartableServer extends TestServer {
  restart(): Promise<void>;
}

export async function startRestartable(overrides: ConfigInput = {}): Promise<RestartableServer> {
  const hs = await startTestServer({ registration: { enabled: true }, password_policy: { scrypt_cost: 1024 }, ...overrides });
  return Object.assign(hs, {
    async restart() {
      await hs.stop();
      await hs.start();
    },
  });
}

export async function slidingSync(hs: TestServer, u: TestUser, body: J, expectStatus = 200): Promise<J> {
  const r = await hs.request<J>("POST", SLIDING, { token: u.token, body });
  expect(r.status, JSON.stringify(r.json)).toBe(expectStatus);
  return r.json;
}

/**
 * Creates `n` rooms for `u`: all but the last `ordered` a few at a time, then
 * those one after another, named `${prefix} i`, so the last `ordered` are
 * known to be the most recent, in index order.
 */
export async function createRooms(hs: TestServer, u: TestUser, n: number, prefix: string, ordered = 20): Promise<string[]> {
  // PGlite has one connection: more requests at once only queue up there.
  const parallel = hs.engine === "pglite" ? 4 : 12;
  const ids: string[] = new Array(n);
  const create = async (i: number, named: boolean) => {
    // public_chat: the fewest events a room can start with (no guest_access); only the ordered ones get a name.
    const r = await api(hs, "POST", "/createRoom", u.token, { preset: "public_chat", ...(named ? { name: `${prefix} ${i}` } : {}) });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    ids[i] = r.json.room_id as string;
  };
  let next = 0;
  const unordered = Math.max(0, n - ordered);
  const worker = async () => {
    for (let i = next++; i < unordered; i = next++) {
      // A keep-alive connection the loaded server closed as the request went out: create
      // again (tests count the rooms from GET /joined_rooms, so one extra is harmless).
      await create(i, false).catch((err: unknown) => {
        if (!(err instanceof TypeError)) throw err;
        return create(i, false);
      });
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  for (let i = unordered; i < n; i++) await create(i, true);
  return ids;
}

export async function sendText(hs: TestServer, u: TestUser, roomId: string, body: string, txn = `t${Math.random().toString(36).slice(2)}`): Promise<string> {
  const r = await api(hs, "PUT", `/rooms/${enc(roomId)}/send/m.room.message/${txn}`, u.token, { msgtype: "m.text", body });
  expect(r.status, JSON.stringify(r.json)).toBe(200);
  return r.json.event_id as string;
}

/** The number of rooms the user is joined to. */
export async function joinedCount(hs: TestServer, u: TestUser): Promise<number> {
  const r = await api(hs, "GET", "/joined_rooms", u.token);
  expect(r.status).toBe(200);
  return (r.json.joined_rooms as string[]).length;
}

/** A list of rooms `0..end` with one timeline event and the create, name and own member events. */
export const sdkList = (end: number): MSC3575List => ({
  ranges: [[0, end]],
  timeline_limit: 1,
  required_state: [
    ["m.room.create", ""],
    ["m.room.name", ""],
    ["m.room.member", "$ME"],
  ],
});

/** A started matrix-js-sdk SlidingSync loop that records every RoomData it gets, in order; stop it with `s.stop()`. */
export function sdkRecorder(url: string, c: MatrixClient, lists: Map<string, MSC3575List>) {
  const s = new SlidingSync(url, lists, { timeline_limit: 1, required_state: [] }, c, 5000);
  const seen: Array<{ roomId: string; data: MSC3575RoomData }> = [];
  let responses = 0;
  s.on(SlidingSyncEvent.RoomData, (roomId: string, data: MSC3575RoomData) => {
    seen.push({ roomId, data });
  });
  s.on(SlidingSyncEvent.Lifecycle, (state: SlidingSyncState) => {
    if (state === SlidingSyncState.Complete) responses++;
  });
  void s.start();
  return { s, seen, responses: () => responses };
}
