import { parseUserId, type JsonObject } from "../core/index.js";
import type { FederationClient } from "./client.js";
import { remoteFailure } from "./remote-errors.js";
import { FederationError } from "./client.js";

/**
 * Profiles of users on other servers (Server-Server API "Querying
 * information", `GET /_matrix/federation/v1/query/profile`), kept a short
 * while so a client rendering a member list does not ask once per row.
 * Unknown users are remembered too, for as long.
 */
export interface RemoteProfilesDeps {
  client: Pick<FederationClient, "get">;
  now: () => number;
  ttlMs?: number;
  maxEntries?: number;
  timeoutMs?: number;
}

/** The spec bounds a whole profile at 64 KiB. */
const MAX_PROFILE_BYTES = 64 * 1024;

export class RemoteProfiles {
  private readonly cache = new Map<string, { at: number; profile: Record<string, unknown> | undefined }>();
  private readonly inFlight = new Map<string, Promise<Record<string, unknown> | undefined>>();

  constructor(private readonly d: RemoteProfilesDeps) {}

  /** The whole profile, or undefined when the user's server says it has none. */
  async profile(userId: string): Promise<Record<string, unknown> | undefined> {
    const parsed = parseUserId(userId);
    if (!parsed) return undefined;
    const now = this.d.now();
    const hit = this.cache.get(userId);
    if (hit && now - hit.at < (this.d.ttlMs ?? 60_000)) return hit.profile;
    let job = this.inFlight.get(userId);
    if (!job) {
      job = this.ask(parsed.serverName, userId).finally(() => this.inFlight.delete(userId));
      this.inFlight.set(userId, job);
    }
    return job;
  }

  private async ask(server: string, userId: string): Promise<Record<string, unknown> | undefined> {
    let body: JsonObject;
    try {
      body = await this.d.client.get(server, "/_matrix/federation/v1/query/profile", {
        query: { user_id: userId },
        maxBytes: MAX_PROFILE_BYTES,
        timeoutMs: this.d.timeoutMs ?? 10_000,
      });
    } catch (err) {
      if (err instanceof FederationError && err.status === 404) {
        this.remember(userId, undefined);
        return undefined;
      }
      throw remoteFailure(err, "profile");
    }
    // Only what the spec defines as strings is passed on as such; other fields are kept as given.
    const profile: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(body)) {
      if ((k === "displayname" || k === "avatar_url") && typeof v !== "string") continue;
      profile[k] = v;
    }
    this.remember(userId, profile);
    return profile;
  }

  private remember(userId: string, profile: Record<string, unknown> | undefined): void {
    this.cache.delete(userId);
    if (this.cache.size >= (this.d.maxEntries ?? 10_000)) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
    this.cache.set(userId, { at: this.d.now(), profile });
  }
}
