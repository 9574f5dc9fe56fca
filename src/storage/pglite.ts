import { PGlite, types } from "@electric-sql/pglite";
import { SessionTurns } from "./session-turns.js";
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
  // Statements and transactions outside a transaction take turns on the one session (see SessionTurns);
  // statements inside a transaction belong to its turn.
  const turns = new SessionTurns();
  return {
    engine: "pglite",
    query<T extends Row>(text: string, params?: readonly unknown[]): Promise<T[]> {
      return turns.run(() => base.query<T>(text, params));
    },
    exec(script: string): Promise<void> {
      return turns.run(() => base.exec(script));
    },
    transaction<T>(fn: (tx: SqlQueryable) => Promise<T>): Promise<T> {
      return turns.run(() => db.transaction((tx) => fn(wrap(tx))));
    },
    // After the work already queued, as PGlite's own close waits for the statements ahead of it.
    close(): Promise<void> {
      return turns.run(async () => {
        if (!db.closed) await db.close();
      });
    },
  };
}
