/**
 * Other servers' signing keys (server-server "Retrieving server keys"):
 * fetched from the server itself, failing that from the configured notaries
 * ("Querying Keys Through Another Server"), checked, stored and cached.
 *
 * Event signature checks are synchronous (`EventKeyLookup`), so callers first
 * `prefetch` the keys they will need and then use `lookup`, which reads only
 * what is in memory.
 */
import {
  getOwn,
  isJsonObject,
  verifyJsonSignature,
  verifyKeyFromBase64,
  verifyKeyOf,
  type EventKeyLookup,
  type JsonObject,
  type SigningKey,
  type VerifyKey,
} from "../core/index.js";
import type { Logger } from "../logging.js";
import type { ServerKeysRepo } from "../storage/server-keys-repo.js";
import { checkKeyResponse, MAX_KEY_VALIDITY_MS, type OldVerifyKey, type ParsedKeyResponse } from "./server-keys.js";

export interface CachedKey {
  verifyKey: VerifyKey;
  /** Capped: the lesser of the published valid_until_ts and 7 days after the fetch. */
  validUntilTs: number;
  /** Set for keys the server lists under old_verify_keys. */
  expiredTs: number | null;
}

export interface Notary {
  serverName: string;
  /** Pinned keys; when empty the notary's own keys are fetched from it. */
  verifyKeys: ReadonlyMap<string, VerifyKey>;
}

export interface KeyFetchers {
  /** `GET /_matrix/key/v2/server` on the server itself; throws when unreachable. */
  direct(serverName: string): Promise<unknown>;
  /** `POST /_matrix/key/v2/query` on a notary; throws when unreachable. */
  notary(notary: string, body: JsonObject): Promise<unknown>;
}

export interface KeyStoreDeps {
  repo: ServerKeysRepo;
  serverName: string;
  signingKey: SigningKey;
  oldVerifyKeys: Readonly<Record<string, OldVerifyKey>>;
  fetchers: KeyFetchers;
  notaries: readonly Notary[];
  now: () => number;
  log: Logger;
  /** A server is asked again for keys at most this often (ms). */
  refetchIntervalMs?: number;
}

export interface KeyRequest {
  serverName: string;
  keyId: string;
  /** The key must be valid at least until then (0: any key we have). */
  minValidUntilTs: number;
}

export class RemoteKeyStore {
  private readonly cache = new Map<string, Map<string, CachedKey>>();
  private readonly loaded = new Set<string>();
  private readonly lastFetch = new Map<string, number>();
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly own = new Map<string, CachedKey>();

  constructor(private readonly d: KeyStoreDeps) {
    this.own.set(d.signingKey.keyId, { verifyKey: verifyKeyOf(d.signingKey), validUntilTs: Number.MAX_SAFE_INTEGER, expiredTs: null });
    for (const [keyId, k] of Object.entries(d.oldVerifyKeys)) {
      const vk = verifyKeyFromBase64(keyId, k.key);
      if (vk) this.own.set(keyId, { verifyKey: vk, validUntilTs: k.expired_ts, expiredTs: k.expired_ts });
    }
  }

  /** What is in memory for (server, key id); never fetches. */
  cached(serverName: string, keyId: string): CachedKey | undefined {
    if (serverName === this.d.serverName) return this.own.get(keyId);
    return this.cache.get(serverName)?.get(keyId);
  }

  /**
   * The synchronous lookup receipt check 2 uses, over what `prefetch` loaded.
   * Room versions with `enforceKeyValidity` (rooms "Signing key validity
   * period") refuse a key whose validity ended before the event's timestamp.
   */
  readonly lookup: EventKeyLookup = (serverName, keyId, atTs, enforceValidity) => {
    const k = this.cached(serverName, keyId);
    if (k === undefined) return undefined;
    if (enforceValidity && k.validUntilTs < atTs) return undefined;
    return k.verifyKey;
  };

