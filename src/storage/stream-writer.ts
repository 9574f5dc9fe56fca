import type { Sql, SqlQueryable } from "./sql.js";

/**
 * Positions of a stream are handed out by a sequence, but two transactions could
 * commit their positions out of order, letting a reader see N+1 and later miss
 * N. Writers of one stream therefore take a transaction-scoped advisory lock
 * first: they commit one after another, in position order, in this process and
 * across processes sharing the database (docs/ARCHITECTURE.md "Streams and tokens").
 */
export async function writeWithPosition<T>(
  sql: Sql,
  sequence: string,
  fn: (tx: SqlQueryable, position: number) => Promise<T>,
): Promise<{ position: number; result: T }> {
  return sql.transaction(async (tx) => {
    await tx.query("SELECT pg_advisory_xact_lock(hashtext($1))", [sequence]);
    const [row] = await tx.query<{ p: number }>(`SELECT nextval('${sequence}')::int8 AS p`);
    const position = row!.p;
    const result = await fn(tx, position);
    return { position, result };
  });
}

/** The highest committed position of a stream (0 before the first write). */
export async function currentPosition(sql: SqlQueryable, table: string): Promise<number> {
  const [row] = await sql.query<{ p: number | null }>(`SELECT max(stream_id)::int8 AS p FROM ${table}`);
  return row?.p ?? 0;
}
