// Federation sender: the delay from a client's send on the server to a
// stand-in peer receiving the event in a PUT /send transaction (p50/p99), and
// events per second delivered to a peer catching up on a backlog. The server
// gets its own HTTPS federation listener (named 127.0.0.1:PORT, a test
// certificate made here), so this scenario starts its own server. The peer's
// user joins by a PDU the peer signs and sends in its own transaction.
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import https from "node:https";
import os from "node:os";
import path from "node:path";
import { Agent, request } from "undici";
import { freePort, makeCertificate, startFederatedBenchServer } from "../lib/federation.mjs";
import { summarize } from "../lib/stats.mjs";
import { jsonClient, ok, pooled, registerUser } from "../lib/users.mjs";

const SCALES = {
  latency: { tiny: 50, small: 200, medium: 500 },
  backlog: { tiny: 100, small: 500, medium: 2000 },
};

/** A stand-in homeserver: serves its keys, notes when each message body first arrives; `down` answers 503. */
async function startPeer(root, tls) {
  const core = await import(path.join(root, "dist/core/index.js"));
  const { ownKeyResponse } = await import(path.join(root, "dist/federation/server-keys.js"));
  const port = await freePort();
  const name = `127.0.0.1:${port}`;
  const key = core.signingKeyFromSeed(randomBytes(32), "bench");
  const arrived = new Map();
  const waiters = new Map();
  const state = { down: false, txns: 0, pdus: 0 };
  const server = https.createServer({ cert: readFileSync(tls.certificate), key: readFileSync(tls.key) }, (req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const json = (status, body) => res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
      if (req.url === "/_matrix/key/v2/server") return json(200, ownKeyResponse(name, key, {}, Date.now()));
      if (req.method === "PUT" && req.url.startsWith("/_matrix/federation/v1/send/")) {
        if (state.down) return json(503, { errcode: "M_UNKNOWN", error: "down" });
        const now = performance.now();
        const body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
        state.txns++;
        for (const pdu of body.pdus ?? []) {
          state.pdus++;
          const b = pdu.content?.body;
          if (typeof b !== "string" || arrived.has(b)) continue;
          arrived.set(b, now);
          waiters.get(b)?.();
        }
        return json(200, { pdus: {} });
      }
      json(404, { errcode: "M_UNRECOGNIZED", error: "not here" });
    });
  });
  await new Promise((r) => server.listen(port, "127.0.0.1", r));
  return {
    name,
    key,
    core,
    state,
    arrived,
    waitFor(body) {
      if (arrived.has(body)) return Promise.resolve();
      return new Promise((resolve) => waiters.set(body, resolve));
    },
    close: () => new Promise((r) => server.close(() => r())),
  };
}

/** The peer's user joins the room: a join PDU signed by the peer, in a transaction the peer signs. */
async function joinFromPeer(root, peer, call, token, roomId, nameA, fedPort) {
  const { signRequestHeader } = await import(path.join(root, "dist/federation/x-matrix.js"));
  const core = peer.core;
  const state = await ok(call("GET", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/state`, { token }), "state");
  const id = (type) => state.find((e) => e.type === type && e.state_key === "").event_id;
  const last = await ok(call("GET", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/messages?dir=b&limit=1`, { token }), "messages");
  const rv = core.getRoomVersion("10");
  const user = `@bob:${peer.name}`;
  const { pdu } = core.createSignedPdu(
    {
      roomId,
      sender: user,
      type: "m.room.member",
      stateKey: user,
      content: { membership: "join" },
      prevEvents: [last.chunk[0].event_id],
      authEvents: [id("m.room.create"), id("m.room.power_levels"), id("m.room.join_rules")],
      depth: 100,
      originServerTs: Date.now(),
    },
    rv,
    peer.name,
    peer.key,
    { eventIdLocalpart: randomBytes(9).toString("hex"), referenceHashOf: () => undefined },
  );
  const uri = `/_matrix/federation/v1/send/join${Date.now()}`;
  const body = { origin: peer.name, origin_server_ts: Date.now(), pdus: [pdu] };
  const res = await request(`https://127.0.0.1:${fedPort}${uri}`, {
    method: "PUT",
    dispatcher: new Agent({ connect: { rejectUnauthorized: false } }),
    headers: { "content-type": "application/json", authorization: signRequestHeader(peer.key, peer.name, nameA, "PUT", uri, body) },
    body: JSON.stringify(body),
  });
  const answer = await res.body.json();
  const results = Object.values(answer.pdus ?? {});
  if (res.statusCode !== 200 || results.length !== 1 || results[0].error) throw new Error(`peer join: ${res.statusCode} ${JSON.stringify(answer)}`);
}

export const federationSend = {
  name: "federation_send",
  description: "federation sender: client send -> peer's PUT /send p50/p99; time for a peer to catch up a backlog",
  async run({ root, engine, scale }) {
    const dir = mkdtempSync(path.join(os.tmpdir(), "hs-bench-fed-"));
    const tls = makeCertificate(dir);
    const fedPort = await freePort();
    const nameA = `127.0.0.1:${fedPort}`;
    const peer = await startPeer(root, tls);
    const server = await startFederatedBenchServer({
      root,
      engine,
      tls,
      port: fedPort,
      config: { federation: { sender: { min_backoff_ms: 50, max_backoff_ms: 200 } } },
    });
    const { pool, call } = jsonClient(server.baseUrl, 4);
    try {
      const a = await registerUser(call, "fedbench");
      const room = await ok(
        call("POST", "/_matrix/client/v3/createRoom", { token: a.token, body: { preset: "public_chat", room_version: "10" } }),
        "createRoom",
      );
      await joinFromPeer(root, peer, call, a.token, room.room_id, nameA, fedPort);
      const roomId = encodeURIComponent(room.room_id);
      let txn = 0;
      const send = (body) =>
        ok(call("PUT", `/_matrix/client/v3/rooms/${roomId}/send/m.room.message/f${++txn}`, { token: a.token, body: { msgtype: "m.text", body } }), "send");

      // Latency: one message at a time to a caught-up peer.
      const samples = [];
      for (let i = 0; i < SCALES.latency[scale]; i++) {
        const t0 = performance.now();
        await send(`l${i}`);
        await peer.waitFor(`l${i}`);
        samples.push(performance.now() - t0);
      }
      const lat = summarize(samples);

      // Backlog: n messages written while the peer refuses; once it answers again it
      // gets the transaction that was in flight and then the newest 50 (catch-up).
      const n = SCALES.backlog[scale];
      peer.state.down = true;
      await pooled(n, 4, (i) => send(`b${i}`));
      const before = { txns: peer.state.txns, pdus: peer.state.pdus };
      peer.state.down = false;
      const t0 = performance.now();
      await peer.waitFor(`b${n - 1}`);
      const seconds = (performance.now() - t0) / 1000;
      return {
        figures: {
          send_to_peer_p50_ms: lat.p50,
          send_to_peer_p99_ms: lat.p99,
          backlog_caught_up_ms: Math.round(seconds * 1000),
          backlog_pdus_sent: peer.state.pdus - before.pdus,
        },
        n: { latency: samples.length, backlog: n },
      };
    } finally {
      await pool.close();
      await server.stop();
      await peer.close();
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
