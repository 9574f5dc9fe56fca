/**
 * /keys/query and /keys/claim for other servers' users ("Key management
 * API" in the client-server API, "End-to-End Encryption" in the
 * server-server API): users whose device list is cached and fresh are
 * answered from the cache; the others are asked of their servers, all
 * servers in parallel, each within the request's timeout. A server that
 * fails or does not answer in time is listed in `failures`; the answer never
 * waits longer than the timeout.
 */
import { getOwn, isJsonObject, serverNameOf, type JsonObject, type JsonValue } from "../core/index.js";
import type { Logger } from "../logging.js";
import type { ClaimResult, QueryResult, RemoteKeyQueries } from "./device-keys.js";
import { deviceKeysFor, signingKeyFor, type RemoteDeviceLists } from "./remote-device-lists.js";

export interface RemoteKeysFetcher {
  /** `POST /_matrix/federation/v1/user/keys/query` on `server`. */
  keysQuery(server: string, body: JsonObject): Promise<JsonObject>;
  /** `POST /_matrix/federation/v1/user/keys/claim` on `server`. */
  keysClaim(server: string, body: JsonObject): Promise<JsonObject>;
}

export interface RemoteKeysDeps {
  fetcher: RemoteKeysFetcher;
  cache: Pick<RemoteDeviceLists, "fresh" | "cachedKeys" | "resync">;
  /** Whether a local user shares a room with `userId` (then an uncached list is worth fetching for the cache). */
  isTracked(userId: string): Promise<boolean>;
  log: Logger;
}

class Timeout extends Error {}

/** Resolves with `p`, or rejects with Timeout after `ms`; the timer never keeps the process alive. */
function within<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Timeout()), ms);
    timer.unref();
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

function failureOf(err: unknown): JsonObject {
  if (err instanceof Timeout) return { status: 504, message: "The server did not answer in time" };
  const status = typeof (err as { status?: unknown }).status === "number" ? (err as { status: number }).status : 503;
  return { status, message: "The server could not be reached or refused the request" };
}

function groupByServer<T>(wanted: Record<string, T>): Map<string, Record<string, T>> {
  const out = new Map<string, Record<string, T>>();
  for (const [userId, v] of Object.entries(wanted)) {
    const server = serverNameOf(userId);
    if (!server) continue;
    let m = out.get(server);
    if (!m) out.set(server, (m = {}));
    m[userId] = v;
  }
  return out;
}

export class RemoteKeys implements RemoteKeyQueries {
  constructor(private readonly d: RemoteKeysDeps) {}

  async query(wanted: Record<string, string[]>, timeoutMs: number): Promise<Omit<QueryResult, "user_signing_keys">> {
    const result: Omit<QueryResult, "user_signing_keys"> = { device_keys: {}, master_keys: {}, self_signing_keys: {}, failures: {} };
    // The cache is trusted only for users someone here shares a room with: for others no updates arrive.
    const fresh = await this.d.cache.fresh(Object.keys(wanted));
    for (const u of fresh) if (!(await this.d.isTracked(u))) fresh.delete(u);
    const cachedWanted: Record<string, string[]> = {};
    const ask: Record<string, string[]> = {};
    for (const [u, devices] of Object.entries(wanted)) (fresh.has(u) ? cachedWanted : ask)[u] = devices;
    if (Object.keys(cachedWanted).length > 0) {
      const cached = await this.d.cache.cachedKeys(cachedWanted);
      Object.assign(result.device_keys, cached.device_keys);
      Object.assign(result.master_keys, cached.master_keys);
      Object.assign(result.self_signing_keys, cached.self_signing_keys);
    }
    await Promise.all(
      [...groupByServer(ask)].map(async ([server, users]) => {
        try {
          const body = await within(this.d.fetcher.keysQuery(server, { device_keys: users }), timeoutMs);
          mergeQueryAnswer(result, server, users, body);
        } catch (err) {
          this.d.log.info({ server, err: (err as Error).message }, "remote /user/keys/query failed");
          result.failures[server] = failureOf(err);
        }
      }),
    );
    // Users someone here shares a room with are worth caching: their updates then apply incrementally.
    for (const u of Object.keys(ask)) {
      void this.d
        .isTracked(u)
        .then((tracked) => (tracked ? this.d.cache.resync(u) : false))
        .catch(() => false);
    }
    return result;
  }

  async claim(wanted: Record<string, Record<string, string>>, timeoutMs: number): Promise<ClaimResult> {
    const result: ClaimResult = { one_time_keys: {}, failures: {} };
    await Promise.all(
      [...groupByServer(wanted)].map(async ([server, users]) => {
        try {
          const body = await within(this.d.fetcher.keysClaim(server, { one_time_keys: users }), timeoutMs);
          const otks = getOwn(body, "one_time_keys");
          if (!isJsonObject(otks)) return;
          for (const userId of Object.keys(users)) {
            const byDevice = getOwn(otks, userId);
            if (!isJsonObject(byDevice)) continue;
            const out: Record<string, Record<string, JsonValue>> = {};
            for (const [deviceId, keys] of Object.entries(byDevice)) if (isJsonObject(keys)) out[deviceId] = keys;
            result.one_time_keys[userId] = out;
          }
        } catch (err) {
          this.d.log.info({ server, err: (err as Error).message }, "remote /user/keys/claim failed");
          result.failures[server] = failureOf(err);
        }
      }),
    );
    return result;
  }
}

/** Takes from one server's answer only what concerns the users asked of it (a server speaks for its own users only). */
function mergeQueryAnswer(result: Omit<QueryResult, "user_signing_keys">, server: string, users: Record<string, string[]>, body: JsonObject): void {
  const deviceKeys = getOwn(body, "device_keys");
  const masters = getOwn(body, "master_keys");
  const selfSigning = getOwn(body, "self_signing_keys");
  for (const userId of Object.keys(users)) {
    if (serverNameOf(userId) !== server) continue;
    const out: Record<string, JsonObject> = {};
    const byDevice = isJsonObject(deviceKeys) ? getOwn(deviceKeys, userId) : undefined;
    if (isJsonObject(byDevice)) {
      for (const [deviceId, keys] of Object.entries(byDevice)) {
        const checked = deviceKeysFor(keys, userId, deviceId);
        if (checked) out[deviceId] = checked;
      }
    }
    result.device_keys[userId] = out;
    const m = signingKeyFor(isJsonObject(masters) ? getOwn(masters, userId) : undefined, userId, "master");
    if (m) result.master_keys[userId] = m;
    const s = signingKeyFor(isJsonObject(selfSigning) ? getOwn(selfSigning, userId) : undefined, userId, "self_signing");
    if (s) result.self_signing_keys[userId] = s;
  }
}
