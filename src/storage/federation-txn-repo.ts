import type { SqlQueryable } from "./sql.js";

/** Answers given to received federation transactions (migration 0161). */
export class FederationTxnRepo {
  constructor(private readonly sql: SqlQueryable) {}

  async get(origin: string, txnId: string): Promise<unknown> {
    const rows = await this.sql.query<{ response: unknown }>("SELECT response FROM federation_inbound_transactions WHERE origin = $1 AND txn_id = $2", [
      origin,
      txnId,
    ]);
    return rows[0]?.response;
  }

  async put(origin: string, txnId: string, response: unknown, now: number): Promise<void> {
    await this.sql.query(
      `INSERT INTO federation_inbound_transactions (origin, txn_id, response, received_ts) VALUES ($1, $2, $3, $4)
       ON CONFLICT (origin, txn_id) DO NOTHING`,
      [origin, txnId, JSON.stringify(response), now],
    );
  }

  /** Drops answers older than `before` (a sender retries a transaction within minutes, not weeks). */
  async prune(before: number): Promise<void> {
    await this.sql.query("DELETE FROM federation_inbound_transactions WHERE received_ts < $1", [before]);
  }
}
