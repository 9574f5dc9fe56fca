// postgres.js's own codes for a connection it closed, and the socket's when the peer reset it.
const DROPPED = new Set(["CONNECTION_CLOSED", "CONNECTION_DESTROYED", "CONNECTION_ENDED", "ECONNRESET", "EPIPE"]);

/**
 * postgres.js reads the server's array types on every new connection, in a
 * promise of its own that nobody awaits: when that connection closes before
 * the answer (PostgreSQL restarted or reset the socket, the network dropped,
 * or the pool ended at shutdown), the rejection is unhandled. Nothing of ours was waiting on it:
 * the queries that opened the connection fail on their own and are handled.
 * This tells that one rejection apart, so it is logged rather than taken for
 * a bug that should stop the process.
 */
export function isDroppedTypeFetch(err: unknown): boolean {
  if (typeof err !== "object" || err === null) return false;
  const { code, query } = err as { code?: unknown; query?: unknown };
  return typeof code === "string" && DROPPED.has(code) && typeof query === "string" && query.includes("pg_catalog.pg_type");
}
