/**
 * A stand-in homeserver for federation spec-tests: an HTTPS server that
 * serves its keys and, from a room graph the test builds with
 * test/support/remote-server.ts, the endpoints a receiving server calls
 * (`/event`, `/get_missing_events`, `/state_ids`, `/backfill`). Answers can
 * be delayed or rewritten, to play a slow or lying server.
 */
import { readFileSync } from "node:fs";
import https from "node:https";
import type { JsonObject, Pdu } from "../src/core/index.js";
import { ownKeyResponse } from "../src/federation/server-keys.js";
import { TestServer as RemoteServer, type Built } from "../test/support/remote-server.js";
import { freePort, type TlsFiles } from "./federation-helpers.js";

export type PeerEndpoint = "event" | "get_missing_events" | "state_ids" | "backfill";

export interface GraphPeer {
  name: string;
  remote: RemoteServer;
  /** Every event the peer has, by id. */
  events: Map<string, Pdu>;
  /** The state before each event (ids), for /state_ids. */
  stateBefore: Map<string, string[]>;
  /** All state event ids the peer knows (its /state_ids auth chain: a superset is harmless). */
  stateIds: Set<string>;
  /** Requests received, as "endpoint id-or-room". */
  requests: Array<{ endpoint: PeerEndpoint; arg: string }>;
  delayMs: Partial<Record<PeerEndpoint, number>>;
  /** Rewrites an answer before it is sent (a lying server). */
  lie?: (endpoint: PeerEndpoint, body: JsonObject) => JsonObject;
  close(): Promise<void>;
}

const prevIds = (pdu: Pdu): string[] => (pdu.prev_events as unknown[]).map((p) => (Array.isArray(p) ? (p[0] as string) : (p as string)));

export async function startGraphPeer(tls: TlsFiles): Promise<GraphPeer> {
  const port = await freePort();
  const name = `localhost:${port}`;
  const remote = new RemoteServer(name);
  const peer: GraphPeer = {
    name,
    remote,
    events: new Map(),
    stateBefore: new Map(),
    stateIds: new Set(),
    requests: [],
    delayMs: {},
    close: async () => {},
  };
  const walk = (start: string[], skip: Set<string>, limit: number, minDepth: number): Pdu[] => {
    const out: Pdu[] = [];
    const seen = new Set<string>();
    const queue = [...start];
    while (queue.length > 0 && out.length < limit) {
      const id = queue.shift()!;
      if (seen.has(id) || skip.has(id)) continue;
      seen.add(id);
      const pdu = peer.events.get(id);
      if (!pdu || (pdu.depth as number) < minDepth) continue;
      out.push(pdu);
      queue.push(...prevIds(pdu));
    }
    return out;
  };
  const answer = (endpoint: PeerEndpoint, req: { url: string; body: JsonObject | undefined }): [number, JsonObject] => {
    const url = new URL(req.url, "https://x");
    const p = url.pathname;
    const txn = (pdus: Pdu[]): JsonObject => ({ origin: name, origin_server_ts: Date.now(), pdus: pdus as JsonObject[] });
    if (endpoint === "event") {
      const id = decodeURIComponent(p.slice("/_matrix/federation/v1/event/".length));
      peer.requests.push({ endpoint, arg: id });
      const pdu = peer.events.get(id);
      return pdu ? [200, txn([pdu])] : [404, { errcode: "M_NOT_FOUND", error: "no" }];
    }
    if (endpoint === "state_ids") {
      const id = url.searchParams.get("event_id") ?? "";
      peer.requests.push({ endpoint, arg: id });
      const state = peer.stateBefore.get(id);
      return state ? [200, { pdu_ids: state, auth_chain_ids: [...peer.stateIds] }] : [404, { errcode: "M_NOT_FOUND", error: "no" }];
    }
    if (endpoint === "backfill") {
      const v = url.searchParams.getAll("v");
      peer.requests.push({ endpoint, arg: v.join(",") });
      return [200, txn(walk(v, new Set(), Number(url.searchParams.get("limit") ?? 10), 0))];
    }
    const b = req.body ?? {};
    const latest = (b.latest_events as string[]) ?? [];
    peer.requests.push({ endpoint, arg: latest.join(",") });
    const starts = latest.flatMap((id) => (peer.events.has(id) ? prevIds(peer.events.get(id)!) : []));
    return [200, { events: walk(starts, new Set((b.earliest_events as string[]) ?? []), Number(b.limit ?? 10), Number(b.min_depth ?? 0)) as JsonObject[] }];
  };
  const server = https.createServer({ cert: readFileSync(tls.certificate), key: readFileSync(tls.key) }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const url = req.url ?? "";
      const send = (status: number, body: unknown) => {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify(body));
      };
      if (url === "/_matrix/key/v2/server") return send(200, ownKeyResponse(name, remote.key, {}, Date.now()));
      const endpoint: PeerEndpoint | undefined = url.startsWith("/_matrix/federation/v1/event/")
        ? "event"
        : url.startsWith("/_matrix/federation/v1/state_ids/")
          ? "state_ids"
          : url.startsWith("/_matrix/federation/v1/backfill/")
            ? "backfill"
            : url.startsWith("/_matrix/federation/v1/get_missing_events/")
              ? "get_missing_events"
              : undefined;
      if (!endpoint) return send(404, { errcode: "M_UNRECOGNIZED", error: "no" });
      const body = chunks.length ? (JSON.parse(Buffer.concat(chunks).toString("utf8")) as JsonObject) : undefined;
      const [status, json] = answer(endpoint, { url, body });
      const out = status === 200 && peer.lie ? peer.lie(endpoint, json) : json;
      setTimeout(() => send(status, out), peer.delayMs[endpoint] ?? 0);
    });
  });
  await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));
  peer.close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return peer;
}

/**
 * A room as the peer sees it: events added in order, with the state before
 * each recorded for /state_ids.
 */
export class PeerRoom {
  readonly state = new Map<string, string>();

  constructor(readonly peer: GraphPeer) {}

  add(b: Built): Built {
    this.peer.events.set(b.id, b.pdu);
    this.peer.stateBefore.set(b.id, [...this.state.values()]);
    const sk = b.pdu.state_key;
    if (typeof sk === "string") {
      this.state.set(`${b.pdu.type as string}\u0000${sk}`, b.id);
      this.peer.stateIds.add(b.id);
    }
    return b;
  }
}
