import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import https from "node:https";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import type { TLSSocket } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FederationTransport } from "./transport.js";

// Server-server "TLS": certificates checked against the expected name, SNI sent
// for hostnames and not for IP literals, an extra CA from federation.ca_file.

let dir: string;
let ca: string;
let server: https.Server;
let port: number;
const seen: Array<{ sni: string | false | null | undefined; host: string | undefined }> = [];

function openssl(args: string[]): void {
  execFileSync("openssl", args, { stdio: "ignore" });
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), "fed-ca-"));
  const f = (n: string) => path.join(dir, n);
  openssl(["req", "-x509", "-newkey", "ed25519", "-nodes", "-keyout", f("ca.key"), "-out", f("ca.pem"), "-days", "1", "-subj", "/CN=test ca"]);
  openssl(["req", "-newkey", "ed25519", "-nodes", "-keyout", f("leaf.key"), "-out", f("leaf.csr"), "-subj", "/CN=localhost"]);
  writeFileSync(f("ext.cnf"), "subjectAltName=DNS:localhost,IP:127.0.0.1\n");
  openssl([
    "x509",
    "-req",
    "-in",
    f("leaf.csr"),
    "-CA",
    f("ca.pem"),
    "-CAkey",
    f("ca.key"),
    "-CAcreateserial",
    "-out",
    f("leaf.pem"),
    "-days",
    "1",
    "-extfile",
    f("ext.cnf"),
  ]);
  ca = readFileSync(f("ca.pem"), "utf8");
  server = https.createServer({ cert: readFileSync(f("leaf.pem")), key: readFileSync(f("leaf.key")) }, (req, res) => {
    seen.push({ sni: (req.socket as TLSSocket).servername, host: req.headers.host });
    res.writeHead(200, { "content-type": "application/json" });
    res.end('{"ok":true}');
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  await new Promise<void>((r) => server?.close(() => r()));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const transport = (opts: { verifyTls: boolean; ca?: string }) =>
  new FederationTransport({ ...opts, allowPrivateAddresses: true, resolver: async () => ["127.0.0.1"], srv: async () => [] });

describe("FederationTransport TLS", () => {
  it("accepts a certificate from the extra CA, for the IP literal (no SNI) and for a hostname (SNI, Host with port)", async () => {
    const t = transport({ verifyTls: true, ca });
    try {
      const r1 = await t.request(`127.0.0.1:${port}`, "GET", "/_matrix/federation/v1/version");
      expect(r1.status).toBe(200);
      expect(seen.at(-1)).toEqual({ sni: false, host: `127.0.0.1:${port}` });
      const r2 = await t.request(`localhost:${port}`, "GET", "/_matrix/federation/v1/version");
      expect(r2.status).toBe(200);
      expect(seen.at(-1)).toEqual({ sni: "localhost", host: `localhost:${port}` });
    } finally {
      await t.close();
    }
  });

  it("refuses the certificate without the CA, or when it is not valid for the server name", async () => {
    const noCa = transport({ verifyTls: true });
    const withCa = transport({ verifyTls: true, ca });
    try {
      await expect(noCa.request(`127.0.0.1:${port}`, "GET", "/x")).rejects.toThrow(/certificate/i);
      // The name resolves to the same address, but the certificate does not name it.
      await expect(withCa.request(`other.example:${port}`, "GET", "/x")).rejects.toThrow(/altnames|certificate|Hostname/i);
    } finally {
      await noCa.close();
      await withCa.close();
    }
  });

  it("with verify_tls off, accepts any certificate", async () => {
    const t = transport({ verifyTls: false });
    try {
      expect((await t.request(`other.example:${port}`, "GET", "/x")).status).toBe(200);
    } finally {
      await t.close();
    }
  });

  it("follows SRV when there is no well-known: dials the target, sends the server name as Host", async () => {
    const t = new FederationTransport({
      verifyTls: false,
      allowPrivateAddresses: true,
      resolver: async () => ["127.0.0.1"],
      srv: async (name) => (name === "_matrix-fed._tcp.srv.example" ? [{ name: "target.example.", port, priority: 0, weight: 0 }] : []),
    });
    try {
      expect((await t.request("srv.example", "GET", "/_matrix/federation/v1/version")).status).toBe(200);
      expect(seen.at(-1)).toEqual({ sni: "srv.example", host: "srv.example" });
    } finally {
      await t.close();
    }
  });

  it("caps the response size", async () => {
    const t = new FederationTransport({ verifyTls: false, allowPrivateAddresses: true, maxResponseBytes: 4 });
    try {
      await expect(t.request(`127.0.0.1:${port}`, "GET", "/x")).rejects.toThrow(/too large/);
    } finally {
      await t.close();
    }
  });
});
