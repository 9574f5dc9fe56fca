import http from "node:http";
import { describe, expect, it } from "vitest";
import { listen, stopListening } from "./listen.js";

describe("stopListening", () => {
  it("lets an in-flight request finish, refuses new connections, then resolves", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const server = http.createServer((_req, res) => {
      void gate.then(() => res.end("done"));
    });
    const port = await listen(server, "127.0.0.1", 0);
    const inFlight = fetch(`http://127.0.0.1:${port}/slow`).then((r) => r.text());
    await new Promise((r) => setTimeout(r, 50)); // the request is now being handled
    let stopped = false;
    const stopping = stopListening(server, 5_000).then(() => (stopped = true));
    await new Promise((r) => setTimeout(r, 50));
    expect(stopped).toBe(false);
    await expect(fetch(`http://127.0.0.1:${port}/new`)).rejects.toThrow();
    release();
    expect(await inFlight).toBe("done");
    await stopping;
    expect(stopped).toBe(true);
  });

  it("cuts a request that outlives the grace period", async () => {
    const server = http.createServer(() => {
      // never answers, like a long-poll
    });
    const port = await listen(server, "127.0.0.1", 0);
    const hanging = fetch(`http://127.0.0.1:${port}/`).then(
      () => "answered",
      () => "cut",
    );
    await new Promise((r) => setTimeout(r, 50));
    const t = Date.now();
    await stopListening(server, 200);
    expect(Date.now() - t).toBeGreaterThanOrEqual(150);
    expect(await hanging).toBe("cut");
  });
});
