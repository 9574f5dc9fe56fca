// Federation set-up for bench scenarios: free loopback ports, a self-signed
// test certificate (made with openssl), and a server process named
// 127.0.0.1:PORT whose federation listener is HTTPS on that port.
import { execFileSync } from "node:child_process";
import net from "node:net";
import path from "node:path";
import { startBenchServer } from "./server.mjs";

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** A self-signed certificate for localhost / 127.0.0.1 in `dir`, valid one day. */
export function makeCertificate(dir) {
  const files = { certificate: path.join(dir, "cert.pem"), key: path.join(dir, "key.pem") };
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

/**
 * A bench server federating over HTTPS on loopback: test certificates are
 * not verified and loopback peers are allowed. `config` is merged in.
 */
export async function startFederatedBenchServer({ root, engine, tls, port, config = {} }) {
  const fedPort = port ?? (await freePort());
  const server = await startBenchServer({
    root,
    engine,
    databaseUrl: process.env.BENCH_DATABASE_URL,
    config: {
      server_name: `127.0.0.1:${fedPort}`,
      listeners: { client: { bind: "127.0.0.1", port: 0 }, federation: { bind: "127.0.0.1", port: fedPort, tls } },
      // Registration of many users is set-up, not what is measured.
      password_policy: { scrypt_cost: 1024 },
      ...config,
      federation: { verify_tls: false, allow_private_addresses: true, ...config.federation },
    },
  });
  return { ...server, name: `127.0.0.1:${fedPort}`, federationUrl: `https://127.0.0.1:${fedPort}` };
}
