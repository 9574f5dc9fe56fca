import { mkdirSync } from "node:fs";
import path from "node:path";
import { openPglite } from "./pglite.js";
import { ensurePgliteDataDir } from "./pglite-init.js";
import { openPostgres } from "./postgres.js";
import type { Sql } from "./sql.js";

export interface DatabaseConfig {
  url?: string | undefined;
  pool_size: number;
}

/** PostgreSQL when a URL is configured, otherwise PGlite under `data_dir/db`. */
export async function openDatabase(db: DatabaseConfig, dataDir: string, instance?: string): Promise<Sql> {
  if (db.url) return openPostgres({ url: db.url, poolSize: db.pool_size, instance });
  mkdirSync(dataDir, { recursive: true });
  const dir = path.join(dataDir, "db");
  await ensurePgliteDataDir(dir);
  return openPglite(dir);
}
