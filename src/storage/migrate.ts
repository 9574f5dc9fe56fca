import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Sql } from "./sql.js";

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** src/storage and dist/storage both sit two levels below the project root. */
export const DEFAULT_MIGRATIONS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../migrations");

const FILE_RE = /^(\d{4})_([a-z0-9_]+)\.sql$/;

export function loadMigrations(dir: string = DEFAULT_MIGRATIONS_DIR): Migration[] {
  const migrations: Migration[] = [];
  for (const file of readdirSync(dir).sort()) {
    const m = FILE_RE.exec(file);
    if (!m) continue;
    migrations.push({ version: Number(m[1]), name: m[2]!, sql: readFileSync(path.join(dir, file), "utf8") });
  }
  // Numbers are unique and increasing; gaps are allowed so that work in
  // parallel can reserve ranges (see migrations/README.md).
  migrations.forEach((mig, i) => {
    if (i > 0 && mig.version <= migrations[i - 1]!.version) throw new Error(`duplicate migration number ${mig.version}`);
  });
  return migrations;
}

export class SchemaTooNewError extends Error {
  constructor(readonly dbVersion: number, readonly codeVersion: number) {
    super(
      `the database schema is at version ${dbVersion}, newer than this server's ${codeVersion}; ` +
        `refusing to start (upgrade the server, or restore a backup made for this version)`,
    );
    this.name = "SchemaTooNewError";
  }
}

// An arbitrary, fixed key: every process of this server takes the same lock.
const MIGRATION_LOCK_KEY = 72_616_201;

export interface MigrationResult {
  applied: number[];
  version: number;
}

/**
 * Applies pending migrations in order inside one transaction that first takes a
 * transaction-scoped advisory lock, so two processes starting together on one
 * PostgreSQL serialise here and the second sees the first one's work.
 */
export async function migrate(sql: Sql, migrations: Migration[] = loadMigrations()): Promise<MigrationResult> {
  const codeVersion = migrations.length ? migrations[migrations.length - 1]!.version : 0;
  return sql.transaction(async (tx) => {
    await tx.query("SELECT pg_advisory_xact_lock($1)", [MIGRATION_LOCK_KEY]);
    await tx.exec(
      `CREATE TABLE IF NOT EXISTS schema_migrations (
         version integer PRIMARY KEY,
         name text NOT NULL,
         applied_at timestamptz NOT NULL DEFAULT now()
       )`,
    );
    const rows = await tx.query<{ version: number }>("SELECT version FROM schema_migrations ORDER BY version");
    const done = new Set(rows.map((r) => r.version));
    const dbVersion = rows.length ? rows[rows.length - 1]!.version : 0;
    if (dbVersion > codeVersion) throw new SchemaTooNewError(dbVersion, codeVersion);
    const applied: number[] = [];
    for (const mig of migrations) {
      if (done.has(mig.version)) continue;
      await tx.exec(mig.sql);
      await tx.query("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", [mig.version, mig.name]);
      applied.push(mig.version);
    }
    return { applied, version: codeVersion };
  });
}
