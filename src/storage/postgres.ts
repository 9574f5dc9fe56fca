import postgres from "postgres";
import { postgresConnection } from "./postgres-url.js";
import type { Row, Sql, SqlQueryable } from "./sql.js";

type Client = postgres.Sql<Record<string, never>>;
type TxClient = postgres.TransactionSql<Record<string, never>>;

function wrap(handle: Client | TxClient): SqlQueryable {
  return {
    async query<T extends Row>(text: string, params: readonly unknown[] = []): Promise<T[]> {
      // Named prepared statements: postgres.js otherwise describes every
      // parameterised statement first, a second round trip per statement. The
      // texts are a fixed set (lists travel as array parameters), so each
      // connection prepares each statement once.
      const rows = await handle.unsafe(text, params as postgres.ParameterOrJSON<never>[], { prepare: true });
      return rows as unknown as T[];
    },
    async exec(script: string): Promise<void> {
      // Without parameters postgres.js uses the simple protocol, which runs
      // several statements in one round trip.
      await handle.unsafe(script).simple();
    },
  };
}

export interface PostgresOptions {
  url: string;
  poolSize: number;
  /** Scale-out instance name: shown in pg_stat_activity as `matrix-homeserver/<instance>`. */
  instance?: string | undefined;
}

/** Production engine: a real PostgreSQL server through postgres.js. */
export async function openPostgres(opts: PostgresOptions): Promise<Sql> {
  const target = postgresConnection(opts.url);
  const client: Client = postgres(target.url, {
    ...target.options,
    max: opts.poolSize,
    onnotice: () => {},
    types: {
      // int8 as number, as the PGlite engine does (see sql.ts).
      bigint: { to: 20, from: [20], serialize: (x: number) => String(x), parse: (x: string) => Number(x) },
      // json/jsonb parameters as PGlite takes them (see sql.ts): a string is
      // already JSON text, anything else is encoded.
      jsonb: {
        to: 3802,
        from: [114, 3802],
        serialize: (x: unknown) => (typeof x === "string" ? x : JSON.stringify(x)),
        parse: (x: string) => JSON.parse(x) as unknown,
      },
    },
    connection: { application_name: opts.instance ? `matrix-homeserver/${opts.instance}` : "matrix-homeserver" },
  }) as unknown as Client;
  // Fail fast at start-up on a wrong URL rather than on the first request.
  await client.unsafe("SELECT 1");
  const base = wrap(client);
  return {
    engine: "postgres",
    query: base.query,
    exec: base.exec,
    async transaction<T>(fn: (tx: SqlQueryable) => Promise<T>): Promise<T> {
      const conn = await client.reserve();
      // BEGIN is not awaited on its own: it travels pipelined with the
      // transaction's first statement, one round trip fewer per transaction.
      const begun = conn.unsafe("BEGIN").execute();
      begun.catch(() => undefined); // seen below; no unhandled rejection meanwhile
      try {
        const result = await fn(wrap(conn as unknown as Client));
        await begun;
        // A transaction an earlier statement aborted (its error caught on the way) answers COMMIT with a
        // rollback and no error: that must not pass for a commit (PGlite raises it too).
        const done = await conn.unsafe("COMMIT");
        if (done.command === "ROLLBACK") throw new Error("the transaction was rolled back at COMMIT: an earlier statement in it failed");
        return result;
      } catch (err) {
        await conn.unsafe("ROLLBACK").catch(() => undefined);
        throw err;
      } finally {
        conn.release();
      }
    },
    async reserve() {
      const reserved = await client.reserve();
      return { ...wrap(reserved as unknown as Client), release: async () => reserved.release() };
    },
    async listen(channel, onMessage, onListening) {
      const sub = await client.listen(channel, onMessage, onListening);
      return () => sub.unlisten();
    },
    async close(): Promise<void> {
      await client.end({ timeout: 5 });
    },
  };
}
