import { MatrixError } from "../http/errors.js";
import type { PusherRow, PushRulesRepo } from "../storage/push-rules-repo.js";

export interface PusherInput {
  kind: string | null;
  app_id: string;
  pushkey: string;
  app_display_name?: string;
  device_display_name?: string;
  profile_tag?: string;
  lang?: string;
  data?: Record<string, unknown>;
  append?: boolean;
}

export const MAX_PUSHERS_PER_USER = 100;

/**
 * Pushers ("Client behaviour", POST /pushers/set and GET /pushers). After
 * every change `onChange` brings the delivery workers in line (HTTP pushers
 * are delivered by src/push/http-pusher.ts).
 */
export class PushersService {
  constructor(
    private readonly repo: PushRulesRepo,
    private readonly now: () => number,
    private readonly onChange: () => Promise<void> = async () => undefined,
  ) {}

  async list(userId: string): Promise<Record<string, unknown>[]> {
    return (await this.repo.listPushers(userId)).map((p) => {
      const out: Record<string, unknown> = {
        pushkey: p.pushkey,
        kind: p.kind,
        app_id: p.app_id,
        app_display_name: p.app_display_name,
        device_display_name: p.device_display_name,
        lang: p.lang,
        data: p.data,
      };
      if (p.profile_tag !== null) out.profile_tag = p.profile_tag;
      return out;
    });
  }

  /**
   * Pushers go with the device (and access token) that registered them, as a
   * logout removes them on deployed servers; this is how a password change that
   * logs out other sessions deletes their pushers.
   */
  async deleteForDevices(userId: string, deviceIds: readonly string[]): Promise<void> {
    await this.repo.deletePushersOfDevices(userId, deviceIds);
    await this.onChange();
  }

  /** A deactivated account gets no more notifications. */
  async deleteAll(userId: string): Promise<void> {
    await this.repo.deleteAllPushers(userId);
    await this.onChange();
  }

  async set(userId: string, p: PusherInput, deviceId: string | null = null): Promise<void> {
    // "Max length, 64 chars" (app_id) and "Max length, 512 bytes" (pushkey).
    if (p.app_id.length === 0 || p.app_id.length > 64) throw new MatrixError(400, "M_INVALID_PARAM", "app_id must be 1 to 64 characters");
    if (p.pushkey.length === 0 || Buffer.byteLength(p.pushkey, "utf8") > 512) throw new MatrixError(400, "M_INVALID_PARAM", "pushkey must be 1 to 512 bytes");
    if (p.kind === null) {
      await this.repo.deletePusher(userId, p.app_id, p.pushkey);
      await this.onChange();
      return;
    }
    const missing = (["app_display_name", "device_display_name", "lang", "data"] as const).filter((k) => p[k] === undefined);
    if (missing.length) throw new MatrixError(400, "M_MISSING_PARAM", `Missing parameters: ${missing.join(", ")}`);
    if (p.kind !== "http" && p.kind !== "email") throw new MatrixError(400, "M_INVALID_PARAM", `Unsupported pusher kind '${p.kind}'`);
    const data = p.data!;
    if (p.kind === "http") {
      const url = data.url;
      if (typeof url !== "string") throw new MatrixError(400, "M_INVALID_PARAM", "data.url is required for http pushers");
      let parsed: URL;
      try {
        parsed = new URL(url);
      } catch {
        throw new MatrixError(400, "M_INVALID_PARAM", "data.url is not a valid URL");
      }
      // The spec wants HTTPS on /_matrix/push/v1/notify; plain http is accepted
      // (local gateways, Synapse does too) but the path must be the notify endpoint.
      if ((parsed.protocol !== "https:" && parsed.protocol !== "http:") || parsed.pathname !== "/_matrix/push/v1/notify") {
        throw new MatrixError(400, "M_INVALID_PARAM", "data.url must be an https URL with the path /_matrix/push/v1/notify");
      }
    }
    // "PusherData": `format` is a string; formats this server does not know are stored as given
    // (the spec names only event_id_only, and deployed servers accept others).
    if (data.format !== undefined && data.format !== null && typeof data.format !== "string")
      throw new MatrixError(400, "M_INVALID_PARAM", "data.format must be a string");
    const existing = await this.repo.listPushers(userId);
    if (existing.length >= MAX_PUSHERS_PER_USER && !existing.some((e) => e.app_id === p.app_id && e.pushkey === p.pushkey)) {
      throw new MatrixError(400, "M_INVALID_PARAM", `At most ${MAX_PUSHERS_PER_USER} pushers per user`);
    }
    const row: PusherRow = {
      user_id: userId,
      app_id: p.app_id,
      pushkey: p.pushkey,
      kind: p.kind,
      app_display_name: p.app_display_name!,
      device_display_name: p.device_display_name!,
      profile_tag: p.profile_tag ?? null,
      lang: p.lang!,
      data,
      created_ts: this.now(),
      device_id: deviceId,
    };
    await this.repo.setPusher(row, p.append === true);
    await this.onChange();
  }
}
