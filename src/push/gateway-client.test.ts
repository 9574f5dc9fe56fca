import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_DENIED_RANGES, IpPolicy } from "../media/ip-ranges.js";
import { BlockedAddressError } from "../media/safe-fetch.js";
import { GatewayClient, GatewayError } from "./gateway-client.js";

let server: http.Server;
let base = "";
const hits: string[] = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    hits.push(req.url ?? "");
    req.resume();
    req.on("end", () => {
      if (req.url === "/redirect/_matrix/push/v1/notify") res.writeHead(302, { location: `${base}/target` }).end();
      else if (req.url === "/big/_matrix/push/v1/notify") res.writeHead(200).end("x".repeat(10_000));
      else if (req.url === "/slow/_matrix/push/v1/notify") setTimeout(() => res.writeHead(200).end("{}"), 2000);
      else if (req.url === "/down/_matrix/push/v1/notify") res.writeHead(503).end("{}");
      else res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ rejected: ["k1", 5] }));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const open = (timeoutMs = 500) =>
  new GatewayClient({ policy: new IpPolicy({ allow: ["127.0.0.1/32"], deny: DEFAULT_DENIED_RANGES }), timeoutMs, maxResponseBytes: 1024 });

describe("GatewayClient", () => {
  it("refuses loopback and private gateways under the default policy, before connecting", async () => {
    const c = new GatewayClient({ policy: new IpPolicy({ allow: [], deny: DEFAULT_DENIED_RANGES }), timeoutMs: 500, maxResponseBytes: 1024 });
    const before = hits.length;
    await expect(c.notify(`${base}/_matrix/push/v1/notify`, {})).rejects.toBeInstanceOf(BlockedAddressError);
    await expect(c.notify("http://10.1.2.3/_matrix/push/v1/notify", {})).rejects.toBeInstanceOf(BlockedAddressError);
    expect(hits.length).toBe(before);
    await c.close();
  });

  it("reads the rejected pushkeys of a 200 answer", async () => {
    const c = open();
    expect(await c.notify(`${base}/_matrix/push/v1/notify`, { notification: { devices: [] } })).toEqual({ status: 200, rejected: ["k1"] });
    await c.close();
  });

  it("never follows a redirect, fails on error statuses, oversized answers and slow gateways", async () => {
    const c = open();
    await expect(c.notify(`${base}/redirect/_matrix/push/v1/notify`, {})).rejects.toBeInstanceOf(GatewayError);
    expect(hits).not.toContain("/target");
    await expect(c.notify(`${base}/down/_matrix/push/v1/notify`, {})).rejects.toThrow("HTTP 503");
    await expect(c.notify(`${base}/big/_matrix/push/v1/notify`, {})).rejects.toThrow("too large");
    const start = Date.now();
    await expect(c.notify(`${base}/slow/_matrix/push/v1/notify`, {})).rejects.toThrow();
    expect(Date.now() - start).toBeLessThan(1500);
    await expect(c.notify("http://user:pw@127.0.0.1/_matrix/push/v1/notify", {})).rejects.toBeInstanceOf(GatewayError);
    await c.close();
  });
});
