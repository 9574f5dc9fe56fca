import { describe, expect, it } from "vitest";
import { parseServerAcl, serverAclAllows, serverNameHost } from "./index.js";

// The m.room.server_acl example of the spec's event schema.
const specExample = parseServerAcl({ allow_ip_literals: false, allow: ["*"], deny: ["*.evil.com", "evil.com"] });

describe('"Server Access Control Lists (ACLs) for rooms"', () => {
  it("1. no m.room.server_acl in the state allows every server", () => {
    expect(serverAclAllows(undefined, "evil.com")).toBe(true);
    expect(serverAclAllows(parseServerAcl(undefined), "1.2.3.4")).toBe(true);
  });

  it("the spec's example: evil.com and its subdomains denied, IP literals denied, others allowed", () => {
    expect(serverAclAllows(specExample, "evil.com")).toBe(false);
    expect(serverAclAllows(specExample, "matrix.evil.com")).toBe(false);
    expect(serverAclAllows(specExample, "a.b.evil.com")).toBe(false);
    expect(serverAclAllows(specExample, "notevil.com")).toBe(true);
    expect(serverAclAllows(specExample, "example.org")).toBe(true);
    expect(serverAclAllows(specExample, "1.2.3.4")).toBe(false);
    expect(serverAclAllows(specExample, "1.2.3.4:8448")).toBe(false);
    expect(serverAclAllows(specExample, "[::1]")).toBe(false);
    expect(serverAclAllows(specExample, "[2001:db8::1]:8448")).toBe(false);
  });

  it('ports are not considered: "evil.com, evil.com:8448, and evil.com:1234 would all match"', () => {
    for (const name of ["evil.com", "evil.com:8448", "evil.com:1234"]) expect(serverAclAllows(specExample, name)).toBe(false);
    const portPattern = parseServerAcl({ allow: ["*"], deny: ["good.org:8448"] });
    // A pattern with a port never matches a name without its port.
    expect(serverAclAllows(portPattern, "good.org:8448")).toBe(true);
  });

  it("matching is case-insensitive on both sides", () => {
    expect(serverAclAllows(specExample, "EVIL.com")).toBe(false);
    expect(serverAclAllows(parseServerAcl({ allow: ["*"], deny: ["*.EVIL.COM"] }), "Matrix.Evil.Com:443")).toBe(false);
    expect(serverAclAllows(parseServerAcl({ allow: ["Example.ORG"] }), "example.org")).toBe(true);
  });

  it("? matches exactly one character, * zero or more", () => {
    const acl = parseServerAcl({ allow: ["s?.example.org", "*host"] });
    expect(serverAclAllows(acl, "s1.example.org")).toBe(true);
    expect(serverAclAllows(acl, "s.example.org")).toBe(false);
    expect(serverAclAllows(acl, "s12.example.org")).toBe(false);
    expect(serverAclAllows(acl, "host")).toBe(true);
    expect(serverAclAllows(acl, "localhost:8008")).toBe(true);
    // Other characters are literal, including regular-expression ones.
    expect(serverAclAllows(parseServerAcl({ allow: ["a.b"] }), "axb")).toBe(false);
  });

  it("deny wins over allow; no allow rule denies everyone, the sender included", () => {
    expect(serverAclAllows(parseServerAcl({ allow: ["evil.com"], deny: ["evil.com"] }), "evil.com")).toBe(false);
    expect(serverAclAllows(parseServerAcl({ deny: [] }), "example.org")).toBe(false);
    expect(serverAclAllows(parseServerAcl({}), "example.org")).toBe(false);
  });

  it("allow_ip_literals defaults to true when missing or not a boolean", () => {
    expect(serverAclAllows(parseServerAcl({ allow: ["*"] }), "10.0.0.1:8448")).toBe(true);
    expect(serverAclAllows(parseServerAcl({ allow: ["*"], allow_ip_literals: "false" }), "10.0.0.1")).toBe(true);
    expect(serverAclAllows(parseServerAcl({ allow: ["*"], allow_ip_literals: false }), "10.0.0.1")).toBe(false);
    // A DNS name that looks numeric-ish is not an IP literal.
    expect(serverAclAllows(parseServerAcl({ allow: ["*"], allow_ip_literals: false }), "1.2.3.example")).toBe(true);
    // Literals can still be denied by pattern.
    expect(serverAclAllows(parseServerAcl({ allow: ["*"], deny: ["127.0.0.*"] }), "127.0.0.1:8448")).toBe(false);
  });

  it("malformed lists: non-string entries are ignored, a non-array is empty", () => {
    const acl = parseServerAcl({ allow: [1, null, { x: 1 }, "ok.org"], deny: "evil.com" as never });
    expect(acl?.allow).toEqual(["ok.org"]);
    expect(acl?.deny).toEqual([]);
    expect(serverAclAllows(acl, "ok.org")).toBe(true);
  });

  it("a pathological pattern is matched in bounded time", () => {
    const pattern = `${"*a".repeat(200)}b`;
    const start = Date.now();
    expect(serverAclAllows(parseServerAcl({ allow: [pattern] }), "a".repeat(250))).toBe(false);
    expect(Date.now() - start).toBeLessThan(2000);
  });

  it("serverNameHost strips the port, keeping IPv6 brackets", () => {
    expect(serverNameHost("example.org:8448")).toBe("example.org");
    expect(serverNameHost("example.org")).toBe("example.org");
    expect(serverNameHost("[::1]:8448")).toBe("[::1]");
    expect(serverNameHost("[::1]")).toBe("[::1]");
  });
});
