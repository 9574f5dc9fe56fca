import { expect } from "vitest";
import type { J } from "../accounts-helpers.js";
import type { TestCluster } from "./cluster.js";

export type { J };

export interface ClusterUser {
  token: string;
  userId: string;
}

/** Registers through the proxy (the two UIA steps may land on different processes). */
export async function register(c: TestCluster, username: string): Promise<ClusterUser> {
  const first = await c.request<J>("POST", "/_matrix/client/v3/register", { body: { username, password: "correct horse" } });
  expect(first.status).toBe(401);
  const r = await c.request<J>("POST", "/_matrix/client/v3/register", {
    body: { username, password: "correct horse", auth: { type: "m.login.dummy", session: first.json.session } },
  });
  expect(r.status, JSON.stringify(r.json)).toBe(200);
  return { token: r.json.access_token as string, userId: r.json.user_id as string };
}

/**
 * Sends a message through the proxy, retrying with the same transaction id
 * until a process acknowledges it (a killed process's requests fail).
 */
export async function sendRetrying(c: TestCluster, u: ClusterUser, roomId: string, txnId: string, body: string): Promise<string> {
  for (let attempt = 0; ; attempt++) {
    try {
      const r = await c.request<J>("PUT", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/send/m.room.message/${txnId}`, {
        token: u.token,
        body: { msgtype: "m.text", body },
      });
      if (r.status === 200) return r.json.event_id as string;
      if (r.status < 500 || attempt > 20) throw new Error(`send failed: ${r.status} ${r.text}`);
    } catch (err) {
      if (attempt > 20) throw err;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * A /sync loop through the proxy, so consecutive long-polls land on different
 * processes; collects the message bodies of `roomId` in the order received.
 */
export function syncReader(c: TestCluster, u: ClusterUser, roomId: string) {
  const bodies: string[] = [];
  const eventIds: string[] = [];
  let since: string | undefined;
  let stopped = false;
  let polls = 0;
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  // Big enough that no poll comes back "limited" (which would skip messages).
  const filter = JSON.stringify({ room: { timeline: { limit: 1000 } } });
  let primed = false;
  const loop = (async () => {
    while (!stopped) {
      const q = new URLSearchParams({ timeout: primed ? "2000" : "0", filter, ...(since ? { since } : {}) });
      let r;
      try {
        r = await c.request<J>("GET", `/_matrix/client/v3/sync?${q}`, { token: u.token });
      } catch {
        continue;
      }
      if (r.status !== 200) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        continue;
      }
      since = r.json.next_batch as string;
      // The first response is where reading starts: what came before is not this reader's.
      if (!primed) {
        primed = true;
        continue;
      }
      polls++;
      for (const e of (r.json.rooms?.join?.[roomId]?.timeline?.events ?? []) as J[]) {
        if (e.type !== "m.room.message") continue;
        bodies.push(e.content.body as string);
        eventIds.push(e.event_id as string);
      }
      for (const w of waiters.splice(0)) {
        if (bodies.length >= w.n) w.resolve();
        else waiters.push(w);
      }
    }
  })();
  return {
    bodies,
    eventIds,
    get polls() {
      return polls;
    },
    /** Resolves once the first sync answered: messages sent from then on are collected. */
    ready: new Promise<void>((resolve) => {
      const check = () => (primed ? resolve() : setTimeout(check, 20));
      check();
    }),
    /** Resolves once `n` messages arrived. */
    until(n: number): Promise<void> {
      if (bodies.length >= n) return Promise.resolve();
      return new Promise((resolve) => waiters.push({ n, resolve }));
    },
    async stop(): Promise<void> {
      stopped = true;
      await loop;
    },
  };
}

/** The room's messages as one process serves them (/messages backwards from the end), oldest first. */
export async function historyFrom(c: TestCluster, i: number, u: ClusterUser, roomId: string): Promise<string[]> {
  const out: string[] = [];
  let from: string | undefined;
  for (;;) {
    const q = new URLSearchParams({ dir: "b", limit: "100", ...(from ? { from } : {}) });
    const r = await c.requestTo<J>(i, "GET", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/messages?${q}`, { token: u.token });
    expect(r.status, r.text).toBe(200);
    for (const e of r.json.chunk as J[]) if (e.type === "m.room.message") out.push(e.content.body as string);
    if (!r.json.end || (r.json.chunk as J[]).length === 0) break;
    from = r.json.end as string;
  }
  return out.reverse();
}
