import type { AccountService } from "./accounts.js";
import type { UiaFlow, UiaService } from "./uia.js";
import type { UiaSessionRow } from "../storage/uia-repo.js";

/**
 * Re-authentication for sensitive operations (deleting devices, changing the
 * password, deactivating): the password when the account has one. Accounts
 * without a password (appservice users) can only offer m.login.dummy.
 */
export async function requireReauth(
  uia: UiaService,
  accounts: AccountService,
  req: { operation: string; auth: unknown; userId: string },
  /** More flows to offer, with their params (m.oauth for sessions of the OAuth 2.0 API). */
  extra?: { flows: UiaFlow[]; params: Record<string, unknown> },
): Promise<UiaSessionRow> {
  const user = await accounts.getUser(req.userId);
  const stages = user?.password_hash ? ["m.login.password"] : ["m.login.dummy"];
  const flows = [{ stages }, ...(extra?.flows ?? [])];
  return uia.authenticate({ operation: req.operation, auth: req.auth, userId: req.userId, flows, params: extra?.params });
}
