/**
 * The one storage interface every repository uses. Both engines speak
 * PostgreSQL's dialect with `$1`-style parameters; int8 columns come back as
 * JavaScript numbers (all our int8 values are stream positions and timestamps
 * well below 2^53), json/jsonb as parsed values. A json/jsonb parameter given
 * as a string is taken as JSON text as it is (so pre-serialised canonical JSON
 * is stored verbatim); any other value is JSON-encoded.
 */
export type Row = Record<string, unknown>;

export interface SqlQueryable {
  /** Runs one statement with parameters and returns its rows. */
  query<T extends Row = Row>(text: string, params?: readonly unknown[]): Promise<T[]>;
  /** Runs a script of several statements without parameters (migrations). */
  exec(script: string): Promise<void>;
}

export interface Sql extends SqlQueryable {
  readonly engine: "pglite" | "postgres";
  /**
   * Runs `fn` in one transaction: committed when it resolves, rolled back when
   * it throws. Statements must go through `tx`, not the outer handle.
   */
  transaction<T>(fn: (tx: SqlQueryable) => Promise<T>): Promise<T>;
  /**
   * A dedicated connection until `release` (for session-level advisory locks,
   * which belong to one connection). Absent on PGlite, whose one session is
   * the only connection there is.
   */
  reserve?(): Promise<SqlQueryable & { release(): Promise<void> }>;
  /**
   * LISTEN on `channel` over a dedicated connection that reconnects by itself;
   * `onListening` runs after every (re)connection, since notifications sent
   * while it was down are lost. Absent on PGlite (one process per database).
   * Resolves with the function that stops listening.
   */
  listen?(channel: string, onMessage: (payload: string) => void, onListening?: () => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}
