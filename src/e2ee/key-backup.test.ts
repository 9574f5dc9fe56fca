import { describe, expect, it } from "vitest";
import { shouldReplace } from "./key-backup.js";

const k = (is_verified: boolean, first_message_index: number, forwarded_count: number) => ({ is_verified, first_message_index, forwarded_count });

describe("key backup replacement rules (spec 'Server-side key backups')", () => {
  it("keeps the verified key whatever the other fields say", () => {
    expect(shouldReplace(k(false, 0, 0), k(true, 9, 9))).toBe(true);
    expect(shouldReplace(k(true, 9, 9), k(false, 0, 0))).toBe(false);
  });
  it("then the lower first_message_index", () => {
    expect(shouldReplace(k(true, 5, 0), k(true, 4, 9))).toBe(true);
    expect(shouldReplace(k(false, 4, 0), k(false, 5, 0))).toBe(false);
  });
  it("then the lower forwarded_count; a tie keeps the stored key", () => {
    expect(shouldReplace(k(false, 5, 2), k(false, 5, 1))).toBe(true);
    expect(shouldReplace(k(false, 5, 1), k(false, 5, 2))).toBe(false);
    expect(shouldReplace(k(false, 5, 1), k(false, 5, 1))).toBe(false);
  });
});
