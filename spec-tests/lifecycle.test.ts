import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import https from "node:https";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { stringify } from "yaml";
import { copyPgliteTemplate, createPgTestDatabase, ensurePgliteTemplate, testDatabaseUrl } from "../test/support/databases.js";
import { spawnServer } from "./process.js";

// The server as a real process (`node dist/main.js`, what `npm start` runs),
// driven through the launch contract's config keys.
// Each case starts real processes; on a loaded 2-core machine a start can take seconds.
vi.setConfig({ testTimeout: 90_000 });
const pgUrl = testDatabaseUrl();
const engine = pgUrl ? "postgres" : "pglite";
let work: string;
const drops: Array<() => Promise<void>> = [];

beforeAll(() => {
  work = mkdtempSync(path.join(os.tmpdir(), "hs-life-"));
});
afterAll(async () => {
  for (const d of drops) await d();
  rmSync(work, { recursive: true, force: true });
});

async function freshConfig(name: string, extra: Record<string, unknown> = {}): Promise<{ file: string; dataDir: string }> {
  const dataDir = path.join(work, name);
  const database: Record<string, unknown> = {};
  if (pgUrl) {
    const db = await createPgTestDatabase(pgUrl);
    drops.push(db.drop);
    database.url = db.url;
  } else {
    copyPgliteTemplate(await ensurePgliteTemplate(), path.join(dataDir, "db"));
  }
  const config = {
    server_name: "localhost:28448",
    listeners: { client: { bind: "127.0.0.1", port: 0 }, federation: { bind: "127.0.0.1", port: 0 } },
    data_dir: dataDir,
    database,
    registration: { enabled: true, shared_secret: "s3cret", allow_guests: true },
    rate_limits: { enabled: false },
    federation: { verify_tls: false, allow_private_addresses: true },
    app_service_config_files: [],
    ...extra,
  };
  const file = path.join(work, `${name}.yaml`);
  writeFileSync(file, stringify(config));
  return { file, dataDir };
}

function httpsGet(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { rejectUnauthorized: false }, (res) => {
        let body = "";
        res.on("data", (c: Buffer) => (body += c.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on("error", reject);
  });
}

describe(`server process on ${engine}`, () => {
  it("a bad config value stops the start with a message naming the key and a non-zero exit", async () => {
    const file = path.join(work, "bad.yaml");
    writeFileSync(file, stringify({ listeners: { client: { bind: "127.0.0.1", port: "eighty" } } }));
    const p = spawnServer(["--config", file]);
    expect(await p.exited).not.toBe(0);
    expect(p.stderr()).toContain("listeners.client.port");
  });

  it("an unknown key and invalid YAML are reported too", async () => {
    const file = path.join(work, "typo.yaml");
    writeFileSync(file, "server_name: localhost\nregistraton:\n  enabled: true\n");
    const p = spawnServer(["--config", file]);
    expect(await p.exited).not.toBe(0);
    expect(p.stderr()).toContain("registraton");
    writeFileSync(file, "server_name: [unclosed\n");
    const q = spawnServer(["--config", file]);
    expect(await q.exited).not.toBe(0);
    expect(q.stderr()).toMatch(/not valid YAML/);
    const r = spawnServer(["--config", path.join(work, "missing.yaml")]);
    expect(await r.exited).not.toBe(0);
    expect(r.stderr()).toMatch(/cannot read config file/);
  });

  it("starts with the launch contract keys (HTTPS federation), refuses a second start on the same data_dir, shuts down cleanly on SIGTERM", async () => {
    const certDir = mkdtempSync(path.join(work, "tls-"));
    const cert = path.join(certDir, "cert.pem");
    const key = path.join(certDir, "key.pem");
    execFileSync("openssl", ["req", "-x509", "-newkey", "ed25519", "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=localhost"], {
      stdio: "ignore",
    });
    const { file, dataDir } = await freshConfig("contract", {
      listeners: {
        client: { bind: "127.0.0.1", port: 0 },
        federation: { bind: "127.0.0.1", port: 0, tls: { certificate: cert, key } },
      },
    });
    const p = spawnServer(["--config", file]);
    const urls = await p.ready;
    const versions = await fetch(`${urls.client}/_matrix/client/versions`);
    expect(versions.status).toBe(200);
    expect(urls.federation).toMatch(/^https:\/\//);
    const fed = await httpsGet(`${urls.federation}/_matrix/federation/v1/version`);
    expect(fed.status).toBe(200);
    expect(JSON.parse(fed.body).server.version).toMatch(/\d/);
    expect(existsSync(path.join(dataDir, "signing.key"))).toBe(true);
    expect(existsSync(path.join(dataDir, "homeserver.pid"))).toBe(true);

    const second = spawnServer(["--config", file]);
    expect(await second.exited).not.toBe(0);
    expect(second.stderr()).toMatch(/in use by another running server/);

    p.child.kill("SIGTERM");
    expect(await p.exited).toBe(0);
    expect(p.stdout()).toContain("shut down cleanly");
    expect(existsSync(path.join(dataDir, "homeserver.pid"))).toBe(false);
    await expect(fetch(`${urls.client}/_matrix/client/versions`)).rejects.toThrow();
  });

  it("writes the ready line at once and, on SIGTERM, every access-log line still batched", async () => {
    const { file } = await freshConfig("logflush");
    const p = spawnServer(["--config", file]);
    const urls = await p.ready;
    const n = 25;
    for (let i = 0; i < n; i++) expect((await fetch(`${urls.client}/_matrix/client/versions?n=${i}`)).status).toBe(200);
    p.child.kill("SIGTERM");
    expect(await p.exited).toBe(0);
    const lines = p
      .stdout()
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { msg: string; path?: string });
    expect(lines.filter((l) => l.msg === "request" && l.path === "/_matrix/client/versions").length).toBe(n);
    expect(lines.at(-1)?.msg).toBe("shut down cleanly");
  });

  it("keeps its signing key across restarts and refuses to change server_name on an existing database", async () => {
    const { file, dataDir } = await freshConfig("restart");
    const a = spawnServer(["--config", file]);
    await a.ready;
    const key = readFileSync(path.join(dataDir, "signing.key"), "utf8");
    expect(key).toMatch(/^ed25519 a_[A-Za-z0-9]+ [A-Za-z0-9+/]{43}\n$/);
    a.child.kill("SIGINT");
    expect(await a.exited).toBe(0);

    const b = spawnServer(["--config", file]);
    await b.ready;
    expect(readFileSync(path.join(dataDir, "signing.key"), "utf8")).toBe(key);
    b.child.kill("SIGTERM");
    expect(await b.exited).toBe(0);

    const renamed = path.join(work, "renamed.yaml");
    writeFileSync(renamed, readFileSync(file, "utf8").replace("server_name: localhost:28448", "server_name: other.example"));
    const c = spawnServer(["--config", renamed]);
    expect(await c.exited).not.toBe(0);
    expect(c.stderr()).toMatch(/belongs to server_name 'localhost:28448'/);
  });

  it("takes over a pid file left by a crashed server", async () => {
    const { file, dataDir } = await freshConfig("stale");
    const a = spawnServer(["--config", file]);
    await a.ready;
    a.child.kill("SIGKILL");
    await a.exited;
    expect(existsSync(path.join(dataDir, "homeserver.pid"))).toBe(true);
    const b = spawnServer(["--config", file]);
    const urls = await b.ready;
    expect((await fetch(`${urls.client}/health`)).status).toBe(200);
    b.child.kill("SIGTERM");
    expect(await b.exited).toBe(0);
  });
});
