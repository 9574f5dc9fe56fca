import http from "node:http";
import type { AddressInfo } from "node:net";
import { Router } from "@koa/router";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../logging.js";
import { createHttpApp } from "./app.js";

// Only the routers with a route for a request run: the outcome must be what
// mounting every router in order gives, including a router passing a request on.
let base = "";
let server: http.Server;
const ran: string[] = [];

beforeAll(async () => {
  const first = new Router();
  first.use(async (ctx, next) => {
    ran.push("first-middleware");
    await next();
  });
  first.get("/shared/:id", async (ctx, next) => {
    ran.push("first");
    if (ctx.params.id === "pass") return next();
    ctx.body = { by: "first", id: ctx.params.id };
  });
  const second = new Router();
  second.get("/shared/:id", (ctx) => {
    ran.push("second");
    ctx.body = { by: "second" };
  });
  second.put("/only-second", (ctx) => {
    ran.push("second-put");
    ctx.body = { by: "second" };
  });
  const app = createHttpApp({ name: "test", log: createLogger("silent"), routers: [first, second] });
  server = http.createServer(app.callback());
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((r) => server.close(() => r())));

async function call(method: string, path: string): Promise<{ status: number; json: Record<string, unknown>; ran: string[] }> {
  ran.length = 0;
  const res = await fetch(base + path, { method });
  return { status: res.status, json: (await res.json()) as Record<string, unknown>, ran: [...ran] };
}

describe("routing", () => {
  it("the first router with a route answers, the same on a repeated request", async () => {
    for (let i = 0; i < 2; i++) {
      const r = await call("GET", "/shared/x");
      expect(r.json).toEqual({ by: "first", id: "x" });
      expect(r.ran).toEqual(["first-middleware", "first"]);
    }
  });

  it("a route that passes the request on reaches the next router's route", async () => {
    const r = await call("GET", "/shared/pass");
    expect(r.json).toEqual({ by: "second" });
    expect(r.ran).toEqual(["first-middleware", "first", "second"]);
  });

  it("a router without a route for the request never runs, its middleware included", async () => {
    const r = await call("PUT", "/only-second");
    expect(r.json).toEqual({ by: "second" });
    expect(r.ran).toEqual(["second-put"]);
  });

  it("no route: 404, or 405 when another method has one, for cached paths too", async () => {
    for (let i = 0; i < 2; i++) {
      expect((await call("GET", "/nowhere")).status).toBe(404);
      const wrong = await call("POST", "/only-second");
      expect(wrong.status).toBe(405);
      expect(wrong.ran).toEqual([]);
    }
  });
});
