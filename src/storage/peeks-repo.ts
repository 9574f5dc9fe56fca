import { Coalescer } from "./coalesce.js";
import type { Sql } from "./sql.js";

export interface PeekRow {
  roomId: string;
  since: number;
  delivered: boolean;
}

/** Rooms a device peeks into (MSC2753). */
export class PeeksRepo {
  constructor(private readonly sql: Sql) {}

  /** Starts a peek; an existing one keeps its start. */
  async add(userId: string, deviceId: string, roomId: string, since: number): Promise<void> {
    await this.sql.query(
      "INSERT INTO room_peeks (user_id, device_id, room_id, since) VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, device_id, room_id) DO NOTHING",
      [userId, deviceId, roomId, since],
    );
  }

  async remove(userId: string, deviceId: string, roomId: string): Promise<boolean> {
    const rows = await this.sql.query("DELETE FROM room_peeks WHERE user_id = $1 AND device_id = $2 AND room_id = $3 RETURNING room_id", [
      userId,
      deviceId,
      roomId,
    ]);
    return rows.length > 0;
  }

  /** The device's peeks. The rows are shared: do not modify them. */
  list(userId: string, deviceId: string): Promise<PeekRow[]> {
    return this.peeksOf.load({ userId, deviceId });
  }

  // Every /sync asks: the requests one notification wakes share one statement.
  private readonly peeksOf = new Coalescer<{ userId: string; deviceId: string }, PeekRow[]>(
    (k) => `${k.userId}\n${k.deviceId}`,
    async (keys) => {
      const rows = await this.sql.query<{ user_id: string; device_id: string; room_id: string; since: number; delivered: boolean }>(
        `SELECT p.user_id, p.device_id, p.room_id, p.since, p.delivered
           FROM unnest($1::text[], $2::text[]) AS k(user_id, device_id)
           JOIN room_peeks p ON p.user_id = k.user_id AND p.device_id = k.device_id`,
        [keys.map((k) => k.userId), keys.map((k) => k.deviceId)],
      );
      const out = new Map<string, PeekRow[]>();
      for (const r of rows) {
        const id = `${r.user_id}\n${r.device_id}`;
        const list = out.get(id) ?? [];
        list.push({ roomId: r.room_id, since: Number(r.since), delivered: r.delivered === true });
        out.set(id, list);
      }
      return out;
    },
    () => [],
  );

  async markDelivered(userId: string, deviceId: string, roomIds: readonly string[]): Promise<void> {
    if (roomIds.length === 0) return;
    await this.sql.query("UPDATE room_peeks SET delivered = true WHERE user_id = $1 AND device_id = $2 AND room_id = ANY($3::text[])", [
      userId,
      deviceId,
      roomIds,
    ]);
  }
}
