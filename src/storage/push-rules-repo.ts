import type { PushRuleChanges } from "../core/push-rules.js";
import type { Sql } from "./sql.js";

export interface PusherRow {
  /** Set by the database (names the pusher's delivery position). */
  id?: number;
  user_id: string;
  app_id: string;
  pushkey: string;
  kind: string;
  app_display_name: string;
  device_display_name: string;
  profile_tag: string | null;
  lang: string;
  data: Record<string, unknown>;
  created_ts: number;
  /** The device that registered the pusher (null: a token without a device). */
  device_id: string | null;
}

/** Per-user push rule changes (one JSON document) and pushers. */
export class PushRulesRepo {
  constructor(private readonly sql: Sql) {}

  async getChanges(userId: string): Promise<PushRuleChanges | undefined> {
    const rows = await this.sql.query<{ changes: PushRuleChanges }>("SELECT changes FROM push_rule_changes WHERE user_id = $1", [userId]);
    return rows[0]?.changes;
  }

  /**
   * Read-modify-write under a row lock, so two concurrent changes of one
   * user's rules both land. `fn` may throw to change nothing.
   */
  async updateChanges(userId: string, fn: (cur: PushRuleChanges | undefined) => PushRuleChanges): Promise<PushRuleChanges> {
    return this.sql.transaction(async (tx) => {
      await tx.query("INSERT INTO push_rule_changes (user_id, changes) VALUES ($1, $2::jsonb) ON CONFLICT (user_id) DO NOTHING", [
        userId,
        JSON.stringify({ custom: {}, defaults: {} }),
      ]);
      const rows = await tx.query<{ changes: PushRuleChanges }>("SELECT changes FROM push_rule_changes WHERE user_id = $1 FOR UPDATE", [userId]);
      const next = fn(rows[0]?.changes);
      await tx.query("UPDATE push_rule_changes SET changes = $2::jsonb WHERE user_id = $1", [userId, JSON.stringify(next)]);
      return next;
    });
  }

  // --- pushers ---

  async listPushers(userId: string): Promise<PusherRow[]> {
    return this.sql.query<PusherRow & Record<string, unknown>>("SELECT * FROM pushers WHERE user_id = $1 ORDER BY created_ts, app_id, pushkey", [userId]);
  }

  /**
   * Creates or updates a pusher; unless `append`, the same app_id and pushkey
   * registered by other users is removed ("append" in POST /pushers/set).
   */
  async setPusher(p: PusherRow, append: boolean): Promise<void> {
    await this.sql.transaction(async (tx) => {
      if (!append) await tx.query("DELETE FROM pushers WHERE app_id = $1 AND pushkey = $2 AND user_id <> $3", [p.app_id, p.pushkey, p.user_id]);
      await tx.query(
        `INSERT INTO pushers (user_id, app_id, pushkey, kind, app_display_name, device_display_name, profile_tag, lang, data, created_ts, device_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10, $11)
         ON CONFLICT (user_id, app_id, pushkey) DO UPDATE SET kind = $4, app_display_name = $5, device_display_name = $6,
           profile_tag = $7, lang = $8, data = $9::jsonb, device_id = $11`,
        [p.user_id, p.app_id, p.pushkey, p.kind, p.app_display_name, p.device_display_name, p.profile_tag, p.lang, JSON.stringify(p.data), p.created_ts, p.device_id],
      );
    });
  }

  async getPusherById(id: number): Promise<PusherRow | undefined> {
    const [row] = await this.sql.query<PusherRow & Record<string, unknown>>("SELECT * FROM pushers WHERE id = $1", [id]);
    return row ? { ...row, id: Number(row.id) } : undefined;
  }

  /** Every pusher of `kind` with its owner. */
  async pusherOwners(kind: string): Promise<Array<{ id: number; userId: string }>> {
    const rows = await this.sql.query<{ id: number; user_id: string }>("SELECT id, user_id FROM pushers WHERE kind = $1 ORDER BY id", [kind]);
    return rows.map((r) => ({ id: Number(r.id), userId: r.user_id }));
  }

  async deletePusherById(id: number): Promise<void> {
    await this.sql.query("DELETE FROM pushers WHERE id = $1", [id]);
  }

  async deleteAllPushers(userId: string): Promise<void> {
    await this.sql.query("DELETE FROM pushers WHERE user_id = $1", [userId]);
  }

  async deletePushersOfDevices(userId: string, deviceIds: readonly string[]): Promise<void> {
    if (deviceIds.length === 0) return;
    await this.sql.query("DELETE FROM pushers WHERE user_id = $1 AND device_id = ANY($2::text[])", [userId, deviceIds]);
  }

  async deletePusher(userId: string, appId: string, pushkey: string): Promise<void> {
    await this.sql.query("DELETE FROM pushers WHERE user_id = $1 AND app_id = $2 AND pushkey = $3", [userId, appId, pushkey]);
  }
}
