import { Router, type RouterContext } from "@koa/router";
import { z } from "zod";
import type { AdminGuard } from "../../admin/guard.js";
import type { ServerNotices } from "../../admin/server-notices.js";
import type { UserAdmin } from "../../admin/user-admin.js";
import { isJsonObject, type JsonObject } from "../../core/index.js";
import { readJsonBody } from "../../http/body.js";
import { MatrixError, notFound } from "../../http/errors.js";
import { validateBody, validateQuery } from "../../http/validate.js";
import type { AdminRepo } from "../../storage/admin-repo.js";

export interface EventReportAdmin {
  list(from: number, limit: number, filter: { dir?: "b" | "f"; roomId?: string; reporter?: string }): Promise<{ reports: JsonObject[]; total: number }>;
  details(id: number): Promise<JsonObject | undefined>;
  delete(id: number): Promise<boolean>;
}

export interface SynapseAdminServerDeps {
  guard: AdminGuard;
  /** Reports are moderation: server admins and moderators. */
  moderationGuard: AdminGuard;
  serverName: string;
  version: string;
  notices: ServerNotices;
  users: UserAdmin;
  admin: AdminRepo;
  reports: EventReportAdmin;
  userExists: (userId: string) => Promise<boolean>;
  joinedRooms: (userId: string) => Promise<string[]>;
  pushers: (userId: string) => Promise<Array<Record<string, unknown>>>;
  bodyLimit: number;
}

const int = z
  .string()
  .regex(/^\d{1,9}$/, "must be a non-negative integer")
  .transform(Number);
const noticeBody = z.looseObject({
  user_id: z.string(),
  content: z.record(z.string(), z.unknown()),
  type: z.string().min(1).max(255).optional(),
  state_key: z.string().max(255).optional(),
});
const ratelimitBody = z.looseObject({
  messages_per_second: z.number().int().min(0).max(1_000_000).optional(),
  burst_count: z.number().int().min(0).max(1_000_000).optional(),
});
const redactBody = z.looseObject({
  rooms: z.array(z.string()).max(10_000).optional(),
  reason: z.string().max(10_000).optional(),
  limit: z.number().int().min(1).max(100_000).optional(),
});

/**
 * Server-level parts of Synapse's admin API: version, background updates,
 * server notices, event report details, per-user moderation (shadow ban,
 * rate-limit overrides, redact all events, joined rooms), the data export and
 * the audit log of admin actions. Server admins only.
 */