  /** Loads (and if need be fetches) every requested key, so `lookup` can answer. Never throws. */
  async prefetch(requests: readonly KeyRequest[]): Promise<void> {
    const byServer = new Map<string, KeyRequest[]>();
    for (const r of requests) {
      if (r.serverName === this.d.serverName) continue;
      const list = byServer.get(r.serverName) ?? [];
      list.push(r);
      byServer.set(r.serverName, list);
    }
    await Promise.all(
      [...byServer].map(async ([server, reqs]) => {
        try {
          await this.ensure(server, reqs);
        } catch (err) {
          this.d.log.warn({ server, err }, "fetching server keys failed");
        }
      }),
    );
  }

  /** A key for (server, key id) valid until at least `minValidUntilTs`, fetched if need be. */
  async key(serverName: string, keyId: string, minValidUntilTs: number): Promise<CachedKey | undefined> {
    await this.prefetch([{ serverName, keyId, minValidUntilTs }]);
    const k = this.cached(serverName, keyId);
    return k !== undefined && k.validUntilTs >= minValidUntilTs ? k : undefined;
  }

  /**
   * For the notary endpoints: the server's newest self-signed response valid
   * until `minValidUntilTs`, asking the server itself if the stored one is not
   * (notaries ask the origin, "Querying Keys Through Another Server"); a stale
   * stored response is still returned when the server does not answer.
   */
  async responseFor(serverName: string, minValidUntilTs: number): Promise<JsonObject | undefined> {
    let stored = await this.d.repo.response(serverName);
    if (stored === undefined || stored.validUntilTs < minValidUntilTs) {
      try {
        await this.fetchDirect(serverName);
      } catch (err) {
        this.d.log.info({ server: serverName, err: (err as Error).message }, "server keys unavailable; serving cached keys");
      }
      stored = await this.d.repo.response(serverName);
    }
    if (stored === undefined) return undefined;
    const json: unknown = JSON.parse(stored.response);
    return isJsonObject(json) ? json : undefined;
  }

  private satisfied(server: string, reqs: readonly KeyRequest[]): boolean {
    return reqs.every((r) => {
      const k = this.cached(server, r.keyId);
      return k !== undefined && k.validUntilTs >= r.minValidUntilTs;
    });
  }

  private async ensure(server: string, reqs: readonly KeyRequest[]): Promise<void> {
    if (!this.loaded.has(server)) await this.load(server);
    if (this.satisfied(server, reqs)) return;
    const running = this.inFlight.get(server);
    if (running) {
      await running;
      return;
    }
    const last = this.lastFetch.get(server);
    if (last !== undefined && this.d.now() - last < (this.d.refetchIntervalMs ?? 60_000)) return;
    const p = this.fetch(server, reqs).finally(() => this.inFlight.delete(server));
    this.inFlight.set(server, p);
    await p;
  }

  private async load(server: string): Promise<void> {
    const rows = await this.d.repo.keysOf(server);
    const m = this.cache.get(server) ?? new Map<string, CachedKey>();
    for (const r of rows) {
      const vk = verifyKeyFromBase64(r.keyId, r.verifyKey);
      if (vk) m.set(r.keyId, { verifyKey: vk, validUntilTs: r.validUntilTs, expiredTs: r.expiredTs });
    }
    this.cache.set(server, m);
    this.loaded.add(server);
  }

  private async fetch(server: string, reqs: readonly KeyRequest[]): Promise<void> {
    this.lastFetch.set(server, this.d.now());
    try {
      await this.fetchDirect(server);
    } catch (err) {
      this.d.log.info({ server, err: (err as Error).message }, "server did not give its keys; asking notaries");
    }
    for (const notary of this.d.notaries) {
      if (this.satisfied(server, reqs)) return;
      if (notary.serverName === server) continue;
      try {
        await this.fetchThroughNotary(notary, server, reqs);
      } catch (err) {
        this.d.log.info({ server, notary: notary.serverName, err: (err as Error).message }, "notary did not give the keys");
      }
    }
  }

