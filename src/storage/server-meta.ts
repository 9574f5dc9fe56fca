import type { SqlQueryable } from "./sql.js";

export class ServerNameMismatchError extends Error {
  constructor(stored: string, configured: string) {
    super(
      `this database belongs to server_name '${stored}' but the config says '${configured}'; ` +
        `user, room and event ids embed the server name, so a database cannot change it`,
    );
    this.name = "ServerNameMismatchError";
  }
}

/** Records the server_name on first start and refuses a different one later. */
export async function checkServerName(db: SqlQueryable, serverName: string): Promise<void> {
  await db.query("INSERT INTO server_meta (key, value) VALUES ('server_name', $1) ON CONFLICT (key) DO NOTHING", [serverName]);
  const rows = await db.query<{ value: string }>("SELECT value FROM server_meta WHERE key = 'server_name'");
  const stored = rows[0]?.value;
  if (stored !== serverName) throw new ServerNameMismatchError(stored ?? "(none)", serverName);
}