export function synapseAdminServerRoutes(deps: SynapseAdminServerDeps): Router {
  const router = new Router();
  const { guard } = deps;

  const localUser = async (ctx: RouterContext): Promise<string> => {
    const userId = ctx.params.userId!;
    if (!userId.endsWith(`:${deps.serverName}`)) throw new MatrixError(400, "M_INVALID_PARAM", "Only local users can be administered here");
    if (!(await deps.userExists(userId))) throw notFound("User not found");
    return userId;
  };

  router.get("/_synapse/admin/v1/server_version", (ctx) => {
    ctx.body = { server_version: deps.version };
  });

  // No background database updates exist here: schema changes are migrations at start.
  router.get("/_synapse/admin/v1/background_updates/status", async (ctx) => {
    await guard(ctx);
    ctx.body = { enabled: true, current_updates: {} };
  });
  router.get("/_synapse/admin/v1/background_updates/enabled", async (ctx) => {
    await guard(ctx);
    ctx.body = { enabled: true };
  });
  router.post("/_synapse/admin/v1/background_updates/enabled", async (ctx) => {
    await guard(ctx);
    validateBody(z.looseObject({ enabled: z.boolean() }), await readJsonBody(ctx, deps.bodyLimit));
    ctx.body = { enabled: true };
  });

  const sendNotice = async (ctx: RouterContext, txnId: string | undefined) => {
    await guard(ctx);
    const body = validateBody(noticeBody, await readJsonBody(ctx, deps.bodyLimit));
    const content = body.content as JsonObject;
    if (!isJsonObject(content)) throw new MatrixError(400, "M_BAD_JSON", "content must be an object");
    ctx.body = { event_id: await deps.notices.send(body.user_id, body.type ?? "m.room.message", content, body.state_key, txnId) };
  };
  router.post("/_synapse/admin/v1/send_server_notice", (ctx) => sendNotice(ctx, undefined));
  router.put("/_synapse/admin/v1/send_server_notice/:txnId", (ctx) => sendNotice(ctx, `notice-${ctx.params.txnId}`));

  router.get("/_synapse/admin/v1/event_reports", async (ctx) => {
    await deps.moderationGuard(ctx);
    const q = validateQuery(
      z.looseObject({
        from: int.optional(),
        limit: int.optional(),
        dir: z.enum(["b", "f"]).optional(),
        room_id: z.string().optional(),
        user_id: z.string().optional(),
      }),
      ctx.query,
    );
    const from = q.from ?? 0;
    const { reports, total } = await deps.reports.list(from, Math.min(q.limit ?? 100, 1000), { dir: q.dir, roomId: q.room_id, reporter: q.user_id });
    ctx.body = { event_reports: reports, total, ...(from + reports.length < total ? { next_token: from + reports.length } : {}) };
  });

  router.get("/_synapse/admin/v1/event_reports/:reportId", async (ctx) => {
    await deps.moderationGuard(ctx);
    const id = validateQuery(z.object({ id: int }), { id: ctx.params.reportId }).id;
    const r = await deps.reports.details(id);
    if (!r) throw notFound("Event report not found");
    ctx.body = r;
  });
  router.delete("/_synapse/admin/v1/event_reports/:reportId", async (ctx) => {
    await deps.moderationGuard(ctx);
    const id = validateQuery(z.object({ id: int }), { id: ctx.params.reportId }).id;
    if (!(await deps.reports.delete(id))) throw notFound("Event report not found");
    ctx.body = {};
  });

  router.post("/_synapse/admin/v1/users/:userId/shadow_ban", async (ctx) => {
    await guard(ctx);
    await deps.users.setShadowBanned(await localUser(ctx), true);
    ctx.body = {};
  });
  router.delete("/_synapse/admin/v1/users/:userId/shadow_ban", async (ctx) => {
    await guard(ctx);
    await deps.users.setShadowBanned(await localUser(ctx), false);
    ctx.body = {};
  });

  router.get("/_synapse/admin/v1/users/:userId/override_ratelimit", async (ctx) => {
    await guard(ctx);
    ctx.body = await deps.users.ratelimit(await localUser(ctx));
  });
  router.post("/_synapse/admin/v1/users/:userId/override_ratelimit", async (ctx) => {
    await guard(ctx);
    const userId = await localUser(ctx);
    const body = validateBody(ratelimitBody, await readJsonBody(ctx, deps.bodyLimit, { emptyAsObject: true }));
    ctx.body = await deps.users.setRatelimit(userId, body.messages_per_second ?? 0, body.burst_count ?? 0);
  });
  router.delete("/_synapse/admin/v1/users/:userId/override_ratelimit", async (ctx) => {
    await guard(ctx);
    await deps.users.deleteRatelimit(await localUser(ctx));
    ctx.body = {};
  });

  router.get("/_synapse/admin/v1/users/:userId/joined_rooms", async (ctx) => {
    await guard(ctx);
    const rooms = await deps.joinedRooms(await localUser(ctx));
    ctx.body = { joined_rooms: rooms, total: rooms.length };
  });

  router.get("/_synapse/admin/v1/users/:userId/pushers", async (ctx) => {
    await guard(ctx);
    const pushers = await deps.pushers(await localUser(ctx));
    ctx.body = { pushers, total: pushers.length };
  });

  router.post("/_synapse/admin/v1/user/:userId/redact", async (ctx) => {
    const admin = await guard(ctx);
    const userId = await localUser(ctx);
    const body = validateBody(redactBody, await readJsonBody(ctx, deps.bodyLimit, { emptyAsObject: true }));
    ctx.body = { redact_id: await deps.users.redactAll(userId, admin.userId, { rooms: body.rooms ?? [], reason: body.reason, limit: body.limit }) };
  });
  router.get("/_synapse/admin/v1/user/redact_status/:redactId", async (ctx) => {
    await guard(ctx);
    ctx.body = await deps.users.redactStatus(ctx.params.redactId!);
  });

  router.get("/_synapse/admin/v1/users/:userId/export", async (ctx) => {
    await guard(ctx);
    const userId = await localUser(ctx);
    ctx.set("Content-Disposition", `attachment; filename="${encodeURIComponent(userId)}-export.json"`);
    ctx.body = await deps.users.exportData(userId);
  });

  // The audit log of admin actions (not part of Synapse's API).
  router.get("/_synapse/admin/v1/audit_log", async (ctx) => {
    await guard(ctx);
    const q = validateQuery(z.looseObject({ from: int.optional(), limit: int.optional(), user_id: z.string().optional() }), ctx.query);
    const from = q.from ?? 0;
    const { entries, total } = await deps.admin.listAudit({ from, limit: Math.min(q.limit ?? 100, 1000), adminUserId: q.user_id });
    ctx.body = {
      entries: entries.map((e) => ({ id: e.id, ts: e.ts, user_id: e.adminUserId, action: e.action, target: e.target, status: e.status })),
      total,
      ...(from + entries.length < total ? { next_token: from + entries.length } : {}),
    };
  });

  return router;
}
