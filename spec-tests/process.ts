import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { ROOT } from "../test/support/databases.js";

/** The built server as a real process, the way `npm start` runs it. */
export interface ServerProcess {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** Resolves with the client URL once the "homeserver ready" line appears. */
  ready: Promise<{ client: string; federation?: string }>;
  exited: Promise<number | null>;
}

export function spawnServer(args: string[], env: NodeJS.ProcessEnv = {}): ServerProcess {
  const child = spawn(process.execPath, [path.join(ROOT, "dist/main.js"), ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const ready = new Promise<{ client: string; federation?: string }>((resolve, reject) => {
    child.stdout!.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      for (const line of out.split("\n")) {
        if (!line.includes('"homeserver ready"')) continue;
        const parsed = JSON.parse(line) as { client: string; federation?: string };
        resolve({ client: parsed.client, federation: parsed.federation });
      }
    });
    child.stderr!.on("data", (chunk: Buffer) => (err += chunk.toString()));
    void exited.then((code) => reject(new Error(`server exited (${code}) before it was ready: ${err}`)));
  });
  ready.catch(() => {});
  return { child, stdout: () => out, stderr: () => err, ready, exited };
}
