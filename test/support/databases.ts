import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import postgres from "postgres";
import { loadMigrations, migrate, DEFAULT_MIGRATIONS_DIR } from "../../src/storage/migrate.js";
import { openPglite } from "../../src/storage/pglite.js";

/**
 * Test databases on both engines. A fresh PGlite costs seconds and ~800 MB while
 * it initialises, so one migrated template is made per migrations set and copied
 * for each server; on PostgreSQL a template database is cloned with
 * CREATE DATABASE ... TEMPLATE, which takes milliseconds.
 */

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const CACHE_DIR = path.join(ROOT, ".tmp");

export function testDatabaseUrl(): string | undefined {
  const url = process.env.TEST_DATABASE_URL;
  return url && url !== "none" ? url : undefined;
}

function migrationsHash(): string {
  const h = createHash("sha256");
  const pkg = JSON.parse(readFileSync(path.join(ROOT, "node_modules/@electric-sql/pglite/package.json"), "utf8")) as { version: string };
  h.update(pkg.version);
  for (const file of readdirSync(DEFAULT_MIGRATIONS_DIR).sort()) {
    h.update(file);
    h.update(readFileSync(path.join(DEFAULT_MIGRATIONS_DIR, file)));
  }
  return h.digest("hex").slice(0, 16);
}

/** Builds (once, cached under .tmp/) a migrated PGlite data directory; returns its path. */
export async function ensurePgliteTemplate(): Promise<string> {
  const dir = path.join(CACHE_DIR, `pglite-template-${migrationsHash()}`);
  if (existsSync(dir)) return dir;
  mkdirSync(CACHE_DIR, { recursive: true });
  const building = `${dir}.building-${process.pid}`;
  rmSync(building, { recursive: true, force: true });
  const sql = await openPglite(building);
  await migrate(sql, loadMigrations());
  await sql.close();
  try {
    renameSync(building, dir);
  } catch {
    // another run won the race; its template is as good as ours
    rmSync(building, { recursive: true, force: true });
  }
  return dir;
}

export function copyPgliteTemplate(template: string, target: string): void {
  cpSync(template, target, { recursive: true });
}

function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

export const PG_TEMPLATE_PREFIX = "hs_test_tpl_";

export function pgTemplateName(): string {
  return `${PG_TEMPLATE_PREFIX}${migrationsHash()}`;
}

/** Creates the migrated PostgreSQL template database if it does not exist yet. */
export async function ensurePgTemplate(url: string): Promise<string> {
  const name = pgTemplateName();
  const admin = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const exists = await admin`SELECT 1 FROM pg_database WHERE datname = ${name}`;
    if (exists.length) return name;
    const building = `${name}_b${process.pid}`;
    await admin.unsafe(`DROP DATABASE IF EXISTS "${building}"`);
    await admin.unsafe(`CREATE DATABASE "${building}"`);
    const { openPostgres } = await import("../../src/storage/postgres.js");
    const sql = await openPostgres({ url: withDatabase(url, building), poolSize: 1 });
    await migrate(sql, loadMigrations());
    await sql.close();
    try {
      await admin.unsafe(`ALTER DATABASE "${building}" RENAME TO "${name}"`);
    } catch {
      await admin.unsafe(`DROP DATABASE IF EXISTS "${building}"`);
    }
    return name;
  } finally {
    await admin.end({ timeout: 5 });
  }
}

export interface PgTestDatabase {
  url: string;
  drop(): Promise<void>;
}

/** A fresh database cloned from the migrated template (or empty, when `migrated` is false). */
export async function createPgTestDatabase(url: string, opts: { migrated?: boolean } = {}): Promise<PgTestDatabase> {
  const migrated = opts.migrated ?? true;
  const name = `hs_test_${process.pid}_${Math.random().toString(36).slice(2, 10)}`;
  const admin = postgres(url, { max: 1, onnotice: () => {} });
  try {
    if (migrated) {
      const template = await ensurePgTemplate(url);
      await admin.unsafe(`CREATE DATABASE "${name}" TEMPLATE "${template}"`);
    } else {
      await admin.unsafe(`CREATE DATABASE "${name}"`);
    }
  } finally {
    await admin.end({ timeout: 5 });
  }
  return {
    url: withDatabase(url, name),
    async drop() {
      const a = postgres(url, { max: 1, onnotice: () => {} });
      try {
        await a.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await a.end({ timeout: 5 });
      }
    },
  };
}
