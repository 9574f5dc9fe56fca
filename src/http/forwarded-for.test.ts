import http from "node:http";
import type { AddressInfo } from "node:net";
import { Router } from "@koa/router";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../logging.js";
import { createHttpApp } from "./app.js";

// X-Forwarded-For is believed only from trusted proxies, and then only up to
// the first hop (from the right) that is not itself a trusted proxy.
const servers: http.Server[] = [];

async function serve(trustedProxies: string[]): Promise<string> {
  const router = new Router();
  router.get("/ip", (ctx) => {
    ctx.body = { ip: ctx.ip };
  });
  const app = createHttpApp({ name: "test", log: createLogger("silent"), routers: [router], trustedProxies });
  const server = http.createServer(app.callback());
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function ipOf(base: string, xff?: string): Promise<string> {
  const res = await fetch(`${base}/ip`, { headers: xff ? { "X-Forwarded-For": xff } : {} });
  return ((await res.json()) as { ip: string }).ip;
}

let trusting = "";
let distrusting = "";
let none = "";
beforeAll(async () => {
  trusting = await serve(["127.0.0.1", "10.0.0.2"]);
  distrusting = await serve(["10.0.0.1"]);
  none = await serve([]);
});
afterAll(() => Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r())))));

describe("trusted proxies", () => {
  it("takes the client address from a trusted proxy's header", async () => {
    expect(await ipOf(trusting, "203.0.113.9")).toBe("203.0.113.9");
    // A chain through another trusted proxy.
    expect(await ipOf(trusting, "203.0.113.9, 10.0.0.2")).toBe("203.0.113.9");
    // A client cannot spoof its address by prepending hops: the rightmost untrusted one wins.
    expect(await ipOf(trusting, "6.6.6.6, 198.51.100.4")).toBe("198.51.100.4");
    expect(await ipOf(trusting)).toMatch(/127\.0\.0\.1$/);
  });

  it("ignores the header from anyone else, and when no proxy is configured", async () => {
    expect(await ipOf(distrusting, "203.0.113.9")).toMatch(/127\.0\.0\.1$/);
    expect(await ipOf(none, "203.0.113.9")).toMatch(/127\.0\.0\.1$/);
  });
});
