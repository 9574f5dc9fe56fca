// The HTTP floor: what any request costs before a feature does any work.
import { Pool } from "undici";
import { summarize } from "../lib/stats.mjs";

export const httpLatency = {
  name: "http_latency",
  description: "GET /_matrix/client/versions, sequential, one keep-alive connection",
  async run({ server, scale }) {
    const n = { tiny: 50, small: 2000, medium: 10000 }[scale];
    const pool = new Pool(server.baseUrl, { connections: 1 });
    const samples = [];
    for (let i = 0; i < n; i++) {
      const t = performance.now();
      const res = await pool.request({ path: "/_matrix/client/versions", method: "GET" });
      await res.body.text();
      if (res.statusCode !== 200) throw new Error(`status ${res.statusCode}`);
      samples.push(performance.now() - t);
    }
    await pool.close();
    const s = summarize(samples);
    return { figures: { p50_ms: s.p50, p95_ms: s.p95, p99_ms: s.p99 }, n };
  },
};

export const httpThroughput = {
  name: "http_throughput",
  description: "GET /_matrix/client/versions, 20 concurrent keep-alive connections",
  async run({ server, scale }) {
    const total = { tiny: 200, small: 20000, medium: 100000 }[scale];
    const concurrency = 20;
    const pool = new Pool(server.baseUrl, { connections: concurrency, pipelining: 1 });
    let issued = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (issued < total) {
          issued++;
          const res = await pool.request({ path: "/_matrix/client/versions", method: "GET" });
          await res.body.text();
          if (res.statusCode !== 200) throw new Error(`status ${res.statusCode}`);
        }
      }),
    );
    const secs = (performance.now() - started) / 1000;
    await pool.close();
    return { figures: { requests_per_s: Math.round(total / secs) }, n: total };
  },
};
