import { describe, expect, it } from "vitest";
import { MatrixError } from "../http/errors.js";
import { systemRandom } from "./deps.js";
import { checkNewPassword, hashPassword, verifyPassword } from "./passwords.js";

const noPolicy = { min_length: 0, require_digit: false, require_symbol: false, require_lowercase: false, require_uppercase: false };

describe("password hashing", () => {
  it("verifies the right password only, with a fresh salt each time", async () => {
    const h1 = await hashPassword("hunter2", 1024, systemRandom);
    const h2 = await hashPassword("hunter2", 1024, systemRandom);
    expect(h1).toMatch(/^\$scrypt\$N=1024,r=8,p=1\$/);
    expect(h1).not.toBe(h2);
    expect(await verifyPassword("hunter2", h1)).toBe(true);
    expect(await verifyPassword("hunter3", h1)).toBe(false);
    expect(await verifyPassword("hunter2", null)).toBe(false);
    expect(await verifyPassword("hunter2", "garbage")).toBe(false);
  });

  it("normalises Unicode so composed and decomposed forms match", async () => {
    const h = await hashPassword("caf\u00e9", 1024, systemRandom);
    expect(await verifyPassword("cafe\u0301", h)).toBe(true);
  });
});

describe("password policy", () => {
  const errcode = (fn: () => void) => {
    try {
      fn();
    } catch (e) {
      return (e as MatrixError).errcode;
    }
    return undefined;
  };
  it("applies each rule with M_WEAK_PASSWORD and caps the length with M_INVALID_PARAM", () => {
    expect(errcode(() => checkNewPassword("abc", { ...noPolicy, min_length: 4 }))).toBe("M_WEAK_PASSWORD");
    expect(errcode(() => checkNewPassword("abcd", { ...noPolicy, require_digit: true }))).toBe("M_WEAK_PASSWORD");
    expect(errcode(() => checkNewPassword("abcd1", { ...noPolicy, require_uppercase: true }))).toBe("M_WEAK_PASSWORD");
    expect(errcode(() => checkNewPassword("ABCD1", { ...noPolicy, require_lowercase: true }))).toBe("M_WEAK_PASSWORD");
    expect(errcode(() => checkNewPassword("Abcd1", { ...noPolicy, require_symbol: true }))).toBe("M_WEAK_PASSWORD");
    expect(errcode(() => checkNewPassword("Abcd1!", { min_length: 6, require_digit: true, require_symbol: true, require_lowercase: true, require_uppercase: true }))).toBeUndefined();
    expect(errcode(() => checkNewPassword("x".repeat(513), noPolicy))).toBe("M_INVALID_PARAM");
  });
});
