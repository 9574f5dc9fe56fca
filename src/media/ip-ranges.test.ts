import { describe, expect, it } from "vitest";
import { DEFAULT_DENIED_RANGES, IpPolicy, parseIp, parseRange } from "./ip-ranges.js";

const policy = new IpPolicy({ allow: [], deny: DEFAULT_DENIED_RANGES });

describe("IP parsing", () => {
  it("parses v4, v6, compressed, bracketed and dotted-tail forms", () => {
    expect([...parseIp("10.1.2.3")!]).toEqual([10, 1, 2, 3]);
    expect(parseIp("::1")![15]).toBe(1);
    expect([...parseIp("[::ffff:127.0.0.1]")!.slice(10)]).toEqual([255, 255, 127, 0, 0, 1]);
    expect([...parseIp("::ffff:7f00:1")!.slice(12)]).toEqual([127, 0, 0, 1]);
    expect(parseIp("fe80::1%eth0")![0]).toBe(0xfe);
    expect(parseIp("localhost")).toBeNull();
    expect(parseIp("1.2.3")).toBeNull();
    expect(parseIp("0x7f.0.0.1")).toBeNull();
  });
  it("rejects bad ranges", () => {
    expect(() => parseRange("10.0.0.0/33")).toThrow();
    expect(() => parseRange("nope/8")).toThrow();
    expect(parseRange("10.0.0.0/8").prefix).toBe(8);
  });
});

describe("default URL preview policy", () => {
  it.each([
    "127.0.0.1", "127.8.9.10", "10.0.0.1", "172.16.5.4", "172.31.255.255", "192.168.1.1", "169.254.169.254",
    "100.64.0.1", "0.0.0.0", "224.0.0.1", "255.255.255.255", "::1", "::", "fe80::1", "fd00::1", "fc00::2",
    "ff02::1", "::ffff:127.0.0.1", "::ffff:7f00:1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "64:ff9b::a00:1",
    "64:ff9b::127.0.0.1", "2002:7f00:1::1", "::127.0.0.1",
  ])("refuses %s", (ip) => {
    expect(policy.permits(ip)).toBe(false);
  });

  it.each(["8.8.8.8", "1.1.1.1", "172.32.0.1", "100.128.0.1", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"])(
    "permits %s",
    (ip) => {
      expect(policy.permits(ip)).toBe(true);
    },
  );

  it("refuses what is not an IP", () => {
    expect(policy.permits("example.org")).toBe(false);
  });

  it("an allow-list entry overrides the deny-list, also through the mapped form", () => {
    const p = new IpPolicy({ allow: ["127.0.0.2/32"], deny: DEFAULT_DENIED_RANGES });
    expect(p.permits("127.0.0.2")).toBe(true);
    expect(p.permits("::ffff:127.0.0.2")).toBe(true);
    expect(p.permits("127.0.0.1")).toBe(false);
  });
});
