import http from "node:http";
import type { AddressInfo } from "node:net";
import { Writable } from "node:stream";
import { Router } from "@koa/router";
import { describe, expect, it } from "vitest";
import { createLogger } from "../logging.js";
import { createHttpApp } from "./app.js";

describe("request logging", () => {
  it("logs method, path, status and request id but never tokens from the header or query string", async () => {
    let logged = "";
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        logged += chunk.toString();
        cb();
      },
    });
    const router = new Router();
    router.get("/whoami", (ctx) => {
      ctx.body = {};
    });
    router.get("/fails", () => {
      throw new Error("boom");
    });
    const app = createHttpApp({ name: "client", log: createLogger("info", sink), routers: [router] });
    const server = http.createServer(app.callback());
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const ok = await fetch(`${base}/whoami?access_token=SECRET_QUERY_TOKEN`, { headers: { authorization: "Bearer SECRET_HEADER_TOKEN" } });
    const bad = await fetch(`${base}/fails?access_token=SECRET_QUERY_TOKEN`, { headers: { authorization: "Bearer SECRET_HEADER_TOKEN" } });
    await new Promise<void>((r) => server.close(() => r()));

    const lines = logged.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    const access = lines.filter((l) => l.msg === "request");
    expect(access).toHaveLength(2);
    expect(access[0]).toMatchObject({ method: "GET", path: "/whoami", status: 200, req: ok.headers.get("x-request-id") });
    expect(access[1]).toMatchObject({ path: "/fails", status: 500, req: bad.headers.get("x-request-id") });
    expect(lines.some((l) => l.msg === "request failed")).toBe(true);
    expect(logged).not.toContain("SECRET_QUERY_TOKEN");
    expect(logged).not.toContain("SECRET_HEADER_TOKEN");
  });
});
