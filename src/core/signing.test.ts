import { describe, expect, it } from "vitest";
import { decodeBase64, encodeBase64, encodeBase64Url, signingKeyFromSeed, verifyKeyOf, sha256 } from "./crypto.js";
import { signJson, verifyJsonSignature } from "./signing.js";
import type { JsonObject } from "./json.js";

// appendices.md "Cryptographic Test Vectors"
const SEED = decodeBase64("YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1")!;
const KEY = signingKeyFromSeed(SEED, "1");

describe("base64", () => {
  it("matches the appendix examples", () => {
    const cases: Array<[string, string]> = [
      ["", ""], ["f", "Zg"], ["fo", "Zm8"], ["foo", "Zm9v"], ["foob", "Zm9vYg"], ["fooba", "Zm9vYmE"], ["foobar", "Zm9vYmFy"],
    ];
    for (const [plain, enc] of cases) {
      expect(encodeBase64(Buffer.from(plain))).toBe(enc);
      expect(Buffer.from(decodeBase64(enc)!).toString()).toBe(plain);
    }
  });
  it("decodes padded and URL-safe input, rejects garbage", () => {
    expect(Buffer.from(decodeBase64("Zm8=")!).toString()).toBe("fo");
    expect(encodeBase64Url(new Uint8Array([0xfb, 0xff]))).toBe("-_8");
    expect(decodeBase64("-_8")).toEqual(new Uint8Array([0xfb, 0xff]));
    expect(decodeBase64("a b")).toBeUndefined();
    expect(decodeBase64("A")).toBeUndefined();
    expect(decodeBase64("+_")).toBeUndefined();
  });
  it("sha256", () => {
    expect(encodeBase64(sha256(""))).toBe("47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU");
  });
});

describe("JSON signing (appendix vectors)", () => {
  it("signs the empty object", () => {
    const signed = signJson({}, "domain", KEY);
    expect(signed).toEqual({
      signatures: {
        domain: {
          "ed25519:1": "K8280/U9SSy9IVtjBuVeLr+HpOB4BQFWbg+UZaADMtTdGYI7Geitb76LTrr5QV/7Xg4ahLwYGYZzuHGZKM5ZAQ",
        },
      },
    });
  });
  it("signs an object with data", () => {
    const signed = signJson({ one: 1, two: "Two" }, "domain", KEY);
    expect(signed).toEqual({
      one: 1,
      signatures: {
        domain: {
          "ed25519:1": "KqmLSbO39/Bzb0QIYE82zqLwsA+PDzYIpIRA2sRQ4sL53+sN6/fpNSoqE7BP7vBZhG6kYdD13EIMJpvhJI+6Bw",
        },
      },
      two: "Two",
    });
  });
  it("verifies, ignoring unsigned and existing signatures, and detects tampering", () => {
    const vk = verifyKeyOf(KEY);
    const signed: JsonObject = { ...signJson({ one: 1 }, "domain", KEY), unsigned: { age: 5 } };
    expect(verifyJsonSignature(signed, "domain", vk)).toEqual({ ok: true });
    expect(verifyJsonSignature({ ...signed, one: 2 }, "domain", vk).ok).toBe(false);
    expect(verifyJsonSignature(signed, "other", vk).ok).toBe(false);
    const twice = signJson(signed, "other", KEY);
    expect(verifyJsonSignature(twice, "domain", vk)).toEqual({ ok: true });
    expect(twice.unsigned).toEqual({ age: 5 });
  });
});
