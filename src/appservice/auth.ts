import type { Context } from "koa";
import type { Requester } from "../http/auth.js";
import { MatrixError } from "../http/errors.js";
import type { AppServiceTokenResolver } from "../users/access-tokens.js";
import type { ExclusiveNamespaces } from "../users/accounts.js";
import type { AppServiceRegistry } from "./registry.js";

export interface AppServiceAuthDeps {
  registry: AppServiceRegistry;
  /** "active", "missing" or "deactivated" for a local user id. */
  userState(userId: string): Promise<"active" | "missing" | "deactivated">;
  deviceExists(userId: string, deviceId: string): Promise<boolean>;
  now?: () => number;
}

// Known-active users are remembered briefly, so masquerading costs no query per request.
const ACTIVE_CACHE_MS = 10_000;
const ACTIVE_CACHE_MAX = 10_000;

function queryString(ctx: Context, name: string): string | undefined {
  const v = ctx.query[name];
  if (v === undefined) return undefined;
  if (typeof v !== "string" || v === "") throw new MatrixError(400, "M_INVALID_PARAM", `${name} must be given once, non-empty`);
  return v;
}

/**
 * Client-server API extensions "Identity assertion": an `as_token` acts as
 * the appservice's sender, or as `user_id` when that user is in its
 * namespace, and with `device_id` (or MSC3202's
 * `org.matrix.msc3202.device_id`) as one of that user's devices.
 */
export class AppServiceAuth implements AppServiceTokenResolver, ExclusiveNamespaces {
  private readonly active = new Map<string, number>();
  private readonly now: () => number;

  constructor(private readonly d: AppServiceAuthDeps) {
    this.now = d.now ?? Date.now;
  }

  async resolve(token: string, ctx: Context): Promise<Requester | undefined> {
    const as = this.d.registry.byAsToken(token);
    if (!as) return undefined;
    const asserted = queryString(ctx, "user_id");
    const userId = asserted ?? as.reg.senderUserId;
    if (!as.mayActAs(userId)) {
      throw new MatrixError(403, "M_EXCLUSIVE", "The application service may not masquerade as this user: it is not in its namespace");
    }
    // Registration and login are how an appservice's user comes to exist.
    const creating = ctx.method === "POST" && /\/(register|login)$/.test(ctx.path);
    if (!creating && userId !== as.reg.senderUserId) await this.requireActive(userId);
    const deviceId = queryString(ctx, "device_id") ?? queryString(ctx, "org.matrix.msc3202.device_id") ?? null;
    if (deviceId !== null && !(await this.d.deviceExists(userId, deviceId))) {
      throw new MatrixError(400, "M_UNKNOWN_DEVICE", "The device does not belong to the user");
    }
    return { userId, deviceId, isGuest: false, appServiceId: as.id };
  }

  /** Forgets a user's cached state (deactivation). */
  invalidateUser(userId: string): void {
    this.active.delete(userId);
  }

  private async requireActive(userId: string): Promise<void> {
    const at = this.active.get(userId);
    if (at !== undefined && this.now() - at < ACTIVE_CACHE_MS) return;
    const state = await this.d.userState(userId);
    if (state === "missing") throw new MatrixError(403, "M_FORBIDDEN", "The application service has not registered this user");
    if (state === "deactivated") throw new MatrixError(403, "M_FORBIDDEN", "This user has been deactivated");
    if (this.active.size >= ACTIVE_CACHE_MAX) this.active.clear();
    this.active.set(userId, this.now());
  }

  // --- ExclusiveNamespaces (account registration answers M_EXCLUSIVE) ---

  isExclusiveUser(userId: string): boolean {
    return this.d.registry.exclusiveOwnerOfUser(userId) !== undefined;
  }

  isUserInNamespace(appServiceId: string, userId: string): boolean {
    return this.d.registry.get(appServiceId)?.mayActAs(userId) === true;
  }
}
