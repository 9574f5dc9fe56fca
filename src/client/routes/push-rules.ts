import { Router } from "@koa/router";
import type { Context } from "koa";
import { z } from "zod";
import { isPushRuleKind, type PushAction, type PushCondition, type PushRuleKind } from "../../core/push-rules.js";
import type { Authenticator } from "../../http/auth.js";
import { readJsonBody } from "../../http/body.js";
import { MatrixError } from "../../http/errors.js";
import { validateBody } from "../../http/validate.js";
import type { PushersService } from "../../push/pushers.js";
import type { PushRulesService } from "../../push/push-rules-service.js";
import { clientPaths } from "./client-paths.js";

export interface PushRoutesDeps {
  auth: Authenticator;
  pushRules: PushRulesService;
  pushers: PushersService;
  bodyLimit: number;
}

const KNOWN_ACTIONS = new Set(["notify", "dont_notify", "coalesce"]);

// "Actions": a string for parameterless actions, else an object (set_tweak).
const actionSchema = z.union([
  z.string().refine((s) => KNOWN_ACTIONS.has(s), { message: "unknown action" }),
  z.looseObject({ set_tweak: z.string().min(1) }),
]);
const actionsSchema = z.array(actionSchema).max(100);
// Patterns are bounded: matching costs text length x pattern length.
const conditionSchema = z.looseObject({ kind: z.string().min(1), key: z.string().max(1000).optional(), pattern: z.string().max(1000).optional() });

const ruleBody = z.object({
  actions: actionsSchema,
  conditions: z.array(conditionSchema).max(100).optional(),
  pattern: z.string().max(1000).optional(),
});

/** The path's scope and kind; only the `global` scope exists. */
function ruleTarget(ctx: Context): { kind: PushRuleKind; ruleId: string } {
  if (ctx.params.scope !== "global") throw new MatrixError(400, "M_INVALID_PARAM", "Unknown push rule scope; only 'global' exists");
  const kind = ctx.params.kind!;
  if (!isPushRuleKind(kind)) throw new MatrixError(400, "M_INVALID_PARAM", `Unknown push rule kind '${kind}'`);
  const ruleId = ctx.params.ruleId!;
  if (ruleId === "") throw new MatrixError(400, "M_INVALID_PARAM", "Empty rule id");
  return { kind, ruleId };
}

function queryString(ctx: Context, name: string): string | undefined {
  const v = ctx.query[name];
  if (v === undefined) return undefined;
  if (typeof v !== "string") throw new MatrixError(400, "M_INVALID_PARAM", `'${name}' may be given once`);
  return v;
}

