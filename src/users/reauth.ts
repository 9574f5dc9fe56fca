import type { AccountService } from "./accounts.js";
import type { UiaService } from "./uia.js";
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
): Promise<UiaSessionRow> {
  const user = await accounts.getUser(req.userId);
  const stages = user?.password_hash ? ["m.login.password"] : ["m.login.dummy"];
  return uia.authenticate({ operation: req.operation, auth: req.auth, userId: req.userId, flows: [{ stages }] });
}
