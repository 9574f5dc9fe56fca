import http from "node:http";
import type { AddressInfo } from "node:net";
import { Router } from "@koa/router";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { createLogger } from "../logging.js";
import { createHttpApp } from "./app.js";
import { readJsonBody } from "./body.js";
import { validateBody, validateQuery } from "./validate.js";

// The HTTP glue in isolation: a real Koa app on an ephemeral port with a small
// router, so every error path can be driven before real endpoints exist.
const LIMIT = 1024;
let base = "";
let server: http.Server;

beforeAll(async () => {
  const router = new Router();
  router.post("/echo", async (ctx) => {
    const body = validateBody(z.object({ name: z.string().max(10), count: z.number().int().optional() }), await readJsonBody(ctx, LIMIT));
    ctx.body = { got: body };
  });
  router.get("/query", (ctx) => {
    const q = validateQuery(z.object({ limit: z.coerce.number().int().min(1) }), ctx.query);
    ctx.body = q;
  });
  router.get("/boom", () => {
    throw new Error("secret internal detail");
  });
  const app = createHttpApp({ name: "test", log: createLogger("silent"), routers: [router] });
  server = http.createServer(app.callback());
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((r) => server.close(() => r())));

async function call(method: string, path: string, body?: string | Buffer, headers: Record<string, string> = {}) {
  const res = await fetch(base + path, { method, body, headers });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: text ? (JSON.parse(text) as Record<string, unknown>) : undefined };
}

describe("HTTP error mapping", () => {
  it("accepts a valid JSON body", async () => {
    const r = await call("POST", "/echo", JSON.stringify({ name: "bob", count: 2 }));
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ got: { name: "bob", count: 2 } });
  });

  it("labels JSON answers and errors with the bare media type", async () => {
    const ok = await call("POST", "/echo", JSON.stringify({ name: "bob" }));
    expect(ok.headers.get("content-type")).toBe("application/json");
    const err = await call("POST", "/echo", "{not json");
    expect(err.headers.get("content-type")).toBe("application/json");
  });

  it("invalid JSON -> 400 M_NOT_JSON", async () => {
    const r = await call("POST", "/echo", "{not json");
    expect(r.status).toBe(400);
    expect(r.json?.errcode).toBe("M_NOT_JSON");
  });

  it("empty body where JSON is required -> 400 M_NOT_JSON", async () => {
    const r = await call("POST", "/echo", "");
    expect(r.status).toBe(400);
    expect(r.json?.errcode).toBe("M_NOT_JSON");
  });

  it("JSON that is not an object -> 400 M_BAD_JSON", async () => {
    const r = await call("POST", "/echo", "[1,2]");
    expect(r.status).toBe(400);
    expect(r.json?.errcode).toBe("M_BAD_JSON");
  });

  it("missing field -> 400 M_BAD_JSON naming the field", async () => {
    const r = await call("POST", "/echo", JSON.stringify({ count: 1 }));
    expect(r.status).toBe(400);
    expect(r.json?.errcode).toBe("M_BAD_JSON");
    expect(r.json?.error).toContain("name");
  });

  it("wrong type -> 400 M_BAD_JSON naming the field", async () => {
    const r = await call("POST", "/echo", JSON.stringify({ name: "x", count: "two" }));
    expect(r.status).toBe(400);
    expect(r.json?.errcode).toBe("M_BAD_JSON");
    expect(r.json?.error).toContain("count");
  });

  it("bad query parameter -> M_INVALID_PARAM, missing -> M_MISSING_PARAM", async () => {
    const bad = await call("GET", "/query?limit=zero");
    expect(bad.status).toBe(400);
    expect(bad.json?.errcode).toBe("M_INVALID_PARAM");
    expect(bad.json?.error).toContain("limit");
    const missing = await call("GET", "/query");
    expect(missing.json?.errcode).toBe("M_MISSING_PARAM");
    const ok = await call("GET", "/query?limit=5");
    expect(ok.json).toEqual({ limit: 5 });
  });

  it("body over the limit -> 413 M_TOO_LARGE (declared length)", async () => {
    const r = await call("POST", "/echo", JSON.stringify({ name: "x".repeat(LIMIT * 2) }));
    expect(r.status).toBe(413);
    expect(r.json?.errcode).toBe("M_TOO_LARGE");
  });

  it("chunked body over the limit -> 413 M_TOO_LARGE", async () => {
    const big = "x".repeat(LIMIT * 4);
    const stream = new ReadableStream({
      start(c) {
        c.enqueue(new TextEncoder().encode(`{"name":"${big}`));
        c.enqueue(new TextEncoder().encode(`"}`));
        c.close();
      },
    });
    const res = await fetch(base + "/echo", { method: "POST", body: stream, duplex: "half" } as RequestInit);
    expect(res.status).toBe(413);
    expect(((await res.json()) as { errcode: string }).errcode).toBe("M_TOO_LARGE");
  });

  it("unknown endpoint -> 404 M_UNRECOGNIZED", async () => {
    const r = await call("GET", "/_matrix/client/v3/nonexistent");
    expect(r.status).toBe(404);
    expect(r.json?.errcode).toBe("M_UNRECOGNIZED");
  });

  it("wrong method -> 405 M_UNRECOGNIZED", async () => {
    const r = await call("DELETE", "/echo");
    expect(r.status).toBe(405);
    expect(r.json?.errcode).toBe("M_UNRECOGNIZED");
  });

  it("internal failure -> 500 M_UNKNOWN without leaking the error", async () => {
    const r = await call("GET", "/boom");
    expect(r.status).toBe(500);
    expect(r.json?.errcode).toBe("M_UNKNOWN");
    expect(r.text).not.toContain("secret");
    expect(r.text).not.toContain("at ");
  });

  it("every response carries CORS headers and a request id, errors included", async () => {
    for (const r of [await call("GET", "/nope"), await call("POST", "/echo", "{")]) {
      expect(r.headers.get("access-control-allow-origin")).toBe("*");
      expect(r.headers.get("access-control-allow-methods")).toContain("OPTIONS");
      expect(r.headers.get("access-control-allow-headers")).toContain("Authorization");
      expect(r.headers.get("x-request-id")).toMatch(/^[A-Za-z0-9_-]+$/);
    }
  });

  it("OPTIONS on any path answers the preflight without running the endpoint", async () => {
    const r = await call("OPTIONS", "/boom", undefined, { origin: "https://app.example", "access-control-request-method": "GET" });
    expect(r.status).toBe(200);
    expect(r.headers.get("access-control-allow-origin")).toBe("*");
    const unknown = await call("OPTIONS", "/some/unknown/path");
    expect(unknown.status).toBe(200);
  });
});