// Client-server API "Push Rules: API" and pushers ("Client behaviour").
export function pushRoutes(deps: PushRoutesDeps): Router {
  const router = new Router();
  const { pushRules: svc } = deps;
  const authed = (ctx: Context) => deps.auth.authenticate(ctx, { allowGuests: true });

  // "Push Rules: API": the grammar is GET /pushrules/ and GET /pushrules/{scope}/, with the slash.
  router.get(clientPaths("/pushrules/"), async (ctx) => {
    const r = await authed(ctx);
    ctx.body = { global: await svc.getRuleset(r.userId) };
  });

  router.get(clientPaths("/pushrules/:scope/"), async (ctx) => {
    const r = await authed(ctx);
    if (ctx.params.scope !== "global") throw new MatrixError(400, "M_INVALID_PARAM", "Unknown push rule scope; only 'global' exists");
    ctx.body = await svc.getRuleset(r.userId);
  });

  router.get(clientPaths("/pushrules/:scope/:kind/"), async (ctx) => {
    const r = await authed(ctx);
    if (ctx.params.scope !== "global") throw new MatrixError(400, "M_INVALID_PARAM", "Unknown push rule scope; only 'global' exists");
    const kind = ctx.params.kind!;
    if (!isPushRuleKind(kind)) throw new MatrixError(400, "M_INVALID_PARAM", `Unknown push rule kind '${kind}'`);
    ctx.body = (await svc.getRuleset(r.userId))[kind];
  });

  router.get(clientPaths("/pushrules/:scope/:kind/:ruleId"), async (ctx) => {
    const r = await authed(ctx);
    const { kind, ruleId } = ruleTarget(ctx);
    ctx.body = await svc.getRule(r.userId, kind, ruleId);
  });

  router.put(clientPaths("/pushrules/:scope/:kind/:ruleId"), async (ctx) => {
    const r = await authed(ctx);
    const { kind, ruleId } = ruleTarget(ctx);
    // "If the string starts with a dot ... the request MUST be rejected"; slashes and backslashes are not allowed.
    if (ruleId.startsWith(".")) throw new MatrixError(400, "M_INVALID_PARAM", "Rule ids starting with '.' are reserved for server-default rules");
    if (/[/\\]/.test(ruleId)) throw new MatrixError(400, "M_INVALID_PARAM", "Rule ids may not contain slashes or backslashes");
    if (Buffer.byteLength(ruleId, "utf8") > 255) throw new MatrixError(400, "M_INVALID_PARAM", "Rule id too long");
    const before = queryString(ctx, "before");
    const after = queryString(ctx, "after");
    const body = validateBody(ruleBody, await readJsonBody(ctx, deps.bodyLimit));
    if (kind === "content" && body.pattern === undefined) throw new MatrixError(400, "M_MISSING_PARAM", "Content rules need a 'pattern'");
    const rule: { rule_id: string; actions: PushAction[]; conditions?: PushCondition[]; pattern?: string } = { rule_id: ruleId, actions: body.actions as PushAction[] };
    if (kind === "override" || kind === "underride") rule.conditions = (body.conditions ?? []) as PushCondition[];
    if (kind === "content") rule.pattern = body.pattern;
    await svc.putRule(r.userId, kind, rule, { before, after });
    ctx.body = {};
  });

  router.delete(clientPaths("/pushrules/:scope/:kind/:ruleId"), async (ctx) => {
    const r = await authed(ctx);
    const { kind, ruleId } = ruleTarget(ctx);
    await svc.deleteRule(r.userId, kind, ruleId);
    ctx.body = {};
  });

  router.get(clientPaths("/pushrules/:scope/:kind/:ruleId/enabled"), async (ctx) => {
    const r = await authed(ctx);
    const { kind, ruleId } = ruleTarget(ctx);
    ctx.body = { enabled: (await svc.getRule(r.userId, kind, ruleId)).enabled };
  });

  router.put(clientPaths("/pushrules/:scope/:kind/:ruleId/enabled"), async (ctx) => {
    const r = await authed(ctx);
    const { kind, ruleId } = ruleTarget(ctx);
    const body = validateBody(z.object({ enabled: z.boolean() }), await readJsonBody(ctx, deps.bodyLimit));
    await svc.setEnabled(r.userId, kind, ruleId, body.enabled);
    ctx.body = {};
  });

  router.get(clientPaths("/pushrules/:scope/:kind/:ruleId/actions"), async (ctx) => {
    const r = await authed(ctx);
    const { kind, ruleId } = ruleTarget(ctx);
    ctx.body = { actions: (await svc.getRule(r.userId, kind, ruleId)).actions };
  });

  router.put(clientPaths("/pushrules/:scope/:kind/:ruleId/actions"), async (ctx) => {
    const r = await authed(ctx);
    const { kind, ruleId } = ruleTarget(ctx);
    const body = validateBody(z.object({ actions: actionsSchema }), await readJsonBody(ctx, deps.bodyLimit));
    await svc.setActions(r.userId, kind, ruleId, body.actions as PushAction[]);
    ctx.body = {};
  });

  // Anything else under /pushrules/ names no scope, kind, rule or attribute the grammar knows
  // (missing or empty parts, unknown attributes): 400, as deployed servers answer. Registered
  // after the real routes, which answer first.
  router.all(/^\/_matrix\/client\/(?:v3|r0)\/pushrules\/.*$/, async (ctx) => {
    await authed(ctx);
    throw new MatrixError(400, "M_UNRECOGNIZED", "Push rule paths are /pushrules/global/{kind}/{ruleId}[/enabled|/actions]");
  });

  // --- pushers ---

  router.get(clientPaths("/pushers"), async (ctx) => {
    const r = await authed(ctx);
    ctx.body = { pushers: await deps.pushers.list(r.userId) };
  });

  const pusherBody = z.object({
    kind: z.string().min(1).nullable(),
    app_id: z.string(),
    pushkey: z.string(),
    app_display_name: z.string().max(1000).optional(),
    device_display_name: z.string().max(1000).optional(),
    profile_tag: z.string().max(1000).optional(),
    lang: z.string().max(100).optional(),
    data: z.record(z.string(), z.unknown()).optional(),
    append: z.boolean().optional(),
  });

  router.post(clientPaths("/pushers/set"), async (ctx) => {
    const r = await authed(ctx);
    const raw = await readJsonBody(ctx, deps.bodyLimit);
    // The spec's answer for absent required fields is 400 M_MISSING_PARAM.
    if (typeof raw === "object" && raw !== null && !Array.isArray(raw)) {
      const missing = ["kind", "app_id", "pushkey"].filter((k) => !(k in raw));
      if (missing.length) throw new MatrixError(400, "M_MISSING_PARAM", `Missing parameters: ${missing.join(", ")}`);
    }
    const body = validateBody(pusherBody, raw);
    await deps.pushers.set(r.userId, body, r.deviceId);
    ctx.body = {};
  });

  return router;
}
