import { describe, expect, it } from "vitest";
import { encodeBase64, signingKeyFromSeed, signJson, verifyKeyOf, type JsonObject } from "../core/index.js";
import { createLogger } from "../logging.js";
import type { ServerKeysRepo, StoredKeyResponse, StoredServerKey } from "../storage/server-keys-repo.js";
import { RemoteKeyStore, type KeyFetchers, type Notary } from "./key-store.js";
import { ownKeyResponse } from "./server-keys.js";

const US = signingKeyFromSeed(new Uint8Array(32).fill(1), "us");
const REMOTE = signingKeyFromSeed(new Uint8Array(32).fill(2), "r1");
const NOTARY = signingKeyFromSeed(new Uint8Array(32).fill(3), "n1");
const DAY = 86_400_000;

/** The repository's rules, in memory. */
function memoryRepo(): ServerKeysRepo {
  const keys = new Map<string, StoredServerKey>();
  const responses = new Map<string, StoredKeyResponse>();
  return {
    keysOf: async (s: string) => [...keys.values()].filter((k) => k.serverName === s),
    storeKeys: async (rows: readonly StoredServerKey[]) => {
      for (const r of rows) {
        const old = keys.get(`${r.serverName} ${r.keyId}`);
        const validUntilTs = r.expiredTs === null && old ? Math.max(old.validUntilTs, r.validUntilTs) : r.validUntilTs;
        keys.set(`${r.serverName} ${r.keyId}`, { ...r, validUntilTs });
      }
    },
    response: async (s: string) => responses.get(s),
    storeResponse: async (r: StoredKeyResponse) => {
      const old = responses.get(r.serverName);
      if (!old || r.validUntilTs >= old.validUntilTs) responses.set(r.serverName, r);
    },
  } as unknown as ServerKeysRepo;
}

function store(opts: { fetchers: Partial<KeyFetchers>; notaries?: Notary[]; now?: () => number; refetchIntervalMs?: number }) {
  const calls = { direct: 0, notary: 0 };
  const s = new RemoteKeyStore({
    repo: memoryRepo(),
    serverName: "us.example",
    signingKey: US,
    oldVerifyKeys: {},
    notaries: opts.notaries ?? [],
    now: opts.now ?? (() => 1_000 * DAY),
    log: createLogger("silent"),
    refetchIntervalMs: opts.refetchIntervalMs ?? 0,
    fetchers: {
      direct: async (server) => {
        calls.direct++;
        if (!opts.fetchers.direct) throw new Error("unreachable");
        return opts.fetchers.direct(server);
      },
      notary: async (n, body) => {
        calls.notary++;
        if (!opts.fetchers.notary) throw new Error("unreachable");
        return opts.fetchers.notary(n, body);
      },
    },
  });
  return { s, calls };
}

const NOW = 1_000 * DAY;
const remoteResponse = (validUntil = NOW + DAY) => ({ ...ownKeyResponse("remote.example", REMOTE, {}, validUntil - DAY) });
const notaryPinned: Notary = { serverName: "notary.example", verifyKeys: new Map([[NOTARY.keyId, verifyKeyOf(NOTARY)]]) };

describe("RemoteKeyStore", () => {
  it("fetches a key directly, caches it, and answers the synchronous lookup", async () => {
    const { s, calls } = store({ fetchers: { direct: async () => remoteResponse() } });
    expect(s.lookup("remote.example", REMOTE.keyId, NOW, true)).toBeUndefined();
    await s.prefetch([{ serverName: "remote.example", keyId: REMOTE.keyId, minValidUntilTs: NOW }]);
    expect(encodeBase64(s.lookup("remote.example", REMOTE.keyId, NOW, true)!.publicKey)).toBe(encodeBase64(REMOTE.publicKey));
    await s.key("remote.example", REMOTE.keyId, NOW);
    expect(calls.direct).toBe(1);
  });

  it("caps validity at 7 days after the fetch and enforces it only when the room version says so", async () => {
    const { s } = store({ fetchers: { direct: async () => remoteResponse(NOW + 365 * DAY) }, refetchIntervalMs: 60_000 });
    await s.prefetch([{ serverName: "remote.example", keyId: REMOTE.keyId, minValidUntilTs: 0 }]);
    expect(s.cached("remote.example", REMOTE.keyId)!.validUntilTs).toBe(NOW + 7 * DAY);
    expect(s.lookup("remote.example", REMOTE.keyId, NOW + 8 * DAY, true)).toBeUndefined();
    expect(s.lookup("remote.example", REMOTE.keyId, NOW + 8 * DAY, false)).toBeDefined();
  });

  it("answers our own keys without fetching", async () => {
    const { s, calls } = store({ fetchers: {} });
    expect(await s.key("us.example", US.keyId, NOW)).toBeDefined();
    expect(calls.direct).toBe(0);
  });

  it("asks a notary when the server does not answer, and checks the notary's signature", async () => {
    const { s, calls } = store({
      fetchers: { notary: async () => ({ server_keys: [signJson(remoteResponse(), "notary.example", NOTARY)] }) },
      notaries: [notaryPinned],
    });
    expect(await s.key("remote.example", REMOTE.keyId, NOW)).toBeDefined();
    expect(calls).toEqual({ direct: 1, notary: 1 });
  });

  it("refuses notary answers without the notary's signature, or not self-signed by the server", async () => {
    const forged = signingKeyFromSeed(new Uint8Array(32).fill(9), "r1");
    const { s } = store({
      fetchers: {
        notary: async () => ({
          server_keys: [
            remoteResponse(),
            signJson(ownKeyResponse("remote.example", forged, {}, NOW) as JsonObject, "notary.example", signingKeyFromSeed(new Uint8Array(32).fill(8), "n1")),
          ],
        }),
      },
      notaries: [notaryPinned],
    });
    expect(await s.key("remote.example", REMOTE.keyId, 0)).toBeUndefined();
  });

  it("does not ask a server again within the refetch interval", async () => {
    let now = NOW;
    const { s, calls } = store({ fetchers: {}, now: () => now, refetchIntervalMs: 60_000 });
    await s.key("remote.example", "ed25519:x", 0);
    await s.key("remote.example", "ed25519:x", 0);
    expect(calls.direct).toBe(1);
    now += 61_000;
    await s.key("remote.example", "ed25519:x", 0);
    expect(calls.direct).toBe(2);
  });

  it("keeps serving the stored response as a notary while the server is down", async () => {
    let up = true;
    const { s } = store({ fetchers: { direct: async () => (up ? remoteResponse() : Promise.reject(new Error("down"))) } });
    expect((await s.responseFor("remote.example", NOW))!.server_name).toBe("remote.example");
    up = false;
    expect((await s.responseFor("remote.example", NOW + 30 * DAY))!.server_name).toBe("remote.example");
    expect(await s.responseFor("never.example", NOW)).toBeUndefined();
  });
});
