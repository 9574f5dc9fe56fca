import type { Requester } from "../http/auth.js";
import { MatrixError } from "../http/errors.js";
import { AsRequestError, seg, type AsClient } from "./as-client.js";
import type { AppService, AppServiceRegistry } from "./registry.js";

export interface AppServiceQueriesDeps {
  registry: AppServiceRegistry;
  client: AsClient;
  now?: () => number;
  /** A reachable appservice (successful ping) gets its pending transactions at once. */
  onReachable?: (appServiceId: string) => void;
  onError?: (err: unknown, appServiceId: string) => void;
}

type Json = Record<string, unknown>;

/**
 * Requests to appservices on behalf of clients: user and alias queries
 * ("Querying"), pings ("Pinging") and third-party lookups ("Third-party
 * networks").
 */
export class AppServiceQueries {
  private readonly now: () => number;

  constructor(private readonly d: AppServiceQueriesDeps) {
    this.now = d.now ?? Date.now;
  }

  /**
   * "Querying": asks the appservices interested in an unknown alias to create
   * it. True when one answered 200 (the alias should exist now).
   */
  async queryAlias(alias: string): Promise<boolean> {
    return this.queryFirst(this.d.registry.aliasQueryTargets(alias), `/_matrix/app/v1/rooms/${seg(alias)}`, `/rooms/${seg(alias)}`);
  }

  /** As queryAlias, for an unknown user id in a users namespace. */
  async queryUser(userId: string): Promise<boolean> {
    return this.queryFirst(this.d.registry.userQueryTargets(userId), `/_matrix/app/v1/users/${seg(userId)}`, `/users/${seg(userId)}`);
  }

  private async queryFirst(targets: readonly AppService[], path: string, legacy: string): Promise<boolean> {
    for (const as of targets) {
      try {
        const res = await this.d.client.callWithLegacy(as.reg, "GET", path, legacy);
        if (res.status >= 200 && res.status < 300) return true;
      } catch (err) {
        this.d.onError?.(err, as.id);
      }
    }
    return false;
  }

  /** POST /_matrix/client/v1/appservice/{appserviceId}/ping. */
  async ping(requester: Requester, appServiceId: string, transactionId: string | undefined): Promise<{ duration_ms: number }> {
    const as = this.d.registry.get(appServiceId);
    if (!as || requester.appServiceId !== appServiceId) {
      throw new MatrixError(403, "M_FORBIDDEN", "The access token does not belong to this application service");
    }
    if (as.reg.url === null) throw new MatrixError(400, "M_URL_NOT_SET", "The application service has no URL configured");
    const started = this.now();
    let res;
    try {
      res = await this.d.client.call(as.reg, "POST", "/_matrix/app/v1/ping", transactionId === undefined ? {} : { transaction_id: transactionId });
    } catch (err) {
      if (err instanceof AsRequestError && err.kind === "timeout") {
        throw new MatrixError(504, "M_CONNECTION_TIMEOUT", "The connection to the application service timed out");
      }
      if (err instanceof AsRequestError && err.kind === "too_large") {
        throw new MatrixError(502, "M_BAD_STATUS", "The application service's answer was too large");
      }
      throw new MatrixError(502, "M_CONNECTION_FAILED", "Cannot connect to the application service");
    }
    if (res.status < 200 || res.status >= 300) {
      throw new MatrixError(502, "M_BAD_STATUS", `Ping returned status ${res.status}`, { status: res.status, body: res.body.slice(0, 4096) });
    }
    this.d.onReachable?.(as.id);
    return { duration_ms: Math.max(0, this.now() - started) };
  }

  // --- Third-party networks ---

  /** GET /thirdparty/protocols: every protocol of every appservice, instances merged. */
  async protocols(): Promise<Record<string, Json>> {
    const names = new Set(this.d.registry.all.flatMap((a) => (a.reg.url === null ? [] : a.reg.protocols)));
    const out: Record<string, Json> = {};
    await Promise.all(
      [...names].map(async (p) => {
        const meta = await this.protocolMeta(p);
        if (meta) out[p] = meta;
      }),
    );
    return out;
  }

  /** GET /thirdparty/protocol/{protocol}. */
  async protocol(protocol: string): Promise<Json> {
    const meta = await this.protocolMeta(protocol);
    if (!meta) throw new MatrixError(404, "M_NOT_FOUND", "Unknown protocol");
    return meta;
  }

  private async protocolMeta(protocol: string): Promise<Json | undefined> {
    let merged: Json | undefined;
    for (const as of this.d.registry.forProtocol(protocol)) {
      const res = await this.tryGet(as, `/_matrix/app/v1/thirdparty/protocol/${seg(protocol)}`, `/_matrix/app/unstable/thirdparty/protocol/${seg(protocol)}`);
      if (!res || typeof res !== "object" || Array.isArray(res)) continue;
      const meta = res as Json;
      // Each instance names the appservice that provides it (spec "Protocol Instance": instance_id is unique).
      const instances = Array.isArray(meta.instances) ? meta.instances.filter((i) => typeof i === "object" && i !== null) : [];
      if (!merged) merged = { ...meta, instances: [...instances] };
      else (merged.instances as unknown[]).push(...instances);
    }
    return merged;
  }

  /** GET /thirdparty/location/{protocol} and /thirdparty/user/{protocol}: fields passed on, results concatenated. */
  async lookup(kind: "location" | "user", protocol: string, query: Record<string, string>): Promise<unknown[]> {
    const targets = this.d.registry.forProtocol(protocol);
    if (targets.length === 0) throw new MatrixError(404, "M_NOT_FOUND", "Unknown protocol");
    const qs = new URLSearchParams(query).toString();
    const suffix = `/${kind}/${seg(protocol)}${qs ? `?${qs}` : ""}`;
    const results = await Promise.all(targets.map((as) => this.tryGet(as, `/_matrix/app/v1/thirdparty${suffix}`, `/_matrix/app/unstable/thirdparty${suffix}`)));
    return results.flatMap((r) => (Array.isArray(r) ? r : []));
  }

  /** GET /thirdparty/location?alias= and /thirdparty/user?userid=: asks every appservice with protocols. */
  async reverseLookup(kind: "location" | "user", param: "alias" | "userid", value: string): Promise<unknown[]> {
    const targets = this.d.registry.all.filter((a) => a.reg.url !== null && a.reg.protocols.length > 0);
    const qs = new URLSearchParams({ [param]: value }).toString();
    const results = await Promise.all(
      targets.map((as) => this.tryGet(as, `/_matrix/app/v1/thirdparty/${kind}?${qs}`, `/_matrix/app/unstable/thirdparty/${kind}?${qs}`)),
    );
    const out = results.flatMap((r) => (Array.isArray(r) ? r : []));
    if (out.length === 0) throw new MatrixError(404, "M_NOT_FOUND", kind === "location" ? "No locations found for this alias" : "No third-party users found");
    return out;
  }

  private async tryGet(as: AppService, path: string, legacy: string): Promise<unknown> {
    try {
      const res = await this.d.client.callWithLegacy(as.reg, "GET", path, legacy);
      return res.status >= 200 && res.status < 300 ? res.json : undefined;
    } catch (err) {
      this.d.onError?.(err, as.id);
      return undefined;
    }
  }
}
