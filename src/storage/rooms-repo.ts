import type { Sql, SqlQueryable } from "./sql.js";

/** Rooms, their published-directory visibility, and local room aliases. */
export interface RoomRow {
  roomId: string;
  roomVersion: string;
  creator: string;
  visibility: "public" | "private";
  createdTs: number;
}

export interface AliasRow {
  alias: string;
  roomId: string;
  creator: string;
}

export class RoomsRepo {
  constructor(private readonly sql: Sql) {}

  async insert(q: SqlQueryable, room: RoomRow): Promise<void> {
    await q.query("INSERT INTO rooms (room_id, room_version, creator, visibility, created_ts) VALUES ($1, $2, $3, $4, $5)", [
      room.roomId,
      room.roomVersion,
      room.creator,
      room.visibility,
      room.createdTs,
    ]);
  }

  /** The room's current state group: the resolution over all its forward extremities. */
  async setCurrentStateGroup(q: SqlQueryable, roomId: string, group: number | null): Promise<void> {
    await q.query("UPDATE rooms SET current_state_group = $2 WHERE room_id = $1", [roomId, group]);
  }

  async get(roomId: string, q: SqlQueryable = this.sql): Promise<RoomRow | undefined> {
    const [row] = await q.query<{ room_id: string; room_version: string; creator: string; visibility: string; created_ts: number }>(
      "SELECT room_id, room_version, creator, visibility, created_ts FROM rooms WHERE room_id = $1",
      [roomId],
    );
    if (!row) return undefined;
    return {
      roomId: row.room_id,
      roomVersion: row.room_version,
      creator: row.creator,
      visibility: row.visibility === "public" ? "public" : "private",
      createdTs: Number(row.created_ts),
    };
  }

  async setVisibility(roomId: string, visibility: "public" | "private"): Promise<void> {
    await this.sql.query("UPDATE rooms SET visibility = $2 WHERE room_id = $1", [roomId, visibility]);
  }

  /** Published rooms, in a stable order (room id) so `since` offsets page consistently. */
  async publicRoomIds(): Promise<string[]> {
    const rows = await this.sql.query<{ room_id: string }>("SELECT room_id FROM rooms WHERE visibility = 'public' ORDER BY room_id");
    return rows.map((r) => r.room_id);
  }

  // --- aliases ---

  /** Returns false when the alias is already taken. */
  async createAlias(alias: string, roomId: string, creator: string, now: number, q: SqlQueryable = this.sql): Promise<boolean> {
    const rows = await q.query(
      "INSERT INTO room_aliases (alias, room_id, creator, created_ts) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING alias",
      [alias, roomId, creator, now],
    );
    return rows.length === 1;
  }

  async getAlias(alias: string): Promise<AliasRow | undefined> {
    const [row] = await this.sql.query<{ alias: string; room_id: string; creator: string }>(
      "SELECT alias, room_id, creator FROM room_aliases WHERE alias = $1",
      [alias],
    );
    return row ? { alias: row.alias, roomId: row.room_id, creator: row.creator } : undefined;
  }

  async deleteAlias(alias: string): Promise<boolean> {
    const rows = await this.sql.query("DELETE FROM room_aliases WHERE alias = $1 RETURNING alias", [alias]);
    return rows.length === 1;
  }

  async aliasesOfRoom(roomId: string): Promise<string[]> {
    const rows = await this.sql.query<{ alias: string }>("SELECT alias FROM room_aliases WHERE room_id = $1 ORDER BY alias", [roomId]);
    return rows.map((r) => r.alias);
  }

  /** Room upgrades: every local alias of `from` now points to `to`. */
  async moveAliases(from: string, to: string, q: SqlQueryable = this.sql): Promise<string[]> {
    const rows = await q.query<{ alias: string }>("UPDATE room_aliases SET room_id = $2 WHERE room_id = $1 RETURNING alias", [from, to]);
    return rows.map((r) => r.alias).sort();
  }
}
