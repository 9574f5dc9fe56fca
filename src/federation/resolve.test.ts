import { describe, expect, it } from "vitest";
import { cacheControlMaxAgeMs, ServerNameResolver, type SrvRecord, type WellKnownResult } from "./resolve.js";

function resolver(opts: { wellKnown?: Record<string, WellKnownResult | Error>; srv?: Record<string, SrvRecord[]>; now?: () => number } = {}) {
  const calls = { wellKnown: [] as string[], srv: [] as string[] };
  const r = new ServerNameResolver({
    now: opts.now ?? (() => 1_000_000),
    srv: async (name) => {
      calls.srv.push(name);
      return opts.srv?.[name] ?? [];
    },
    wellKnown: async (host) => {
      calls.wellKnown.push(host);
      const w = opts.wellKnown?.[host];
      if (w instanceof Error || w === undefined) throw w ?? new Error("404");
      return w;
    },
  });
  return { r, calls };
}

const srv = (name: string, port: number, priority = 10, weight = 0): SrvRecord => ({ name, port, priority, weight });

describe('Server-server "Resolving server names"', () => {
  it("1: IP literals use their port or 8448; the certificate is for the IP (no SNI); Host is the server name", async () => {
    const { r, calls } = resolver();
    expect(await r.resolve("1.2.3.4")).toEqual({ dialHost: "1.2.3.4", port: 8448, hostHeader: "1.2.3.4", tlsName: "1.2.3.4" });
    expect(await r.resolve("[::1]:9000")).toEqual({ dialHost: "::1", port: 9000, hostHeader: "[::1]:9000", tlsName: "::1" });
    expect(calls.wellKnown).toEqual([]);
  });

  it("2: a hostname with an explicit port is dialled there without well-known or SRV", async () => {
    const { r, calls } = resolver();
    expect(await r.resolve("example.org:1234")).toEqual({ dialHost: "example.org", port: 1234, hostHeader: "example.org:1234", tlsName: "example.org" });
    expect(calls).toEqual({ wellKnown: [], srv: [] });
  });

  it("3.1/3.2: well-known delegation to an IP literal or a host with a port", async () => {
    const { r } = resolver({ wellKnown: { "a.org": { body: { "m.server": "5.6.7.8" } }, "b.org": { body: { "m.server": "hs.b.org:443" } } } });
    expect(await r.resolve("a.org")).toEqual({ dialHost: "5.6.7.8", port: 8448, hostHeader: "5.6.7.8", tlsName: "5.6.7.8" });
    expect(await r.resolve("b.org")).toEqual({ dialHost: "hs.b.org", port: 443, hostHeader: "hs.b.org:443", tlsName: "hs.b.org" });
  });

  it("3.3-3.5: a delegated hostname without port: _matrix-fed._tcp, then _matrix._tcp, then 8448; certificate for the delegated name", async () => {
    const { r, calls } = resolver({
      wellKnown: {
        "a.org": { body: { "m.server": "hs.a.org" } },
        "b.org": { body: { "m.server": "hs.b.org" } },
        "c.org": { body: { "m.server": "hs.c.org" } },
      },
      srv: {
        "_matrix-fed._tcp.hs.a.org": [srv("slow.a.org.", 1, 20), srv("fast.a.org.", 8443, 5)],
        "_matrix._tcp.hs.b.org": [srv("old.b.org", 8000)],
      },
    });
    expect(await r.resolve("a.org")).toEqual({ dialHost: "fast.a.org", port: 8443, hostHeader: "hs.a.org", tlsName: "hs.a.org" });
    expect(await r.resolve("b.org")).toEqual({ dialHost: "old.b.org", port: 8000, hostHeader: "hs.b.org", tlsName: "hs.b.org" });
    expect(await r.resolve("c.org")).toEqual({ dialHost: "hs.c.org", port: 8448, hostHeader: "hs.c.org", tlsName: "hs.c.org" });
    expect(calls.srv).toContain("_matrix-fed._tcp.hs.b.org");
  });

  it("4-6: without a valid well-known: SRV of the server name, then 8448; invalid m.server counts as none", async () => {
    const { r } = resolver({
      wellKnown: { "bad.org": { body: { "m.server": "not a name!" } }, "arr.org": { body: [] } },
      srv: { "_matrix-fed._tcp.s.org": [srv("fed.s.org", 9999)], "_matrix._tcp.t.org": [srv("x.t.org", 7)], "_matrix-fed._tcp.dot.org": [srv(".", 0)] },
    });
    expect(await r.resolve("s.org")).toEqual({ dialHost: "fed.s.org", port: 9999, hostHeader: "s.org", tlsName: "s.org" });
    expect(await r.resolve("t.org")).toEqual({ dialHost: "x.t.org", port: 7, hostHeader: "t.org", tlsName: "t.org" });
    expect(await r.resolve("bad.org")).toEqual({ dialHost: "bad.org", port: 8448, hostHeader: "bad.org", tlsName: "bad.org" });
    expect((await r.resolve("arr.org")).port).toBe(8448);
    expect(await r.resolve("dot.org")).toEqual({ dialHost: "dot.org", port: 8448, hostHeader: "dot.org", tlsName: "dot.org" });
  });

  it("caches well-known answers per Cache-Control (capped at 48 hours) and errors for a shorter time", async () => {
    let now = 0;
    const { r, calls } = resolver({
      now: () => now,
      wellKnown: { "a.org": { body: { "m.server": "hs.a.org:1" }, maxAgeMs: 100 * 3600_000 } },
    });
    await r.resolve("a.org");
    await r.resolve("e.org");
    now += 47 * 3600_000;
    r.forget("a.org");
    r.forget("e.org");
    await r.resolve("a.org");
    expect(calls.wellKnown.filter((h) => h === "a.org")).toHaveLength(1);
    await r.resolve("e.org");
    expect(calls.wellKnown.filter((h) => h === "e.org")).toHaveLength(2);
    now += 2 * 3600_000;
    r.forget("a.org");
    await r.resolve("a.org");
    expect(calls.wellKnown.filter((h) => h === "a.org")).toHaveLength(2);
  });

  it("refuses what is not a server name", async () => {
    const { r } = resolver();
    await expect(r.resolve("bad name")).rejects.toThrow(/not a valid server name/);
  });
});

describe("cacheControlMaxAgeMs", () => {
  it("reads max-age and no-store, and nothing else", () => {
    expect(cacheControlMaxAgeMs({ "cache-control": "public, max-age=3600" })).toBe(3_600_000);
    expect(cacheControlMaxAgeMs({ "cache-control": "no-store" })).toBe(0);
    expect(cacheControlMaxAgeMs({ "cache-control": "public" })).toBeUndefined();
    expect(cacheControlMaxAgeMs({})).toBeUndefined();
  });
});
