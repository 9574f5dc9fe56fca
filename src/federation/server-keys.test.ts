import { describe, expect, it } from "vitest";
import { decodeBase64, encodeBase64, signingKeyFromSeed, signJson, type JsonObject } from "../core/index.js";
import { checkKeyResponse, ownKeyResponse, OWN_KEYS_VALID_MS } from "./server-keys.js";

const KEY = signingKeyFromSeed(decodeBase64("YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1")!, "1");
const OTHER = signingKeyFromSeed(new Uint8Array(32).fill(3), "2");
const NOW = 1_700_000_000_000;

describe('Server-server "Publishing Keys"', () => {
  it("publishes the current key, old keys and valid_until_ts, self-signed, and passes its own check", () => {
    const old = { "ed25519:0ld": { key: encodeBase64(OTHER.publicKey), expired_ts: NOW - 5 } };
    const r = ownKeyResponse("domain", KEY, old, NOW);
    expect(r.server_name).toBe("domain");
    expect(r.verify_keys).toEqual({ "ed25519:1": { key: encodeBase64(KEY.publicKey) } });
    expect(r.old_verify_keys).toEqual(old);
    expect(r.valid_until_ts).toBe(NOW + OWN_KEYS_VALID_MS);
    const c = checkKeyResponse(r, "domain");
    expect(c.ok).toBe(true);
    if (c.ok)
      expect(c.value.keys.map((k) => [k.keyId, k.expiredTs])).toEqual([
        ["ed25519:1", null],
        ["ed25519:0ld", NOW - 5],
      ]);
  });
});

describe("checking another server's key response", () => {
  const good = () => ownKeyResponse("domain", KEY, {}, NOW);

  it("refuses the spec's example (its signature is a placeholder)", () => {
    // data/api/server-server/examples/server_key.json
    const example: JsonObject = {
      server_name: "example.org",
      verify_keys: { "ed25519:abc123": { key: "VGhpcyBzaG91bGQgYmUgYSByZWFsIGVkMjU1MTkgcGF5bG9hZA" } },
      old_verify_keys: { "ed25519:0ldk3y": { expired_ts: 1532645052628, key: "VGhpcyBzaG91bGQgYmUgeW91ciBvbGQga2V5J3MgZWQyNTUxOSBwYXlsb2FkLg" } },
      signatures: { "example.org": { "ed25519:auto2": "VGhpcyBzaG91bGQgYWN0dWFsbHkgYmUgYSBzaWduYXR1cmU" } },
      valid_until_ts: 1652262000000,
    };
    const c = checkKeyResponse(example, "example.org");
    expect(c.ok).toBe(false);
  });

  it("refuses a response for another server, one without valid_until_ts, tampered or unsigned", () => {
    expect(checkKeyResponse(good(), "other")).toMatchObject({ ok: false });
    const { valid_until_ts: _v, ...noTs } = good();
    expect(checkKeyResponse(noTs, "domain")).toMatchObject({ ok: false });
    expect(checkKeyResponse({ ...good(), valid_until_ts: NOW + 1 }, "domain")).toMatchObject({ ok: false });
    const { signatures: _s, ...unsigned } = good();
    expect(checkKeyResponse(unsigned, "domain")).toMatchObject({ ok: false });
  });

  it("refuses a response signed only by a key it does not list, or only by an old key", () => {
    const body: JsonObject = { server_name: "domain", verify_keys: { "ed25519:1": { key: encodeBase64(KEY.publicKey) } }, valid_until_ts: NOW };
    expect(checkKeyResponse(signJson(body, "domain", OTHER), "domain")).toMatchObject({ ok: false });
    const oldOnly: JsonObject = {
      server_name: "domain",
      verify_keys: { "ed25519:1": { key: encodeBase64(KEY.publicKey) } },
      old_verify_keys: { "ed25519:2": { key: encodeBase64(OTHER.publicKey), expired_ts: NOW } },
      valid_until_ts: NOW,
    };
    expect(checkKeyResponse(signJson(oldOnly, "domain", OTHER), "domain")).toMatchObject({ ok: false });
    expect(checkKeyResponse(signJson(oldOnly, "domain", KEY), "domain")).toMatchObject({ ok: true });
  });

  it("refuses keys that are not 32 bytes and old keys without expired_ts; ignores unknown algorithms", () => {
    const short: JsonObject = { server_name: "domain", verify_keys: { "ed25519:1": { key: "AAAA" } }, valid_until_ts: NOW };
    expect(checkKeyResponse(signJson(short, "domain", KEY), "domain")).toMatchObject({ ok: false });
    const noExpiry: JsonObject = {
      ...good(),
      old_verify_keys: { "ed25519:2": { key: encodeBase64(OTHER.publicKey) } },
    };
    expect(checkKeyResponse(signJson(noExpiry, "domain", KEY), "domain")).toMatchObject({ ok: false });
    const extra: JsonObject = { ...good(), verify_keys: { "ed25519:1": { key: encodeBase64(KEY.publicKey) }, "curve9:x": { key: "?" } } };
    const c = checkKeyResponse(signJson(extra, "domain", KEY), "domain");
    expect(c.ok && c.value.keys.map((k) => k.keyId)).toEqual(["ed25519:1"]);
  });
});
