import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import postgres from "postgres";
import { loadMigrations, migrate, DEFAULT_MIGRATIONS_DIR } from "../../src/storage/migrate.js";
import { openPglite } from "../../src/storage/pglite.js";
import { openPostgres } from "../../src/storage/postgres.js";
import { postgresConnection } from "../../src/storage/postgres-url.js";
import type { Sql } from "../../src/storage/sql.js";

/**
 * Test databases on both engines. A fresh PGlite costs seconds and ~800 MB while
 * it initialises, so one migrated template is made per migrations set and copied
 * for each server; on PostgreSQL a template database is cloned with
 * CREATE DATABASE ... TEMPLATE, which takes milliseconds.
 */

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const CACHE_DIR = path.join(ROOT, ".tmp");

/** A one-connection client for creating and dropping test databases (any URL form the server takes). */
function adminClient(url: string) {
  const target = postgresConnection(url);
  return postgres(target.url, { max: 1, onnotice: () => {}, ...target.options });
}

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

/** Builds (once, cached under .tmp/) a migrated (or empty) PGlite data directory; returns its path. */
export async function ensurePgliteTemplate(opts: { migrated?: boolean } = {}): Promise<string> {
  const migrated = opts.migrated ?? true;
  const dir = path.join(CACHE_DIR, migrated ? `pglite-template-${migrationsHash()}` : "pglite-empty");
  if (existsSync(dir)) return dir;
  mkdirSync(CACHE_DIR, { recursive: true });
  const building = `${dir}.building-${process.pid}`;
  rmSync(building, { recursive: true, force: true });
  const sql = await openPglite(building);
  if (migrated) await migrate(sql, loadMigrations());
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
  const admin = adminClient(url);
  try {
    const exists = await admin`SELECT 1 FROM pg_database WHERE datname = ${name}`;
    if (exists.length) return name;
    const building = `${name}_b${process.pid}`;
    await admin.unsafe(`DROP DATABASE IF EXISTS "${building}"`);
    await admin.unsafe(`CREATE DATABASE "${building}"`);
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
  const admin = adminClient(url);
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
      const a = adminClient(url);
      try {
        await a.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await a.end({ timeout: 5 });
      }
    },
  };
}

export interface TestSql {
  sql: Sql;
  /** Opens a second, independent handle on the same database (PostgreSQL only). */
  openAnother(): Promise<Sql>;
  dispose(): Promise<void>;
}

/**
 * A fresh database on the engine under test, for storage tests: PostgreSQL when
 * TEST_DATABASE_URL is set, otherwise a copy of a PGlite template.
 */
export async function openTestSql(opts: { migrated?: boolean } = {}): Promise<TestSql> {
  const pgUrl = testDatabaseUrl();
  if (pgUrl) {
    const db = await createPgTestDatabase(pgUrl, opts);
    const handles: Sql[] = [];
    const open = async () => {
      const s = await openPostgres({ url: db.url, poolSize: 4 });
      handles.push(s);
      return s;
    };
    const sql = await open();
    return {
      sql,
      openAnother: open,
      async dispose() {
        for (const h of handles) await h.close();
        await db.drop();
      },
    };
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), "hs-sql-"));
  copyPgliteTemplate(await ensurePgliteTemplate(opts), path.join(dir, "db"));
  const sql = await openPglite(path.join(dir, "db"));
  return {
    sql,
    openAnother: () => Promise.reject(new Error("PGlite has one handle per data directory")),
    async dispose() {
      await sql.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
