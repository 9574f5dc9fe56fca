import type { OAuthRepo } from "../storage/oauth-repo.js";
import { randomString, type Clock, type Random } from "../users/deps.js";
import type { ClientMetadata } from "./client-metadata.js";

const CLIENT_ID_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/** "Client registration": stores validated metadata under a new, random client_id. */
export class OAuthClients {
  constructor(private readonly deps: { repo: OAuthRepo; clock: Clock; random: Random }) {}

  async register(metadata: ClientMetadata): Promise<Record<string, unknown>> {
    const clientId = randomString(this.deps.random, 26, CLIENT_ID_ALPHABET);
    const now = this.deps.clock.now();
    await this.deps.repo.insertClient(clientId, metadata as unknown as Record<string, unknown>, now);
    // RFC 7591 section 3.2.1: the client_id and every registered value.
    return { client_id: clientId, client_id_issued_at: Math.floor(now / 1000), ...metadata };
  }
}
