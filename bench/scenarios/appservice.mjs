// Application services: events per second delivered to one appservice catching
// up on a backlog, and the delay from a client's send to the appservice's
// transaction (p50/p99). The server gets its own registration file, so this
// scenario starts its own server on the engine under test.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { startBenchServer } from "../lib/server.mjs";
import { summarize } from "../lib/stats.mjs";
import { jsonClient, ok, pooled, registerUser } from "../lib/users.mjs";

const SCALES = {
  backlog: { tiny: 200, small: 1000, medium: 5000 },
  latency: { tiny: 50, small: 200, medium: 500 },
};

const AS_TOKEN = "bench-as-token";
const HS_TOKEN = "bench-hs-token";

/** A fake appservice: notes when each event id first arrives; `down` answers 503. */
function fakeAppservice() {
  const arrived = new Map();
  const waiters = new Map();
  const state = { down: false };
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      if (state.down && req.url.includes("/transactions/")) {
        res.writeHead(503).end("{}");
        return;
      }
      if (req.url.includes("/transactions/")) {
        const body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
        const now = performance.now();
        for (const e of body.events ?? []) {
          if (arrived.has(e.event_id)) continue;
          arrived.set(e.event_id, now);
          waiters.get(e.event_id)?.();
        }
      }
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  return {
    state,
    arrived,
    server,
    waitFor(eventId) {
      if (arrived.has(eventId)) return Promise.resolve();
      return new Promise((resolve) => waiters.set(eventId, resolve));
    },
  };
}

export const appserviceDelivery = {
  name: "appservice_delivery",
  description: "appservice: events/s delivered catching up a backlog; send -> transaction delay p50/p99",
  async run({ root, engine, scale }) {
    const fake = fakeAppservice();
    await new Promise((r) => fake.server.listen(0, "127.0.0.1", r));
    const port = fake.server.address().port;
    const dir = mkdtempSync(path.join(os.tmpdir(), "hs-bench-as-"));
    const file = path.join(dir, "registration.yaml");
    writeFileSync(
      file,
      JSON.stringify({
        id: "bench",
        url: `http://127.0.0.1:${port}`,
        as_token: AS_TOKEN,
        hs_token: HS_TOKEN,
        sender_localpart: "_bench_bot",
        namespaces: { users: [{ exclusive: true, regex: "@_bench_.*" }], aliases: [], rooms: [] },
        rate_limited: false,
      }),
    );
    const server = await startBenchServer({
      root,
      engine,
      databaseUrl: process.env.BENCH_DATABASE_URL,
      config: { app_service_config_files: [file], app_services: { retry_min_ms: 50, retry_max_ms: 200 }},
    });
    const { pool, call } = jsonClient(server.baseUrl, 4);
    try {
      const a = await registerUser(call, "asbench");
      const room = await ok(call("POST", "/_matrix/client/v3/createRoom", { token: a.token, body: { preset: "public_chat" } }), "createRoom");
      const roomId = encodeURIComponent(room.room_id);
      await ok(call("POST", `/_matrix/client/v3/join/${roomId}`, { token: AS_TOKEN, body: {} }), "bot join");
      let txn = 0;
      const send = (i) => ok(call("PUT", `/_matrix/client/v3/rooms/${roomId}/send/m.room.message/as${++txn}`, { token: a.token, body: { msgtype: "m.text", body: `m${i}` } }), "send");

      // Latency: one message at a time into a caught-up appservice.
      const samples = [];
      for (let i = 0; i < SCALES.latency[scale]; i++) {
        const t0 = performance.now();
        const { event_id } = await send(i);
        await fake.waitFor(event_id);
        samples.push(performance.now() - t0);
      }
      const lat = summarize(samples);

      // Throughput: a backlog written while the appservice refuses, then delivered.
      const n = SCALES.backlog[scale];
      fake.state.down = true;
      const ids = [];
      await pooled(n, 4, async (i) => ids.push((await send(i)).event_id));
      fake.state.down = false;
      const t0 = performance.now();
      // A successful ping ends the backoff at once.
      await ok(call("POST", "/_matrix/client/v1/appservice/bench/ping", { token: AS_TOKEN, body: {} }), "ping");
      await Promise.all(ids.map((id) => fake.waitFor(id)));
      const seconds = (performance.now() - t0) / 1000;
      return {
        figures: { backlog_events_per_s: Math.round(n / seconds), send_to_txn_p50_ms: lat.p50, send_to_txn_p99_ms: lat.p99 },
        n: { backlog: n, latency: samples.length },
      };
    } finally {
      await pool.close();
      await server.stop();
      fake.server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
