import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { openPostgres } from "../../src/storage/postgres.js";
import { testDatabaseUrl } from "../support/databases.js";

// The local server's socket, where the test database is reached over TCP on this machine.
const SOCKET_DIR = "/var/run/postgresql";
const tcpUrl = testDatabaseUrl();
const socketThere = tcpUrl !== undefined && existsSync(`${SOCKET_DIR}/.s.PGSQL.${new URL(tcpUrl).port || "5432"}`);

describe("PostgreSQL over a Unix-domain socket", () => {
  it.runIf(socketThere)("connects through the socket named by a libpq-style URL", async () => {
    const u = new URL(tcpUrl!);
    const port = u.port || "5432";
    const forms = [
      `postgres://${u.username}@%2Fvar%2Frun%2Fpostgresql:${port}${u.pathname}`,
      `postgres://${u.username}@${u.pathname}?host=${SOCKET_DIR}&port=${port}`,
    ];
    for (const url of forms) {
      const sql = await openPostgres({ url, poolSize: 1 });
      try {
        // inet_server_addr() is null on a Unix-domain socket connection.
        const [row] = await sql.query<{ addr: string | null; db: string }>("SELECT inet_server_addr()::text AS addr, current_database() AS db");
        expect(row).toEqual({ addr: null, db: u.pathname.slice(1) });
      } finally {
        await sql.close();
      }
    }
  });
});