  private async fetchDirect(server: string): Promise<void> {
    const json = await this.d.fetchers.direct(server);
    const r = checkKeyResponse(json, server);
    if (!r.ok) throw new Error(r.reason);
    await this.store(r.value);
  }

  private async fetchThroughNotary(notary: Notary, server: string, reqs: readonly KeyRequest[]): Promise<void> {
    const criteria: JsonObject = {};
    for (const r of reqs) criteria[r.keyId] = { minimum_valid_until_ts: r.minValidUntilTs };
    const res = await this.d.fetchers.notary(notary.serverName, { server_keys: { [server]: criteria } });
    const list = isJsonObject(res) ? getOwn(res, "server_keys") : undefined;
    if (!Array.isArray(list)) throw new Error("notary response has no server_keys array");
    for (const item of list) {
      const r = checkKeyResponse(item, server);
      if (!r.ok) {
        this.d.log.info({ server, notary: notary.serverName, reason: r.reason }, "notary gave a bad key response");
        continue;
      }
      if (!(await this.signedByNotary(notary, r.value.json))) {
        this.d.log.info({ server, notary: notary.serverName }, "key response lacks a valid notary signature");
        continue;
      }
      await this.store(r.value);
    }
  }

  /** The notary "will additionally sign the response": one of its keys must verify. */
  private async signedByNotary(notary: Notary, json: JsonObject): Promise<boolean> {
    const sigs = getOwn(json, "signatures");
    const theirs = isJsonObject(sigs) ? getOwn(sigs, notary.serverName) : undefined;
    if (!isJsonObject(theirs)) return false;
    for (const keyId of Object.keys(theirs)) {
      let vk = notary.verifyKeys.get(keyId);
      if (vk === undefined && notary.verifyKeys.size === 0) {
        if (!this.loaded.has(notary.serverName)) await this.load(notary.serverName);
        let k = this.cached(notary.serverName, keyId);
        if (k === undefined || k.expiredTs !== null || k.validUntilTs < this.d.now()) {
          await this.fetchDirect(notary.serverName);
          k = this.cached(notary.serverName, keyId);
        }
        if (k !== undefined && k.expiredTs === null && k.validUntilTs >= this.d.now()) vk = k.verifyKey;
      }
      if (vk !== undefined && verifyJsonSignature(json, notary.serverName, vk).ok) return true;
    }
    return false;
  }

  private async store(r: ParsedKeyResponse): Promise<void> {
    const now = this.d.now();
    const capped = Math.min(r.validUntilTs, now + MAX_KEY_VALIDITY_MS);
    const rows = r.keys.map((k) => ({
      serverName: r.serverName,
      keyId: k.keyId,
      verifyKey: k.key,
      validUntilTs: k.expiredTs ?? capped,
      expiredTs: k.expiredTs,
      fetchedTs: now,
    }));
    await this.d.repo.storeKeys(rows);
    await this.d.repo.storeResponse({ serverName: r.serverName, validUntilTs: r.validUntilTs, response: JSON.stringify(r.json), fetchedTs: now });
    // Re-read: the repository keeps the longest validity a key has been seen with.
    await this.load(r.serverName);
  }
}

/** Parses configured notaries' pinned keys; a bad key stops the start. */
export function notariesFromConfig(list: ReadonlyArray<{ server_name: string; verify_keys?: Record<string, string> }>): Notary[] {
  return list.map((n) => {
    const keys = new Map<string, VerifyKey>();
    for (const [keyId, b64] of Object.entries(n.verify_keys ?? {})) {
      const vk = verifyKeyFromBase64(keyId, b64);
      if (vk === undefined) throw new Error(`federation.trusted_key_servers: ${n.server_name} key ${keyId} is not a base64 Ed25519 key`);
      keys.set(keyId, vk);
    }
    return { serverName: n.server_name, verifyKeys: keys };
  });
}
