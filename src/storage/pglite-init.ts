import { execFile } from "node:child_process";
import { existsSync, renameSync, rmSync } from "node:fs";
import { promisify } from "node:util";

const run = promisify(execFile);

// Runs in a short-lived child process: PGlite's first initialisation of a data
// directory peaks near 800 MB of WASM memory that a process never gets back,
// while opening an existing directory needs ~300 MB. Initialising in a child
// keeps the server's own footprint at the latter.
const CHILD = `const { PGlite } = await import(process.argv[1]);
const db = await PGlite.create(process.argv[2]);
await db.close();`;

function resolvePglite(): string | undefined {
  try {
    return import.meta.resolve("@electric-sql/pglite");
  } catch {
    return undefined;
  }
}

/** Creates the PGlite data directory `dir` if it does not exist yet. */
export async function ensurePgliteDataDir(dir: string): Promise<void> {
  if (existsSync(`${dir}/PG_VERSION`)) return;
  const entry = resolvePglite();
  if (!entry) return; // no resolver (e.g. under a test transformer): PGlite initialises in process
  const building = `${dir}.init`;
  rmSync(building, { recursive: true, force: true });
  await run(process.execPath, ["--input-type=module", "-e", CHILD, entry, building]);
  rmSync(dir, { recursive: true, force: true });
  renameSync(building, dir);
}
