import http from "node:http";
import type { AddressInfo } from "node:net";
import Koa from "koa";
import { afterEach, describe, expect, it } from "vitest";
import type { Authenticator } from "../../http/auth.js";
import { Notifier } from "../../sync/notifier.js";
import type { SyncRequest, SyncService } from "../../sync/sync-service.js";
import { ZERO_TOKEN } from "../../sync/tokens.js";
import { syncRoutes } from "./sync.js";

const servers: http.Server[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

async function serve(sync: Pick<SyncService, "sync">, maxTimeoutMs = 60_000): Promise<string> {
  const auth: Authenticator = { authenticate: async () => ({ userId: "@a:x", deviceId: "D", isGuest: false }) };
  const app = new Koa();
  app.use(syncRoutes({ auth, sync: sync as SyncService, maxTimeoutMs }).routes());
  const server = http.createServer(app.callback());
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe("GET /sync route", () => {
  it("a client that disconnects frees its wait at once", async () => {
    const notifier = new Notifier();
    let entered!: () => void;
    const waiting = new Promise<void>((r) => (entered = r));
    const base = await serve({
      async sync(_req: SyncRequest, signal?: AbortSignal) {
        const p = notifier.wait({ userIds: ["@a:x"] }, ZERO_TOKEN, 60_000, signal);
        entered();
        await p;
        return {};
      },
    });
    const ac = new AbortController();
    const res = fetch(`${base}/_matrix/client/v3/sync?since=s1_0_0_0_0_0_0_0&timeout=60000`, { signal: ac.signal }).catch(() => undefined);
    await waiting;
    expect(notifier.waitingCount).toBe(1);
    ac.abort();
    await res;
    await expect.poll(() => notifier.waitingCount, { timeout: 2_000 }).toBe(0);
  });

  it("passes parameters through and caps the timeout", async () => {
    let seen: SyncRequest | undefined;
    const base = await serve(
      {
        async sync(req: SyncRequest) {
          seen = req;
          return { next_batch: "x" };
        },
      },
      1_000,
    );
    const r = await fetch(`${base}/_matrix/client/v3/sync?timeout=999999&full_state=true&set_presence=unavailable&use_state_after=true&filter=7`);
    expect(r.status).toBe(200);
    expect(seen).toMatchObject({ userId: "@a:x", deviceId: "D", since: undefined, filter: "7", fullState: true, setPresence: "unavailable", timeoutMs: 1_000, useStateAfter: true });
  });
});
