import { describe, expect, it } from "vitest";
import {
  isValidDeviceId, isValidEventId, isValidRoomAlias, isValidRoomId, isValidRoomVersionId, isValidServerName,
  isValidUserId, parseRoomId, parseServerName, parseUserId, isValidNamespacedIdentifier, isValidOpaqueIdentifier,
} from "./ids.js";

describe("server names", () => {
  it("accepts the appendix examples", () => {
    for (const n of ["matrix.org", "matrix.org:8888", "1.2.3.4", "1.2.3.4:1234", "[1234:5678::abcd]", "[1234:5678::abcd]:5678", "localhost", "localhost:28448"]) {
      expect(isValidServerName(n), n).toBe(true);
    }
    expect(parseServerName("[::1]:8448")).toEqual({ host: "[::1]", port: 8448, kind: "ipv6" });
    expect(parseServerName("1.2.3.4:80")).toEqual({ host: "1.2.3.4", port: 80, kind: "ipv4" });
  });
  it("rejects malformed names", () => {
    for (const n of ["", "matrix.org:", "matrix.org:123456", "matrix.org:abc", "under_score.org", "[1234:5678::abcd", "[xyz::1]", "[::1]x", "1.2.3.256", "a b", "[fe80::1%eth0]", "x".repeat(256)]) {
      expect(isValidServerName(n), n).toBe(false);
    }
  });
});

describe("user ids", () => {
  it("strict grammar", () => {
    expect(parseUserId("@alice:example.org", { historical: false })).toEqual({ localpart: "alice", serverName: "example.org", compliant: true });
    expect(isValidUserId("@a.b_c=d-e/f+g:example.org:8448", { historical: false })).toBe(true);
    expect(isValidUserId("@Alice:example.org", { historical: false })).toBe(false);
    expect(isValidUserId("@:example.org", { historical: false })).toBe(false);
  });
  it("historical grammar accepts any non-surrogate except : and NUL, even empty", () => {
    expect(parseUserId("@Alice Ü:example.org")?.compliant).toBe(false);
    expect(isValidUserId("@:example.org")).toBe(true);
    expect(isValidUserId("@a\u0000b:example.org")).toBe(false);
    expect(isValidUserId("@a\ud800:example.org")).toBe(false);
    expect(isValidUserId("@\u{1F600}:example.org")).toBe(true);
  });
  it("rejects missing sigil, server name or overlong ids", () => {
    expect(isValidUserId("alice:example.org")).toBe(false);
    expect(isValidUserId("@alice")).toBe(false);
    expect(isValidUserId("@alice:bad_server")).toBe(false);
    expect(isValidUserId(`@${"a".repeat(250)}:example.org`)).toBe(false);
  });
});

describe("room ids, aliases, event ids", () => {
  it("room ids with and without domain", () => {
    expect(parseRoomId("!abc:example.org")).toEqual({ opaque: "abc", serverName: "example.org" });
    expect(parseRoomId("!Nhcu5BS-UMnFX7hBVfVSoXiD7OgH6iRT-xyIuqDnpYQ")).toEqual({ opaque: "Nhcu5BS-UMnFX7hBVfVSoXiD7OgH6iRT-xyIuqDnpYQ", serverName: undefined });
    expect(isValidRoomId("!short")).toBe(false);
    expect(isValidRoomId("#a:b")).toBe(false);
  });
  it("aliases", () => {
    expect(isValidRoomAlias("#room:example.org")).toBe(true);
    expect(isValidRoomAlias("#room")).toBe(false);
  });
  it("event ids per format", () => {
    expect(isValidEventId("$abc:example.org", "v1")).toBe(true);
    expect(isValidEventId("$CD66HAED5npg6074c6pDtLKalHjVfYb2q4Q3LZgrW6o", "v3")).toBe(true);
    expect(isValidEventId("$Rqnc-F-dvnEYJTyHq_iKxU2bZ1CI92-kuZq3a5lr5Zg", "v4")).toBe(true);
    expect(isValidEventId("$Rqnc-F-dvnEYJTyHq_iKxU2bZ1CI92-kuZq3a5lr5Zg", "v3")).toBe(false);
    expect(isValidEventId("$abc", "v4")).toBe(false);
    expect(isValidEventId("$abc:example.org")).toBe(true);
  });
  it("misc grammars", () => {
    expect(isValidDeviceId("ABCDEF")).toBe(true);
    expect(isValidDeviceId("")).toBe(false);
    expect(isValidRoomVersionId("1.2-beta")).toBe(true);
    expect(isValidRoomVersionId("A")).toBe(false);
    expect(isValidNamespacedIdentifier("m.login.password")).toBe(true);
    expect(isValidNamespacedIdentifier("M.x")).toBe(false);
    expect(isValidOpaqueIdentifier("abc-_.~")).toBe(true);
    expect(isValidOpaqueIdentifier("a b")).toBe(false);
  });
});
