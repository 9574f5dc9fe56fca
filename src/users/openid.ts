import type { TokensRepo } from "../storage/tokens-repo.js";
import { hashToken, newSecret } from "./access-tokens.js";
import type { Clock, Random } from "./deps.js";

/**
 * OpenID tokens (client-server "OpenID", server-server "OpenID"): a client
 * hands one to a third party (an integration manager, a widget), which checks
 * it against /_matrix/federation/v1/openid/userinfo to learn the user id.
 */
export class OpenIdService {
  constructor(
    private readonly deps: { tokens: TokensRepo; clock: Clock; random: Random; serverName: string; lifetimeMs: number },
  ) {}

  async requestToken(userId: string): Promise<{ access_token: string; token_type: "Bearer"; matrix_server_name: string; expires_in: number }> {
    const token = newSecret(this.deps.random, "moi");
    const now = this.deps.clock.now();
    await this.deps.tokens.purgeExpired(now);
    await this.deps.tokens.insertOpenIdToken(hashToken(token), userId, now + this.deps.lifetimeMs);
    return { access_token: token, token_type: "Bearer", matrix_server_name: this.deps.serverName, expires_in: Math.floor(this.deps.lifetimeMs / 1000) };
  }

  /** The user a token belongs to, or undefined when unknown or expired. */
  async userFor(token: string): Promise<string | undefined> {
    const row = await this.deps.tokens.getOpenIdToken(hashToken(token));
    if (!row || row.expiry_ts <= this.deps.clock.now()) return undefined;
    return row.user_id;
  }
}
