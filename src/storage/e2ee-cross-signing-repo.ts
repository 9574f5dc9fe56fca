import type { SqlQueryable } from "./sql.js";

export type CrossSigningKeyType = "master" | "self_signing" | "user_signing";

export interface StoredCrossSigningKey {
  user_id: string;
  key_type: CrossSigningKeyType;
  public_key: string;
  key_json: string;
}

export interface StoredSignature {
  signer_user_id: string;
  signer_key_id: string;
  target_user_id: string;
  target_key_id: string;
  signature: string;
}

/** Cross-signing keys and the signatures uploaded on keys ("Cross-signing"). */
export class E2eeCrossSigningRepo {
  constructor(private readonly db: SqlQueryable) {}

  async getKeys(userIds: readonly string[]): Promise<StoredCrossSigningKey[]> {
    if (userIds.length === 0) return [];
    return this.db.query<StoredCrossSigningKey & Record<string, unknown>>(
      "SELECT user_id, key_type, public_key, key_json FROM e2e_cross_signing_keys WHERE user_id = ANY($1::text[])",
      [userIds],
    );
  }

  async putKey(k: { userId: string; keyType: CrossSigningKeyType; publicKey: string; keyJson: string; ts: number }, db: SqlQueryable = this.db): Promise<void> {
    await db.query(
      `INSERT INTO e2e_cross_signing_keys (user_id, key_type, public_key, key_json, updated_ts) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (user_id, key_type) DO UPDATE SET public_key = $3, key_json = $4, updated_ts = $5`,
      [k.userId, k.keyType, k.publicKey, k.keyJson, k.ts],
    );
  }

  /** Signatures on the given users' keys, made by one of `signers`. */
  async getSignatures(targetUserIds: readonly string[], signers: readonly string[]): Promise<StoredSignature[]> {
    if (targetUserIds.length === 0 || signers.length === 0) return [];
    return this.db.query<StoredSignature & Record<string, unknown>>(
      `SELECT signer_user_id, signer_key_id, target_user_id, target_key_id, signature FROM e2e_cross_signing_signatures
       WHERE target_user_id = ANY($1::text[]) AND signer_user_id = ANY($2::text[])`,
      [targetUserIds, signers],
    );
  }

  async putSignatures(sigs: readonly StoredSignature[], db: SqlQueryable = this.db): Promise<void> {
    if (sigs.length === 0) return;
    await db.query(
      `INSERT INTO e2e_cross_signing_signatures (signer_user_id, signer_key_id, target_user_id, target_key_id, signature)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])
       ON CONFLICT (target_user_id, target_key_id, signer_user_id, signer_key_id) DO UPDATE SET signature = excluded.signature`,
      [
        sigs.map((s) => s.signer_user_id),
        sigs.map((s) => s.signer_key_id),
        sigs.map((s) => s.target_user_id),
        sigs.map((s) => s.target_key_id),
        sigs.map((s) => s.signature),
      ],
    );
  }

  /** Forgets signatures on keys that are gone (deleted devices, a replaced master key). */
  async deleteSignaturesOn(targetUserId: string, targetKeyIds: readonly string[], db: SqlQueryable = this.db): Promise<void> {
    if (targetKeyIds.length === 0) return;
    await db.query("DELETE FROM e2e_cross_signing_signatures WHERE target_user_id = $1 AND target_key_id = ANY($2::text[])", [
      targetUserId,
      targetKeyIds,
    ]);
  }
}
