import http from "node:http";
import type { Context, Next } from "koa";
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { Sql, SqlQueryable } from "../storage/sql.js";

export interface MetricsSources {
  /** /sync requests currently waiting for news. */
  syncWaiters: () => number;
  /** Waiting /sync requests woken so far (monotonic). */
  notifierWakeups: () => number;
  /** The database pool's configured size (PGlite: 1). */
  poolSize: number;
  /** Per outbound destination (appservice, pusher, federation peer): room-event stream positions not yet passed. */
  deliveryLag?: () => Promise<Array<{ kind: string; destination: string; lag: number }>>;
}

/**
 * Prometheus metrics of one server (its own registry, no global state): HTTP
 * requests by endpoint and status with latency, events persisted, /sync
 * waiters and wake-ups, database queries (count, latency, in flight) and the
 * process (memory, event-loop lag, GC) from prom-client's default collectors.
 */
export class Metrics {
  readonly registry = new Registry();
  private readonly requests: Counter<"listener" | "method" | "endpoint" | "status">;
  private readonly latency: Histogram<"listener" | "method" | "endpoint">;
  private readonly persisted: Counter<"type">;
  private readonly queries: Histogram<"kind">;
  private readonly inFlight: Gauge;

  constructor(sources: MetricsSources) {
    collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 20 });
    const registers = [this.registry];
    this.requests = new Counter({
      name: "http_requests_total",
      help: "HTTP requests answered, by listener, method, endpoint (route template) and status",
      labelNames: ["listener", "method", "endpoint", "status"],
      registers,
    });
    this.latency = new Histogram({
      name: "http_request_duration_seconds",
      help: "Time to answer HTTP requests, by listener, method and endpoint",
      labelNames: ["listener", "method", "endpoint"],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    this.persisted = new Counter({ name: "events_persisted_total", help: "Room events persisted, by event type class", labelNames: ["type"], registers });
    this.queries = new Histogram({
      name: "db_query_duration_seconds",
      help: "Database statement latency (query, transaction)",
      labelNames: ["kind"],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
      registers,
    });
    this.inFlight = new Gauge({ name: "db_queries_in_flight", help: "Database statements currently running", registers });
    new Gauge({ name: "db_pool_size", help: "Configured database connections", registers }).set(sources.poolSize);
    new Gauge({
      name: "sync_waiters",
      help: "/sync requests waiting for news",
      registers,
      collect() {
        this.set(sources.syncWaiters());
      },
    });
    const deliveryLag = sources.deliveryLag;
    new Gauge({
      name: "outbound_delivery_lag",
      help: "Room-event stream positions an outbound destination (appservice, pusher, federation peer) has not passed yet",
      labelNames: ["kind", "destination"],
      registers,
      async collect() {
        this.reset();
        for (const d of (await deliveryLag?.()) ?? []) this.set({ kind: d.kind, destination: d.destination }, d.lag);
      },
    });
    let lastWakeups = 0;
    new Counter({
      name: "notifier_wakeups_total",
      help: "Waiting /sync requests woken by new data",
      registers,
      collect() {
        const now = sources.notifierWakeups();
        if (now > lastWakeups) this.inc(now - lastWakeups);
        lastWakeups = now;
      },
    });
  }

  /** Koa middleware for a listener: counts and times every request. */
  httpMiddleware(listener: string) {
    return async (ctx: Context, next: Next): Promise<void> => {
      const end = this.latency.startTimer();
      try {
        await next();
      } finally {
        // The route template, never the raw path (ids would explode the label space).
        const matched = (ctx as Context & { _matchedRoute?: string | RegExp })._matchedRoute;
        const endpoint = typeof matched === "string" ? matched : "unmatched";
        end({ listener, method: ctx.method, endpoint });
        this.requests.inc({ listener, method: ctx.method, endpoint, status: String(ctx.status) });
      }
    };
  }

  eventPersisted(type: string): void {
    // Bounded label values: m.room.message, m.room.member... custom types are folded.
    this.persisted.inc({ type: type.startsWith("m.") ? type : "other" });
  }

  /** Wraps the database handle so every statement is timed. */
  instrumentSql(sql: Sql): Sql {
    const timed = async <T>(kind: string, fn: () => Promise<T>): Promise<T> => {
      this.inFlight.inc();
      const end = this.queries.startTimer({ kind });
      try {
        return await fn();
      } finally {
        end();
        this.inFlight.dec();
      }
    };
    const wrap = (q: SqlQueryable): SqlQueryable => ({
      query: (text, params) => timed("query", () => q.query(text, params)),
      exec: (script) => timed("query", () => q.exec(script)),
    });
    return {
      get engine() {
        return sql.engine;
      },
      query: (text, params) => timed("query", () => sql.query(text, params)),
      exec: (script) => timed("query", () => sql.exec(script)),
      transaction: (fn) => timed("transaction", () => sql.transaction((tx) => fn(wrap(tx)))),
      close: () => sql.close(),
    } as Sql;
  }

  /** The text exposition of every metric. */
  async text(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

/** The separate metrics listener: GET /metrics only. */
export function metricsServer(metrics: Metrics): http.Server {
  return http.createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method !== "GET" || path !== "/metrics") {
      res.writeHead(404, { "content-type": "text/plain" }).end("Not found\n");
      return;
    }
    metrics.text().then(
      ({ contentType, body }) => res.writeHead(200, { "content-type": contentType }).end(body),
      () => res.writeHead(500, { "content-type": "text/plain" }).end("metrics failed\n"),
    );
  });
}
