/**
 * A stand-in homeserver for federation spec-tests: HTTPS on loopback with the
 * test certificate, named `localhost:PORT`, serving its keys and recording
 * every `PUT /_matrix/federation/v1/send/{txnId}` with whether its X-Matrix
 * header verifies against the key the test trusts for the origin. It can
 * answer transactions with 500, or be down (its port closed) and come back.
 */
import { readFileSync } from "node:fs";
import https from "node:https";
import type { Duplex } from "node:stream";
import { verifyJsonSignature, type JsonObject, type VerifyKey } from "../src/core/index.js";
import { ownKeyResponse } from "../src/federation/server-keys.js";
import { parseXMatrixHeader, requestJson } from "../src/federation/x-matrix.js";
import { TestServer as RemoteServer } from "../test/support/remote-server.js";
import { freePort, type TlsFiles } from "./federation-helpers.js";
import type { J } from "./sync-helpers.js";

export interface ReceivedTxn {
  txnId: string;
  origin: string | undefined;
  body: J;
  /** Whether the X-Matrix signature verified against the trusted key of the origin, for this destination. */
  signed: boolean;
  /** What the stand-in answered. */
  status: number;
  at: number;
}

export interface Peer {
  name: string;
  remote: RemoteServer;
  /** Every transaction attempt, in arrival order (retries included). */
  txns: ReceivedTxn[];
  /** "error": transactions get 500 M_UNKNOWN. */
  mode: "ok" | "error";
  /** Trusts `key` as `origin`'s request signing key. */
  trust(origin: string, key: VerifyKey): void;
  /** The transactions answered 200, first attempt of each id only. */
  accepted(): ReceivedTxn[];
  /** The PDUs of accepted transactions, in order. */
  pdus(): J[];
  /** The EDUs of accepted transactions, in order. */
  edus(): J[];
  /** Closes the port (connections refused) until `up`. */
  down(): Promise<void>;
  /** Listens again on the same port (nothing when it already does). */
  up(): Promise<void>;
  close(): Promise<void>;
}

export async function startPeer(tls: TlsFiles): Promise<Peer> {
  const port = await freePort();
  const name = `localhost:${port}`;
  const remote = new RemoteServer(name);
  const trusted = new Map<string, VerifyKey>();
  const sockets = new Set<Duplex>();
  let server: https.Server | undefined;

  const handler = (req: import("node:http").IncomingMessage, res: import("node:http").ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const url = req.url ?? "";
      const send = (status: number, body: unknown) => {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify(body));
      };
      if (url === "/_matrix/key/v2/server") return send(200, ownKeyResponse(name, remote.key, {}, Date.now()));
      const m = /^\/_matrix\/federation\/v1\/send\/([^/?]+)$/.exec(url);
      if (m && req.method === "PUT") {
        let body: J = {};
        try {
          body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as J;
        } catch {
          body = {};
        }
        const x = parseXMatrixHeader(String(req.headers.authorization ?? ""));
        const key = x ? trusted.get(x.origin) : undefined;
        let signed = false;
        if (x && key && x.destination === name && x.key === key.keyId) {
          const obj = requestJson("PUT", url, x.origin, x.destination, body as JsonObject);
          signed = verifyJsonSignature({ ...obj, signatures: { [x.origin]: { [x.key]: x.sig } } }, x.origin, key).ok;
        }
        const status = peer.mode === "ok" ? 200 : 500;
        peer.txns.push({ txnId: decodeURIComponent(m[1]!), origin: x?.origin, body, signed, status, at: Date.now() });
        return status === 200 ? send(200, { pdus: {} }) : send(500, { errcode: "M_UNKNOWN", error: "stand-in failure" });
      }
      send(404, { errcode: "M_UNRECOGNIZED", error: "not here" });
    });
  };

  const listen = async () => {
    if (server) return;
    server = https.createServer({ cert: readFileSync(tls.certificate), key: readFileSync(tls.key) }, handler);
    server.on("connection", (s) => {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
    });
    await new Promise<void>((r) => server!.listen(port, "127.0.0.1", r));
  };
  const stop = async () => {
    const s = server;
    server = undefined;
    if (!s) return;
    for (const sock of sockets) sock.destroy();
    await new Promise<void>((r) => s.close(() => r()));
  };

  const peer: Peer = {
    name,
    remote,
    txns: [],
    mode: "ok",
    trust: (origin, key) => void trusted.set(origin, key),
    accepted() {
      const seen = new Set<string>();
      return peer.txns.filter((t) => {
        if (t.status !== 200 || seen.has(t.txnId)) return false;
        seen.add(t.txnId);
        return true;
      });
    },
    pdus: () => peer.accepted().flatMap((t) => (t.body.pdus as J[] | undefined) ?? []),
    edus: () => peer.accepted().flatMap((t) => (t.body.edus as J[] | undefined) ?? []),
    down: stop,
    up: listen,
    close: stop,
  };
  await listen();
  return peer;
}
