import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AsClient, AsRequestError } from "./as-client.js";
import type { AppServiceRegistration } from "./registration.js";

let server: http.Server;
let url: string;
const seen: Array<{ url: string; auth: string | undefined }> = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    seen.push({ url: req.url ?? "", auth: req.headers.authorization });
    if (req.url === "/big") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(Buffer.alloc(64 * 1024, 0x20));
    } else if (req.url === "/slow") {
      // never answers
    } else if (req.url?.startsWith("/_matrix/app/v1/users/")) {
      res.writeHead(404, { "content-type": "application/json" }).end('{"errcode":"M_UNRECOGNIZED"}');
    } else if (req.url?.startsWith("/users/")) {
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    } else if (req.url?.startsWith("/_matrix/app/v1/rooms/")) {
      res.writeHead(404, { "content-type": "application/json" }).end('{"errcode":"M_NOT_FOUND"}');
    } else {
      res.writeHead(200, { "content-type": "application/json" }).end('{"ok":true}');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const reg = (): AppServiceRegistration => ({ url, hsToken: "the-hs-token" }) as AppServiceRegistration;

describe("requests to an appservice", () => {
  it("sends the hs_token as a bearer token and parses the answer", async () => {
    const client = new AsClient({ timeoutMs: 2000, maxResponseBytes: 4096 });
    const r = await client.call(reg(), "GET", "/x");
    expect(r).toMatchObject({ status: 200, json: { ok: true } });
    expect(seen.at(-1)).toEqual({ url: "/x", auth: "Bearer the-hs-token" });
    await client.close();
  });

  it("refuses a response above the size limit and gives up after the timeout", async () => {
    const client = new AsClient({ timeoutMs: 300, maxResponseBytes: 4096 });
    await expect(client.call(reg(), "GET", "/big")).rejects.toMatchObject({ kind: "too_large" });
    const started = Date.now();
    const slow = await client.call(reg(), "GET", "/slow").catch((e: unknown) => e);
    expect(slow).toBeInstanceOf(AsRequestError);
    expect((slow as AsRequestError).kind).toBe("timeout");
    expect(Date.now() - started).toBeLessThan(2000);
    await client.close();
  });

  it("falls back to the legacy path only when the current one is unknown (M_UNRECOGNIZED)", async () => {
    const client = new AsClient({ timeoutMs: 2000, maxResponseBytes: 4096 });
    const u = await client.callWithLegacy(reg(), "GET", "/_matrix/app/v1/users/%40a%3Ahs", "/users/%40a%3Ahs");
    expect(u.status).toBe(200);
    expect(seen.at(-1)!.url).toBe("/users/%40a%3Ahs");
    const n = seen.length;
    const r = await client.callWithLegacy(reg(), "GET", "/_matrix/app/v1/rooms/%23a%3Ahs", "/rooms/%23a%3Ahs");
    expect(r.status).toBe(404);
    expect(seen.length).toBe(n + 1);
    await client.close();
  });
});
