import postgres from "postgres";
import type { Row, Sql, SqlQueryable } from "./sql.js";

type Client = postgres.Sql<Record<string, never>>;
type TxClient = postgres.TransactionSql<Record<string, never>>;

function wrap(handle: Client | TxClient): SqlQueryable {
  return {
    async query<T extends Row>(text: string, params: readonly unknown[] = []): Promise<T[]> {
      const rows = await handle.unsafe(text, params as postgres.ParameterOrJSON<never>[]);
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
  const client: Client = postgres(opts.url, {
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
      return (await client.begin((tx) => fn(wrap(tx)))) as T;
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
