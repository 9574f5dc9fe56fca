import { mkdtempSync, writeFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { stringify } from "yaml";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type J = Record<string, any>;

/** Writes registration files into a fresh folder; returns their paths. */
export function writeRegistrations(regs: J[]): string[] {
  const dir = mkdtempSync(path.join(os.tmpdir(), "hs-as-reg-"));
  return regs.map((r, i) => {
    const file = path.join(dir, `reg${i}.yaml`);
    writeFileSync(file, stringify(r));
    return file;
  });
}

export interface FakeRequest {
  method: string;
  url: string;
  authorization: string | undefined;
  body: J | undefined;
}

/**
 * A scripted application service: records every request, answers through
 * `handler` (default 200 {}), and can be taken down and brought back on the
 * same port.
 */
export class FakeAppService {
  readonly requests: FakeRequest[] = [];
  /** Transactions by id, the first body each id came with. */
  readonly transactions = new Map<string, J>();
  readonly txnOrder: string[] = [];
  handler: (req: FakeRequest) => { status: number; body: unknown } | Promise<{ status: number; body: unknown }> = () => ({ status: 200, body: {} });
  private server: http.Server | undefined;
  port = 0;

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", async () => {
        const text = Buffer.concat(chunks).toString("utf8");
        const r: FakeRequest = { method: req.method ?? "", url: req.url ?? "", authorization: req.headers.authorization, body: text ? (JSON.parse(text) as J) : undefined };
        this.requests.push(r);
        const out = await this.handler(r);
        const m = /^\/_matrix\/app\/v1\/transactions\/([^/?]+)/.exec(r.url);
        if (m && r.method === "PUT" && out.status === 200) {
          const id = decodeURIComponent(m[1]!);
          if (!this.transactions.has(id)) {
            this.transactions.set(id, r.body!);
            this.txnOrder.push(id);
          }
        }
        res.writeHead(out.status, { "content-type": "application/json" });
        res.end(JSON.stringify(out.body));
      });
    });
    await new Promise<void>((resolve) => server.listen(this.port, "127.0.0.1", resolve));
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  /** Every event delivered in successful transactions, in delivery order. */
  events(): J[] {
    return this.txnOrder.flatMap((id) => (this.transactions.get(id)!.events as J[]) ?? []);
  }

  ephemeral(): J[] {
    return this.txnOrder.flatMap((id) => (this.transactions.get(id)!.ephemeral as J[]) ?? []);
  }
}

export async function until(cond: () => boolean | Promise<boolean>, ms = 10_000, what = "condition"): Promise<void> {
  const start = Date.now();
  for (;;) {
    if (await cond()) return;
    if (Date.now() - start > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
