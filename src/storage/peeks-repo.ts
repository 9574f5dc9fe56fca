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

  async list(userId: string, deviceId: string): Promise<PeekRow[]> {
    const rows = await this.sql.query<{ room_id: string; since: number; delivered: boolean }>(
      "SELECT room_id, since, delivered FROM room_peeks WHERE user_id = $1 AND device_id = $2",
      [userId, deviceId],
    );
    return rows.map((r) => ({ roomId: r.room_id, since: Number(r.since), delivered: r.delivered === true }));
  }

  async markDelivered(userId: string, deviceId: string, roomIds: readonly string[]): Promise<void> {
    if (roomIds.length === 0) return;
    await this.sql.query("UPDATE room_peeks SET delivered = true WHERE user_id = $1 AND device_id = $2 AND room_id = ANY($3::text[])", [
      userId,
      deviceId,
      roomIds,
    ]);
  }
}
