import { PGlite, types } from "@electric-sql/pglite";
import type { Row, Sql, SqlQueryable } from "./sql.js";

const parsers = {
  // Stream positions and timestamps fit in 2^53; numbers are what callers want.
  [types.INT8]: (value: string) => Number(value),
};

function wrap(handle: Pick<PGlite, "query" | "exec">): SqlQueryable {
  return {
    async query<T extends Row>(text: string, params: readonly unknown[] = []): Promise<T[]> {
      const result = await handle.query<T>(text, params as unknown[]);
      return result.rows;
    },
    async exec(script: string): Promise<void> {
      await handle.exec(script);
    },
  };
}

/** The embedded engine: PostgreSQL compiled to WASM, persisted in `dataDir`. */
export async function openPglite(dataDir: string): Promise<Sql> {
  const db = await PGlite.create(dataDir, { parsers });
  const base = wrap(db);
  return {
    engine: "pglite",
    query: base.query,
    exec: base.exec,
    transaction<T>(fn: (tx: SqlQueryable) => Promise<T>): Promise<T> {
      return db.transaction((tx) => fn(wrap(tx)));
    },
    async close(): Promise<void> {
      if (!db.closed) await db.close();
    },
  };
}
