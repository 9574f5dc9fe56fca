import type { Sql } from "./sql.js";

/** Roles of local users beyond server admin (which is users.is_admin). */
export class RolesRepo {
  constructor(private readonly sql: Sql) {}

  async list(userId: string): Promise<string[]> {
    const rows = await this.sql.query<{ role: string }>("SELECT role FROM user_roles WHERE user_id = $1 ORDER BY role", [userId]);
    return rows.map((r) => r.role);
  }

  async has(userId: string, role: string): Promise<boolean> {
    const rows = await this.sql.query("SELECT 1 FROM user_roles WHERE user_id = $1 AND role = $2", [userId, role]);
    return rows.length > 0;
  }

  /** Replaces the user's roles. */
  async set(userId: string, roles: readonly string[]): Promise<void> {
    await this.sql.transaction(async (tx) => {
      await tx.query("DELETE FROM user_roles WHERE user_id = $1", [userId]);
      for (const role of new Set(roles)) await tx.query("INSERT INTO user_roles (user_id, role) VALUES ($1, $2)", [userId, role]);
    });
  }
}
