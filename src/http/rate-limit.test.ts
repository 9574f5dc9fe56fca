import { describe, expect, it } from "vitest";
import { MatrixError } from "./errors.js";
import { Ratelimiter } from "./rate-limit.js";

describe("Ratelimiter", () => {
  it("allows a burst, then refuses with retry_after_ms until the bucket drains", () => {
    let now = 1_000_000;
    const rl = new Ratelimiter({ enabled: true, rule: { perSecond: 0.5, burst: 2 }, now: () => now });
    rl.check("ip");
    rl.check("ip");
    let err: unknown;
    try {
      rl.check("ip");
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(MatrixError);
    const m = err as MatrixError;
    expect(m.status).toBe(429);
    expect(m.errcode).toBe("M_LIMIT_EXCEEDED");
    expect(m.toJSON().retry_after_ms).toBe(2000);
    expect(m.headers["Retry-After"]).toBe("2");
    rl.check("other"); // keys are independent
    now += 2000;
    rl.check("ip");
    expect(() => rl.check("ip")).toThrow(MatrixError);
  });

  it("does nothing when disabled", () => {
    const rl = new Ratelimiter({ enabled: false, rule: { perSecond: 0.001, burst: 1 } });
    for (let i = 0; i < 10; i++) rl.check("k");
    expect(rl.retryAfter("k")).toBe(0);
  });

  it("record and ensureNotLimited count failures without taking on success", () => {
    const now = 0;
    const rl = new Ratelimiter({ enabled: true, rule: { perSecond: 1, burst: 2 }, now: () => now });
    rl.ensureNotLimited("u");
    rl.record("u");
    rl.record("u");
    expect(() => rl.ensureNotLimited("u")).toThrow(/Too many/);
  });

  it("bounds the number of keys kept", () => {
    const rl = new Ratelimiter({ enabled: true, rule: { perSecond: 1, burst: 5 }, now: () => 0, maxKeys: 100 });
    for (let i = 0; i < 1000; i++) rl.record(`k${i}`);
    expect((rl as unknown as { buckets: Map<string, unknown> }).buckets.size).toBeLessThanOrEqual(100);
  });
});
