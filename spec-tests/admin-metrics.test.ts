import http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../src/config/load.js";
import { startTestServer, type TestServer } from "./harness.js";
import { parsePrometheusText, type Family } from "./prometheus-text.js";
import { createRoom, newUser, send } from "./sync-helpers.js";

let hs: TestServer;

function get(port: number, path: string, method = "GET"): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, path, method }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, type: String(res.headers["content-type"] ?? ""), body }));
    });
    req.on("error", reject);
    req.end();
  });
}

type Families = Map<string, Family>;
async function scrape(): Promise<Families> {
  const r = await get(hs.server.metricsPort!, "/metrics");
  expect(r.status).toBe(200);
  expect(r.type).toMatch(/^text\/plain; version=0\.0\.4/);
  return parsePrometheusText(r.body);
}
const family = (f: Families, name: string) => f.get(name);
/** Sum of a counter/gauge's samples, or of a histogram's counts, whose labels match. */
function total(f: Families, name: string, match: Record<string, string> = {}): number {
  const fam = family(f, name);
  if (!fam) return 0;
  const sampleName = fam.type === "histogram" ? `${name}_count` : name;
  return fam.samples.filter((s) => s.name === sampleName && Object.entries(match).every(([k, v]) => s.labels[k] === v)).reduce((n, s) => n + s.value, 0);
}

beforeAll(async () => {
  hs = await startTestServer({ registration: { enabled: true }, password_policy: { scrypt_cost: 1024 }, metrics: { enabled: true, port: 0 } });
});
afterAll(() => hs?.close());

describe("Prometheus /metrics", () => {
  it("is off by default", () => {
    expect(parseConfig({}).metrics).toEqual({ enabled: false, bind: "127.0.0.1", port: 9092 });
  });

  it("serves the text format on its own listener, and nothing else there", async () => {
    expect(hs.server.metricsPort).toBeGreaterThan(0);
    expect(hs.server.metricsPort).not.toBe(hs.server.clientPort);
    expect((await get(hs.server.metricsPort!, "/other")).status).toBe(404);
    expect((await get(hs.server.metricsPort!, "/metrics", "POST")).status).toBe(404);
    const client = await hs.request("GET", "/metrics");
    expect(client.status).toBe(404);
    const f = await scrape();
    for (const name of [
      "http_requests_total",
      "http_request_duration_seconds",
      "events_persisted_total",
      "sync_waiters",
      "notifier_wakeups_total",
      "db_query_duration_seconds",
      "db_queries_in_flight",
      "db_pool_size",
      "outbound_delivery_lag",
      "process_resident_memory_bytes",
      "nodejs_eventloop_lag_seconds",
      "nodejs_heap_size_used_bytes",
    ]) {
      expect(family(f, name), name).toBeDefined();
    }
    expect(family(f, "http_request_duration_seconds")!.type).toBe("histogram");
    expect(family(f, "http_requests_total")!.type).toBe("counter");
  });

  it("moves after traffic: requests by endpoint and status, persisted events, queries, sync wake-ups", async () => {
    const before = await scrape();
    const u = await newUser(hs, "metered");
    const roomId = await createRoom(hs, u);
    const first = await hs.request<{ next_batch: string }>("GET", "/_matrix/client/v3/sync", { token: u.token });
    const waiting = hs.request("GET", `/_matrix/client/v3/sync?since=${encodeURIComponent(first.json.next_batch)}&timeout=10000`, { token: u.token });
    // Wait until the long poll is registered, then wake it.
    for (let i = 0; i < 100 && total(await scrape(), "sync_waiters") === 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(total(await scrape(), "sync_waiters")).toBe(1);
    await send(hs, u, roomId, "tick");
    expect((await waiting).status).toBe(200);
    await hs.request("GET", "/_matrix/client/v3/no/such/endpoint");

    const after = await scrape();
    const endpoint = "/_matrix/client/(v3|r0)/createRoom";
    const created = family(after, "http_requests_total")!.samples.find(
      (m) => m.labels.method === "POST" && m.labels.status === "200" && m.labels.endpoint?.includes("createRoom"),
    );
    expect(created, endpoint).toBeDefined();
    expect(total(after, "http_requests_total", { status: "404", endpoint: "unmatched" })).toBeGreaterThan(
      total(before, "http_requests_total", { status: "404", endpoint: "unmatched" }),
    );
    expect(total(after, "events_persisted_total", { type: "m.room.message" })).toBe(total(before, "events_persisted_total", { type: "m.room.message" }) + 1);
    expect(total(after, "events_persisted_total", { type: "m.room.create" })).toBeGreaterThanOrEqual(1);
    expect(total(after, "db_query_duration_seconds")).toBeGreaterThan(total(before, "db_query_duration_seconds"));
    expect(total(after, "notifier_wakeups_total")).toBeGreaterThan(total(before, "notifier_wakeups_total"));
    expect(total(after, "sync_waiters")).toBe(0);
    // A destination that has passed nothing yet lags by the whole stream.
    await hs.server.sql.query(
      "INSERT INTO delivery_positions (kind, destination, stream_pos, txn_seq, updated_ts) VALUES ('appservice', 'metrics-test', 0, 0, 0)",
    );
    const lagging = await scrape();
    expect(total(lagging, "outbound_delivery_lag", { kind: "appservice", destination: "metrics-test" })).toBeGreaterThan(5);
    expect(total(after, "http_request_duration_seconds", { method: "POST" })).toBeGreaterThan(
      total(before, "http_request_duration_seconds", { method: "POST" }),
    );
    expect(total(after, "db_query_duration_seconds", { kind: "transaction" })).toBeGreaterThan(
      total(before, "db_query_duration_seconds", { kind: "transaction" }),
    );
  });
});
