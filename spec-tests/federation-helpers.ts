/**
 * Federation spec-test support: instances of this server on loopback over
 * HTTPS with a self-signed certificate made for the test (server names
 * `localhost:PORT`), and signed server-server requests to them.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { Agent, request } from "undici";
import { signingKeyFromSeed, type JsonObject, type SigningKey } from "../src/core/index.js";
import { signRequestHeader } from "../src/federation/x-matrix.js";
import type { StartOptions } from "../src/server.js";
import { startTestServer, type TestServer } from "./harness.js";
import type { J } from "./sync-helpers.js";

export interface TlsFiles {
  certificate: string;
  key: string;
  dir: string;
}

/** A self-signed certificate for localhost / 127.0.0.1, valid one day. */
export function makeTestCertificate(): TlsFiles {
  const dir = mkdtempSync(path.join(os.tmpdir(), "fed-tls-"));
  const files = { certificate: path.join(dir, "cert.pem"), key: path.join(dir, "key.pem"), dir };
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "ed25519",
      "-nodes",
      "-keyout",
      files.key,
      "-out",
      files.certificate,
      "-days",
      "1",
      "-subj",
      "/CN=localhost",
      "-addext",
      "subjectAltName=DNS:localhost,IP:127.0.0.1",
    ],
    { stdio: "ignore" },
  );
  return files;
}

export function removeTestCertificate(files: TlsFiles | undefined): void {
  if (files) rmSync(files.dir, { recursive: true, force: true });
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/**
 * Starts an instance named `localhost:PORT` whose federation listener is
 * HTTPS on PORT. Loopback peers are allowed and the test certificate is not
 * verified (it is self-signed). `extra` is merged into `federation`, `config`
 * into the top level; `start` are the start options (a federation sender).
 */
export async function startFederated(tls: TlsFiles, port: number, extra: J = {}, config: J = {}, start: Omit<StartOptions, "log"> = {}): Promise<TestServer> {
  return startTestServer({
    server_name: `localhost:${port}`,
    registration: { enabled: true },
    password_policy: { scrypt_cost: 1024 },
    ...config,
    listeners: {
      client: { bind: "127.0.0.1", port: 0 },
      federation: { bind: "127.0.0.1", port, tls: { certificate: tls.certificate, key: tls.key } },
    },
    federation: { verify_tls: false, allow_private_addresses: true, ...extra },
  } as never, start);
}

/** Starts two federated instances A and B on fresh ports. */
export async function startPair(tls: TlsFiles, extraA: J = {}, extraB: J = {}): Promise<{ a: TestServer; b: TestServer; nameA: string; nameB: string }> {
  const [pa, pb] = [await freePort(), await freePort()];
  const a = await startFederated(tls, pa, extraA);
  const b = await startFederated(tls, pb, extraB);
  return { a, b, nameA: `localhost:${pa}`, nameB: `localhost:${pb}` };
}

/** The server's signing key as core's SigningKey. */
export function coreKey(hs: TestServer): SigningKey {
  const k = hs.server.signingKey;
  return signingKeyFromSeed(k.seed, k.keyId.slice(k.keyId.indexOf(":") + 1));
}

/** An undici agent that accepts the self-signed test certificate. */
export const insecureAgent = new Agent({ connect: { rejectUnauthorized: false } });

export interface FedResponse {
  status: number;
  json: J;
}

/** A raw request to `hs`'s federation listener, with an optional Authorization header. */
export async function fedRequest(
  hs: TestServer,
  method: string,
  uri: string,
  opts: { body?: unknown; rawBody?: string; authorization?: string } = {},
): Promise<FedResponse> {
  const res = await request(`${hs.federationUrl}${uri}`, {
    dispatcher: insecureAgent,
    method: method as "GET",
    headers: { "content-type": "application/json", ...(opts.authorization ? { authorization: opts.authorization } : {}) },
    body: opts.rawBody ?? (opts.body === undefined ? undefined : JSON.stringify(opts.body)),
  });
  const text = await res.body.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.statusCode, json: json as J };
}

/**
 * A request to `hs` signed as server `origin` with `key` (X-Matrix), as
 * another homeserver would make it.
 */
export function signedFedRequest(
  hs: TestServer,
  origin: string,
  key: SigningKey,
  destination: string,
  method: string,
  uri: string,
  body?: JsonObject,
): Promise<FedResponse> {
  return fedRequest(hs, method, uri, { body, authorization: signRequestHeader(key, origin, destination, method, uri, body) });
}

/** Polls `check` until it returns a value other than undefined, or fails after `ms`. */
export async function eventually<T>(check: () => Promise<T | undefined>, ms = 15_000, what = "condition"): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
