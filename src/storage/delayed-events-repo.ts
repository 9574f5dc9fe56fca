import type { JsonObject } from "../core/index.js";
import type { Sql } from "./sql.js";

export interface DelayedEventRow {
  delayId: string;
  userId: string;
  deviceId: string | null;
  roomId: string;
  type: string;
  stateKey: string | null;
  content: JsonObject;
  delayMs: number;
  sendAt: number;
  createdTs: number;
}

type Raw = {
  delay_id: string;
  user_id: string;
  device_id: string | null;
  room_id: string;
  event_type: string;
  state_key: string | null;
  content: JsonObject | string;
  delay_ms: number;
  send_at: number;
  created_ts: number;
};

function fromRaw(r: Raw): DelayedEventRow {
  return {
    delayId: r.delay_id,
    userId: r.user_id,
    deviceId: r.device_id,
    roomId: r.room_id,
    type: r.event_type,
    stateKey: r.state_key,
    content: typeof r.content === "string" ? (JSON.parse(r.content) as JsonObject) : r.content,
    delayMs: Number(r.delay_ms),
    sendAt: Number(r.send_at),
    createdTs: Number(r.created_ts),
  };
}

const COLUMNS = "delay_id, user_id, device_id, room_id, event_type, state_key, content, delay_ms, send_at, created_ts";

/** Delayed events (MSC4140) waiting to be sent. */
export class DelayedEventsRepo {
  constructor(private readonly sql: Sql) {}

  async insert(e: DelayedEventRow): Promise<void> {
    await this.sql.query(`INSERT INTO delayed_events (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9, $10)`, [
      e.delayId,
      e.userId,
      e.deviceId,
      e.roomId,
      e.type,
      e.stateKey,
      JSON.stringify(e.content),
      e.delayMs,
      e.sendAt,
      e.createdTs,
    ]);
  }

  async get(delayId: string): Promise<DelayedEventRow | undefined> {
    const rows = await this.sql.query<Raw>(`SELECT ${COLUMNS} FROM delayed_events WHERE delay_id = $1`, [delayId]);
    return rows[0] ? fromRaw(rows[0]) : undefined;
  }

  async listForUser(userId: string): Promise<DelayedEventRow[]> {
    const rows = await this.sql.query<Raw>(`SELECT ${COLUMNS} FROM delayed_events WHERE user_id = $1 ORDER BY created_ts, delay_id`, [userId]);
    return rows.map(fromRaw);
  }

  async countForUser(userId: string): Promise<number> {
    const rows = await this.sql.query<{ n: number }>("SELECT count(*)::int8 AS n FROM delayed_events WHERE user_id = $1", [userId]);
    return Number(rows[0]?.n ?? 0);
  }

  async all(): Promise<DelayedEventRow[]> {
    const rows = await this.sql.query<Raw>(`SELECT ${COLUMNS} FROM delayed_events ORDER BY send_at`);
    return rows.map(fromRaw);
  }

  /** Moves the deadline of a user's delayed event; false when there is none. */
  async restart(delayId: string, userId: string, sendAt: number): Promise<boolean> {
    const rows = await this.sql.query("UPDATE delayed_events SET send_at = $3 WHERE delay_id = $1 AND user_id = $2 RETURNING delay_id", [
      delayId,
      userId,
      sendAt,
    ]);
    return rows.length > 0;
  }

  async delete(delayId: string): Promise<boolean> {
    const rows = await this.sql.query("DELETE FROM delayed_events WHERE delay_id = $1 RETURNING delay_id", [delayId]);
    return rows.length > 0;
  }
}
